"""Times in the task history's query language (`after:`, `before:`, `sent:`) and in options
outside a query (`--since`), and the error every part of the language raises: kept apart from
the parser so the words for time have one home that the CLI's options read too. Qt-free.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

_RELATIVE = re.compile(r"-(\d{1,9})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SearchSyntaxError(ValueError):
    """A query that cannot be read, and the 1-based column of the problem."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


def named_time(field: str, value: str, column: int, now: float) -> tuple[float, float | None]:
    """The instant a time value names, and the end of the span it names (a day, a minute,
    None for a relative time: up to now and after)."""
    try:
        if relative := _RELATIVE.fullmatch(value):
            return now - int(relative[1]) * _UNIT_S[relative[2]], None
        if value in ("today", "yesterday"):
            day = datetime.fromtimestamp(now).date() - timedelta(days=value == "yesterday")
            return _day_span(day)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return _day_span(date.fromisoformat(value))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?", value):
            instant = datetime.fromisoformat(value)
            span = {13: 3600, 16: 60}.get(len(value), 1)
            return instant.timestamp(), (instant + timedelta(seconds=span)).timestamp()
    except (ValueError, OverflowError, OSError):
        pass
    raise SearchSyntaxError(
        f"{field}: '{value}' is not a time (2026-11-29, 2026-11-29T10:00, -1h, -30m, -2d, "
        "-45s, today, yesterday)",
        column,
    )


def time_start(value: str, now: float | None = None, field: str = "since") -> float:
    """The instant a time names, as `after:` reads it, for options outside a query
    (`celery-desk failures --since`): 2026-11-29, 2026-11-29T10:00, today, yesterday, and a
    relative time with or without its minus (`1h` and `-1h` are both an hour ago). Raises
    ValueError with the forms it reads, naming `field`."""
    instant = time.time() if now is None else now
    text = value.strip()
    if re.fullmatch(r"\d{1,9}[smhd]", text):
        text = "-" + text
    try:
        return named_time(field, text, 1, instant)[0]
    except SearchSyntaxError as exc:
        raise ValueError(exc.message) from None


def _day_span(day: date) -> tuple[float, float]:
    """A local day, midnight to midnight (23 or 25 hours across a clock change)."""
    start = datetime.combine(day, datetime.min.time())
    return start.timestamp(), datetime.combine(day + timedelta(days=1), start.time()).timestamp()
