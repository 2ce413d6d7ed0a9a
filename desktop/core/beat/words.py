"""A schedule in words ("every 10 s", "at 07:30 on weekdays"), from the fields the beat child
read off Celery's own schedule objects (`app/beat_probe.describe_schedule`).

The words are the panel's, so they live here, Qt-free and testable; the crontab's own text
("30 7 * * 1-5", in cron's field order) is always kept beside them, since words can only be a
reading of it. Celery's crontab runs when every field matches (day of month AND day of week,
unlike cron's OR), and the words say each restricted field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_FULL = {"minute": 60, "hour": 24, "day_of_month": 31, "month_of_year": 12, "day_of_week": 7}
_MAX_TIMES = 4  # beyond this many times a day, the minutes and hours are said apart


def interval_words(seconds: float) -> str:
    """ "every 10 s", "every 5 min", "every 2 h", "every day": the largest whole unit."""
    if seconds <= 0:
        return "at every tick of beat"
    for size, one, many in ((86400, "every day", "d"), (3600, "every hour", "h"),
                            (60, "every minute", "min")):  # fmt: skip
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return one if count == 1 else f"every {count} {many}"
    return f"every {seconds:g} s"


def crontab_text(schedule: Mapping[str, Any]) -> str:
    """The crontab as cron writes it: minute hour day-of-month month day-of-week."""
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return " ".join(str(schedule.get(f, "*")).replace(" ", "") or "*" for f in fields)


def _full(sets: Mapping[str, Sequence[int]], field: str) -> bool:
    return len(sets.get(field) or ()) >= _FULL[field]


def _step(values: Sequence[int], size: int) -> int | None:
    """The step of values evenly spread over the whole range from 0 (0,15,30,45 -> 15)."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1] - values[0]
    if size % step or list(values) != list(range(0, size, step)):
        return None
    return step


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _times(minutes: Sequence[int], hours: Sequence[int], all_hours: bool) -> str:
    minute_step = _step(minutes, 60)
    if all_hours:
        if len(minutes) == 60:
            return "every minute"
        if minute_step:
            return f"every {minute_step} min"
        return "every hour at " + _listed([f":{m:02d}" for m in minutes])
    if len(minutes) * len(hours) <= _MAX_TIMES:
        return "at " + _listed([f"{h:02d}:{m:02d}" for h in hours for m in minutes])
    hour_step = _step(hours, 24)
    said_minutes = (
        "every minute" if len(minutes) == 60
        else f"every {minute_step} min" if minute_step
        else "at minute " + _listed([str(m) for m in minutes])
    )  # fmt: skip
    spans = _spans(hours)
    said_hours = (
        f"of every {_ordinal(hour_step)} hour" if hour_step
        else f"of hour{'s' if len(hours) > 1 else ''} {_listed(spans)}"
    )  # fmt: skip
    return f"{said_minutes} {said_hours}"


def _ordinal(number: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10 if number % 100 not in (11, 12, 13)
                                             else 0, "th")  # fmt: skip
    return f"{number}{suffix}"


def _spans(hours: Sequence[int]) -> list[str]:
    """Hours as runs: [8, 9, 10, 17] -> ["08-10", "17"]."""
    runs: list[list[int]] = []
    for hour in hours:
        if runs and hour == runs[-1][-1] + 1:
            runs[-1].append(hour)
        else:
            runs.append([hour])
    return [f"{r[0]:02d}-{r[-1]:02d}" if len(r) > 2 else ", ".join(f"{h:02d}" for h in r)
            for r in runs]  # fmt: skip


def _days(sets: Mapping[str, Sequence[int]]) -> str:
    said = []
    weekdays = sorted(set(sets.get("day_of_week") or ()))
    if not _full(sets, "day_of_week"):
        if weekdays == [1, 2, 3, 4, 5]:
            said.append("on weekdays")
        elif weekdays == [0, 6]:
            said.append("on weekends")
        else:
            said.append("on " + _listed([_DAYS[d % 7] for d in weekdays]))
    if not _full(sets, "day_of_month"):
        days = [str(d) for d in sets.get("day_of_month") or ()]
        said.append(f"on day{'s' if len(days) > 1 else ''} {_listed(days)} of the month")
    if not _full(sets, "month_of_year"):
        said.append("in " + _listed([_MONTHS[m - 1] for m in sets.get("month_of_year") or ()]))
    return " ".join(said)


def crontab_words(schedule: Mapping[str, Any]) -> str:
    """ "at 07:30 on weekdays", "every 15 min", "at 00:00 on day 1 of the month in January"."""
    sets = schedule.get("sets")
    if not isinstance(sets, Mapping):
        return f"crontab {crontab_text(schedule)}"
    minutes = sorted(set(sets.get("minute") or ()))
    hours = sorted(set(sets.get("hour") or ()))
    if not minutes or not hours:
        return f"crontab {crontab_text(schedule)}"
    times = _times(minutes, hours, _full(sets, "hour"))
    days = _days(sets)
    if not days:
        return times if times.startswith("every") else f"{times} every day"
    return f"{times} {days}"


def schedule_words(schedule: Mapping[str, Any]) -> str:
    """Any schedule the child described, in words; an unknown kind by its own text."""
    kind = schedule.get("kind")
    if kind == "interval":
        return interval_words(float(schedule.get("every_s") or 0))
    if kind == "crontab":
        return crontab_words(schedule)
    if kind == "solar":
        lat, lon = schedule.get("latitude"), schedule.get("longitude")
        return f"at {str(schedule.get('event', '')).replace('_', ' ')} ({lat}, {lon})"
    if kind == "clocked":
        return f"once at {schedule.get('at')}"
    if kind == "rrule":
        return f"rrule {schedule.get('text', '')}".strip()
    if kind == "custom":
        return str(schedule.get("text") or schedule.get("class") or "custom schedule")
    return "no schedule"


def schedule_text(schedule: Mapping[str, Any]) -> str:
    """The schedule's own terms, kept beside its words: the crontab line and its timezone,
    the interval in seconds, the solar event and place, the clocked time."""
    kind = schedule.get("kind")
    if kind == "crontab":
        tz = schedule.get("tz")
        return f"{crontab_text(schedule)}{f' ({tz})' if tz else ''}"
    if kind == "interval":
        relative = ", relative" if schedule.get("relative") else ""
        return f"{float(schedule.get('every_s') or 0):g} s{relative}"
    return schedule_words(schedule)
