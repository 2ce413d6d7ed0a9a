"""The Beat screen's table: one row per periodic task, with its missed runs once the journal
was read (core/beat/runs.py). Columns only; the words and counts are the core's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop.core.beat.entries import BeatEntry
from desktop.core.beat.missed import Missed
from desktop.ui.common.table_model import Column
from desktop.ui.common.theme import colour

SOURCE_WORDS = {
    "static": "the app's beat_schedule (in code)",
    "django": "django-celery-beat's database",
    "redbeat": "RedBeat's keys in Redis",
}


@dataclass(frozen=True)
class BeatRow:
    entry: BeatEntry
    missed: Missed | None = None
    timezone: str = ""  # the app's: every time on the screen is said in it


def at_clock(moment: float, timezone: str, fmt: str = "%H:%M:%S") -> str:
    """An epoch time in the app's timezone (the machine's own when it names none)."""
    try:
        zone = ZoneInfo(timezone) if timezone else None
    except (ValueError, ZoneInfoNotFoundError):
        zone = None
    return datetime.fromtimestamp(moment, zone).strftime(fmt)


def when(text: str | None) -> str:
    """An ISO time in the app's timezone as a person reads it: date and time to the second."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def arguments(entry: BeatEntry) -> str:
    args = ", ".join(json.dumps(a, default=str) for a in entry.args or [])
    kwargs = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in (entry.kwargs or {}).items())
    return ", ".join(part for part in (args, kwargs) if part)


def options(entry: BeatEntry) -> str:
    return ", ".join(f"{k}={v}" for k, v in (entry.options or {}).items())


def missed_text(row: BeatRow) -> str:
    if row.missed is None:
        return ""
    return "-" if row.missed.count is None else str(row.missed.count)


def missed_tip(row: BeatRow) -> str:
    missed = row.missed
    if missed is None:
        return "the journal not read yet"
    if missed.count is None:
        return f"not checked: {missed.why_not}"
    said = (
        f"{missed.count} due run(s) never sent of {missed.judged} judged while the panel "
        f"listened (a send within {missed.tolerance_s:g} s of a due time is its run)"
    )
    if missed.streak:
        said += f"; {missed.streak} in a row since beat's last send"
    if missed.missed:
        said += "; last missed: " + at_clock(missed.missed[-1], row.timezone)
    return said


def missed_colour(row: BeatRow) -> str:
    if row.missed is None or not row.missed.count:
        return ""
    return colour("error") if row.missed.streak else colour("warning")


def enabled_text(entry: BeatEntry) -> str:
    if entry.error:
        return "error"
    return ("yes" if entry.enabled else "no") + (f" ({entry.state})" if entry.state else "")


def last_run(entry: BeatEntry) -> str:
    if entry.last_run:
        return when(entry.last_run)
    return "never" if entry.last_run_known else "not known"


# Times are in the app's timezone (the screen says which above the table).
COLUMNS: list[Column[BeatRow]] = [
    Column(
        "Name",
        lambda r: r.entry.name,
        tip=lambda r: r.entry.error or r.entry.name,
        colour=lambda r: colour("error") if r.entry.error else "",
    ),
    Column("Task", lambda r: r.entry.task),
    Column("Schedule", lambda r: r.entry.words, tip=lambda r: r.entry.schedule_text),
    Column("Cron / interval", lambda r: r.entry.schedule_text),
    Column("Arguments", lambda r: arguments(r.entry)),
    Column("Options", lambda r: options(r.entry)),
    Column(
        "Enabled",
        lambda r: enabled_text(r.entry),
        colour=lambda r: "" if r.entry.enabled else colour("muted"),
    ),
    Column(
        "Last run",
        lambda r: last_run(r.entry),
        tip=lambda r: r.entry.last_run,
    ),
    Column("Next run", lambda r: when(r.entry.next_run), tip=lambda r: r.entry.next_run),
    Column("Runs", lambda r: "" if r.entry.total_runs is None else r.entry.total_runs),
    Column("Missed", missed_text, tip=missed_tip, colour=missed_colour),
    Column("Source", lambda r: r.entry.source, tip=lambda r: SOURCE_WORDS.get(r.entry.source)),
]
