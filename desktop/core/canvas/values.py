"""What a canvas value may be for Celery to send it: times Celery can compute, numbers Python's
JSON can read, nesting within the panel's bound. Each check says why a value could not be sent
('' or None when it can); `canvas` turns that into a CanvasError at the value's path and
`canvas_checks` into a problem on its node."""

from __future__ import annotations

import datetime
import json
import math
import sys
from typing import Any

# Celery turns a countdown or a numeric expires into a time, now + timedelta(seconds=...)
# (celery/utils/time.py add_seconds_to_datetime), and a time into UTC and back into the app's
# zone: all of it must stay inside Python's datetime range (years 1 to 9999). A day's margin at
# either end leaves room for any time zone (offsets are under 24 hours).
_ZONE_MARGIN = datetime.timedelta(days=1)
# The same as one number, for the JSON Schema (resources/canvas.schema.json): about 7,900 years,
# inside that range from any date before the year 2100.
MAX_SECONDS = 250_000_000_000
DATETIME_RANGE = "Python's datetime range, in which Celery computes it"
# The panel's own bound on nesting, for containers and for argument values alike: Python's JSON
# reads about 1000 levels, Celery's messages nest a canvas further (a chain's later steps inside
# the first message, a chord's body inside its header's), and Celery prepares a chain nested
# 200 deep in over a second (it copies every level at every level).
MAX_NESTING = 100
NESTING_WHY = "the panel's bound: Celery's messages nest a canvas further"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def shown(value: Any) -> str:
    """A value as JSON for a message, short, whatever it is (a whole number past Python's
    4300 digits, a float infinity, something that is not JSON at all)."""
    if isinstance(value, HugeNumber):
        return f"a whole number of {value.digits} digits"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 40_000:
        return f"a whole number of about {int(value.bit_length() * math.log10(2))} digits"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo is None else moment.astimezone(datetime.UTC).replace(tzinfo=None)


def seconds_problem(value: Any, now: datetime.datetime | None = None) -> str:
    """Why a countdown or a numeric expires could not be sent ('' when it can): a finite
    number, 0 or more, whose now + seconds is still a datetime."""
    infinite = isinstance(value, float) and not math.isfinite(value)
    if not is_number(value) or infinite or value < 0:
        return "must be a finite number of seconds, 0 or more"
    now = _utc(now or datetime.datetime.now(datetime.UTC))
    latest = datetime.datetime.max - _ZONE_MARGIN
    if value > min(MAX_SECONDS, (latest - now).total_seconds()):
        return (
            f"must end within the years 1 to 9999 when added to now ({DATETIME_RANGE}; "
            f"at most {MAX_SECONDS:,} s)"
        )
    return ""


def time_problem(text: str) -> str:
    """Why an ISO date and time could not be sent ('' when it can): it must be a datetime
    that Celery can move to UTC and into the app's time zone."""
    try:
        moment = _utc(datetime.datetime.fromisoformat(text))
    except ValueError:
        return "must be an ISO 8601 date and time, e.g. 2026-11-24T18:00:00+00:00"
    except OverflowError:
        return f"must be within the years 1 to 9999 ({DATETIME_RANGE})"
    if not datetime.datetime.min + _ZONE_MARGIN <= moment <= datetime.datetime.max - _ZONE_MARGIN:
        return f"must be within the years 1 to 9999 ({DATETIME_RANGE})"
    return ""


class HugeNumber:
    """A whole number in a file longer than Python turns into an int (sys.int_max_str_digits,
    4300 by default): kept as its digit count so the loader can refuse it by its path."""

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))


def parse_int(text: str) -> int | HugeNumber:
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        return HugeNumber(text)
    return int(text)


def argument_problem(value: Any, path: str) -> tuple[str, str] | None:
    """(path, why) of the first part of an argument that could not be sent, or None: a whole
    number too long for Python's JSON (and so for Celery's serializer here and on the workers),
    or lists and objects nested past MAX_NESTING."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, HugeNumber):
            limit = sys.get_int_max_str_digits()
            return where, (
                f"a whole number of {item.digits} digits: Python, and so Celery's JSON on both "
                f"ends, reads at most {limit} digits"
            )
        if isinstance(item, list | dict):
            if depth >= MAX_NESTING:
                return where, f"nested more than {MAX_NESTING} levels deep ({NESTING_WHY})"
            inner = (
                [(v, f"{where}[{i}]") for i, v in enumerate(item)]
                if isinstance(item, list)
                else [(v, f"{where}.{k}") for k, v in item.items()]
            )
            stack.extend((v, w, depth + 1) for v, w in reversed(inner))
    return None
