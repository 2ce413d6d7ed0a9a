"""An entry as Python for an app's `beat_schedule` (the Beat screen's "Copy as Python"): the
item a person pastes into their configuration, with Celery's own classes for the schedule.

Built from what the beat child read (JSON forms): arguments that were not JSON (a set, an
object) are written as they were read and said so in a comment, never silently changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desktop.core.beat.entries import BeatEntry

_CRON_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def schedule_python(schedule: Mapping[str, Any]) -> tuple[str, str]:
    """The schedule as Python and the import it needs ("" for none)."""
    kind = schedule.get("kind")
    if kind == "interval":
        every = float(schedule.get("every_s") or 0)
        if schedule.get("relative"):
            return f"schedule(run_every={every!r}, relative=True)", "schedule"
        return repr(every), ""
    if kind == "crontab":
        given = [
            f"{field}={str(schedule.get(field))!r}"
            for field in _CRON_FIELDS
            if str(schedule.get(field) or "*") != "*"
        ]
        return f"crontab({', '.join(given)})", "crontab"
    if kind == "solar":
        event, lat, lon = schedule.get("event"), schedule.get("latitude"), schedule.get("longitude")
        return f"solar({event!r}, {lat!r}, {lon!r})", "solar"
    return f"None  # {schedule.get('kind')} schedule: {schedule.get('text', '')}".rstrip(), ""


def entry_python(entry: BeatEntry) -> str:
    """`"name": {...},` as it would sit in `app.conf.beat_schedule`, with its import."""
    schedule, needs = schedule_python(entry.schedule)
    lines = [f"from celery.schedules import {needs}", ""] if needs else []
    lines.append(f"{entry.name!r}: {{")
    lines.append(f"    'task': {entry.task!r},")
    lines.append(f"    'schedule': {schedule},")
    if entry.args:
        lines.append(f"    'args': {tuple(entry.args)!r},")
    if entry.kwargs:
        lines.append(f"    'kwargs': {dict(entry.kwargs)!r},")
    if entry.options:
        lines.append(f"    'options': {dict(entry.options)!r},")
    lines.append("},")
    if not entry.sendable and not entry.error:
        lines.append(f"# as read, not exactly the app's: {entry.why_not_sendable()}")
    return "\n".join(lines)
