"""Changing the app's periodic tasks: enable, disable, edit, add, delete.

The change is checked here (a known action, an interval or a crontab, arguments that are JSON
as they are) and made in a child that imports the app (`app/beat_write.py`, run like the beat
child that reads them), with the scheduler's own API: django-celery-beat's models (so
`PeriodicTasks.changed` bumps and a running DatabaseScheduler reloads), RedBeat's
`RedBeatSchedulerEntry` (so its definition hash and sorted set stay consistent). The app's own
`beat_schedule` is code: it is never written, and the reason says where to change it.
Blocking (it imports the person's app in a child, up to its time limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from desktop.core.app import beat_write
from desktop.core.app import probe as app_probe
from desktop.core.app.config import PROBE_TIMEOUT_S, AppConfigError, run_app_child
from desktop.core.base.argument_redaction import redactor_for
from desktop.core.beat.entries import BeatEntry, from_child
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints, Profile
from desktop.core.settings.redaction import hide_secrets

WRITABLE = ("django", "redbeat")
ACTIONS = ("enable", "disable", "edit", "add", "delete")
CRON_FIELDS = beat_write.CRON_FIELDS
_SCHEDULERS = {"django": "django-celery-beat", "redbeat": "RedBeat"}
STATIC_REASON = "lives in the app's code (beat_schedule): change it there"


class BeatWriteError(Exception):
    """A change not made, with a message for the person. `refused`: checked and refused
    before anything was written (a static entry, an unknown name, a bad schedule or argument);
    otherwise the app or its scheduler failed or did not answer."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class BeatChange:
    """One change to one periodic task. `schedule` has BeatEntry.schedule's shape:
    `{"kind": "interval", "every_s": 10}` or `{"kind": "crontab", "minute": "30", "hour": "7",
    "day_of_month": "*", "month_of_year": "*", "day_of_week": "1-5"}` (a crontab's `tz` is
    kept by django-celery-beat; RedBeat runs crontabs in the app's timezone). For an edit, a
    field left None stays as it is; `options` replace the entry's options as a whole."""

    name: str
    source: str  # "django" | "redbeat"
    action: str  # "enable" | "disable" | "edit" | "add" | "delete"
    schedule: Mapping[str, Any] | None = None
    task: str | None = None
    args: Any = None
    kwargs: Any = None
    options: Mapping[str, Any] | None = None

    def request(self) -> dict[str, Any]:
        """What the child is given (JSON; tuples become lists)."""
        return {
            "name": self.name, "source": self.source, "action": self.action,
            "schedule": None if self.schedule is None else dict(self.schedule),
            "task": self.task, "args": None if self.args is None else list(self.args),
            "kwargs": None if self.kwargs is None else dict(self.kwargs),
            "options": None if self.options is None else dict(self.options),
        }  # fmt: skip


def audit_params(change: BeatChange, redacted: Sequence[str] | None) -> dict[str, Any]:
    """What the audit log keeps of a change (the CLI's and the Beat screen's): its scheduler
    and what was given, arguments and options with values under the profile's secret-like
    names hidden, as the journal keeps task arguments."""
    hide = redactor_for(redacted).value
    given = change.request()
    params: dict[str, Any] = {"source": change.source}
    for key in ("schedule", "task", "args", "kwargs", "options"):
        if given[key] is not None:
            params[key] = hide(given[key]) if key in ("args", "kwargs", "options") else given[key]
    return params


def write_reason(entry: BeatEntry) -> str:
    """Why the panel cannot change this entry ("" when it can). Run now is another matter
    (`BeatEntry.sendable`)."""
    if entry.source == "static":
        return STATIC_REASON
    if entry.source not in WRITABLE:
        return f"kept by {entry.source!r}, which the panel does not write"
    return ""


def write_note(entry: BeatEntry, action: str) -> str:
    """What a person should know before a change that works but will not last: an entry also
    in the app's `beat_schedule` is copied from the code into the store every time beat
    starts (django-celery-beat keeps its enabled flag; RedBeat rewrites it too)."""
    if not entry.in_code or write_reason(entry):
        return ""
    lasting = entry.source == "django" and action in ("enable", "disable")
    if lasting:
        return ""
    what = "re-created" if action == "delete" else "put back as the code has it"
    return (f"{entry.name} is also in the app's beat_schedule: {_SCHEDULERS[entry.source]} "
            f"will have it {what} the next time beat starts; change the code to make it "
            "last")  # fmt: skip


def interval_schedule(seconds: float) -> dict[str, Any]:
    return {"kind": "interval", "every_s": float(seconds)}


def crontab_schedule(text: str) -> dict[str, Any]:
    """ "m h dom mon dow" (cron's order, as `crontab_text` writes it) as a crontab schedule;
    each field is checked by Celery in the app's child."""
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        raise BeatWriteError(
            f"a crontab has 5 fields, minute hour day-of-month month day-of-week (such as "
            f"'30 7 * * 1-5'), not {len(fields)}: {text!r}",
            refused=True,
        )
    return {"kind": "crontab", **dict(zip(CRON_FIELDS, fields, strict=True))}


def check_change(change: BeatChange) -> None:
    """What can be said wrong without the app: raises BeatWriteError (refused)."""

    def refuse(message: str) -> NoReturn:
        raise BeatWriteError(f"{change.name}: {message}", refused=True)

    if not change.name:
        refuse("a periodic task needs a name")
    if change.source == "static":
        refuse(STATIC_REASON)
    if change.source not in WRITABLE:
        refuse(f"the panel changes periodic tasks of {' and '.join(WRITABLE)}, "
               f"not {change.source!r}")  # fmt: skip
    if change.action not in ACTIONS:
        refuse(f"unknown change {change.action!r} (one of {', '.join(ACTIONS)})")
    if change.action == "add" and (not change.task or change.schedule is None):
        refuse("a new periodic task needs its task's name and a schedule")
    given = (change.schedule, change.task, change.args, change.kwargs, change.options)
    if change.action == "edit" and all(v is None for v in given):
        refuse("nothing to change")
    if change.schedule is not None:
        _check_schedule(change.schedule, refuse)
    if change.args is not None and (
        not isinstance(change.args, list | tuple) or not app_probe._exact(change.args)
    ):
        refuse(f"the arguments must be a JSON list, not {change.args!r}")
    for what, value in (("keyword arguments", change.kwargs), ("options", change.options)):
        if value is None:
            continue
        if not isinstance(value, Mapping) or not app_probe._exact(dict(value)):
            refuse(f"the {what} must be a JSON object with text keys, not {value!r}")


def _check_schedule(schedule: Mapping[str, Any], refuse: Callable[[str], NoReturn]) -> None:
    kind = schedule.get("kind")
    if kind == "interval":
        every = schedule.get("every_s", schedule.get("every"))
        if isinstance(every, bool) or not isinstance(every, int | float) or not every > 0:
            refuse(f"an interval is a number of seconds above 0, not {every!r}")
    elif kind == "crontab":
        if any(not isinstance(schedule.get(f, "*"), str | int) for f in CRON_FIELDS):
            refuse("each crontab field is a text such as '*/5' or '1-5'")
    else:
        refuse(f"a {kind or 'missing'} schedule cannot be set from the panel: give an "
               "interval or a crontab")  # fmt: skip


def change_beat(
    item: Profile, endpoints: Endpoints, change: BeatChange, timeout: float = PROBE_TIMEOUT_S
) -> BeatEntry:
    """Make `change` with the scheduler's own API in the app's child. Returns the entry as it
    is now (as it was, for a delete). Raises BeatWriteError with a person-readable message."""
    check_change(change)
    secrets = [s for s in (urls.password_of(endpoints.broker_url),
                           urls.password_of(endpoints.result_backend)) if s]  # fmt: skip
    scheduler = _SCHEDULERS[change.source]
    try:
        data = run_app_child(item, endpoints, beat_write.__file__, timeout, change.request())
    except AppConfigError as exc:
        raise BeatWriteError(
            f"{change.name} was not changed as far as is known: {exc}"
            if "did not finish" not in str(exc)
            else f"{exc}: whether {change.name} was changed is not known; list the periodic "
            "tasks to see"
        ) from exc
    if data.get("refused"):
        message = hide_secrets(str(data["refused"]), *secrets)
        raise BeatWriteError(f"{change.name}: {message}", refused=True)
    if data.get("failed"):
        message = hide_secrets(str(data["failed"]), *secrets)
        raise BeatWriteError(f"{change.name}: {scheduler} failed: {message}")
    if data.get("deleted"):
        part = {"entries": [data["deleted"]]}
        gone = from_child({"sources": {change.source: part}}, secrets).entries
        return BeatEntry(**{**gone[0].__dict__, "state": "deleted"})
    report = from_child(data.get("report") or {}, secrets)
    found = next((e for e in report.entries if e.name == change.name
                  and e.source == change.source), None)  # fmt: skip
    if found is None:
        raise BeatWriteError(f"{change.name}: changed, but {scheduler} does not list it now")
    return found
