"""Run as a script in a child process: import a Celery app and change one of its periodic tasks
with its scheduler's own API, then report its periodic tasks as they are now.

A sibling of beat_probe.py, run the same way (`config.run_app_child`), the change given as JSON
on standard input (`beat/writing.py` checks it first: JSON arguments, a known action, an
interval or a crontab). Nothing is re-implemented and nothing is ever unpickled:
- django-celery-beat through its models, in one transaction: the schedule row found or made
  by its own `ModelEntry.to_model_schedule` (as its DatabaseScheduler does for the app's
  `beat_schedule`), then `PeriodicTask.save()`/`delete()`, which bump `PeriodicTasks.changed`:
  a running DatabaseScheduler sees the change at its next tick and reloads;
- RedBeat through its `RedBeatSchedulerEntry` (`from_key`, `enabled`, `save`, `delete`) under
  the app's `redbeat_key_prefix`: the definition hash and the `:schedule` sorted set are
  written together in one pipeline, and RedBeat's beat reads both at every tick.
A change the scheduler cannot take is refused with the reason, before anything is written.
It imports nothing but the standard library, Celery, kombu and what the app itself uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from datetime import timedelta
from typing import Any

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
# The options django-celery-beat keeps in its own columns (ModelEntry._unpack_options).
DJANGO_OPTIONS = ("queue", "exchange", "routing_key", "priority", "headers", "expire_seconds")


def _sibling(name: str) -> Any:
    """beat_probe.py, imported as `beat_probe` imports probe.py (by package in the panel, by
    path in a child)."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_celery_desk_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


beat_probe = _sibling("beat_probe")
probe = beat_probe.probe


class Refused(Exception):
    """The change cannot be made as asked; nothing was written. The message says why."""


# -- the schedule, as Celery's own classes -----------------------------------------------------
def celery_schedule(app: Any, spec: dict[str, Any], tz: Any = None) -> Any:
    """An interval or a crontab (`beat_probe.describe_schedule`'s shape) as Celery's schedule
    object; a crontab Celery cannot parse is refused with Celery's own words. `tz`: a crontab
    of its own timezone (django-celery-beat's TzAwareCrontab)."""
    from celery import schedules

    kind = spec.get("kind")
    if kind == "interval":
        every = float(spec.get("every_s", spec.get("every")) or 0)
        return schedules.schedule(timedelta(seconds=every), relative=bool(spec.get("relative")),
                                  app=app)  # fmt: skip
    if kind != "crontab":
        raise Refused(f"a {kind} schedule cannot be set from the panel: interval or crontab")
    fields = {f: str(spec.get(f, "*")).replace(" ", "") or "*" for f in CRON_FIELDS}
    try:
        if tz is None:
            return schedules.crontab(app=app, **fields)
        from django_celery_beat.tzcrontab import TzAwareCrontab

        return TzAwareCrontab(tz=tz, app=app, **fields)
    except (ValueError, TypeError) as exc:
        text = " ".join(fields[f] for f in CRON_FIELDS)
        raise Refused(f"crontab {text!r}: {exc}") from exc


# -- django-celery-beat ------------------------------------------------------------------------
def _django_tz(app: Any, spec: dict[str, Any], row: Any) -> Any:
    """A crontab's timezone: the one asked, else the row's own crontab's (an edit keeps it),
    else the app's, as django-celery-beat's DatabaseScheduler gives a `beat_schedule` crontab."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = spec.get("tz")
    if name:
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Refused(f"no such timezone: {name}") from exc
    if row is not None and row.crontab_id and row.crontab is not None:
        return row.crontab.timezone
    return app.timezone


def _django_schedule(app: Any, row: Any, spec: dict[str, Any]) -> None:
    from django_celery_beat.schedulers import ModelEntry

    if spec.get("kind") == "interval":
        every = float(spec.get("every_s", spec.get("every")) or 0)
        if every != int(every) or every < 1:
            raise Refused(f"django-celery-beat keeps intervals in whole seconds, not {every:g}")
        schedule = celery_schedule(app, spec)
    else:
        schedule = celery_schedule(app, spec, _django_tz(app, spec, row))
    model, field = ModelEntry.to_model_schedule(schedule)
    for other in ("interval", "crontab", "solar", "clocked"):
        setattr(row, other, model if other == field else None)


def _django_options(row: Any, options: dict[str, Any]) -> None:
    """The options as django-celery-beat's columns, replaced as a whole (what is not given is
    cleared); `periodic_task_name` is its own header, added by ModelEntry at every send."""
    unknown = sorted(set(options) - set(DJANGO_OPTIONS) - {"expires"})
    if unknown:
        raise Refused(f"django-celery-beat keeps only the options {', '.join(DJANGO_OPTIONS)}; "
                      f"not {', '.join(unknown)}")  # fmt: skip
    given = dict(options)
    expires = given.pop("expires", None)
    if expires is not None:  # a number of seconds, as ModelEntry reads expire_seconds back
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise Refused(
                "expires: a whole number of seconds here (a date and time is set in "
                "django-celery-beat's own `expires` column, in Django's admin)"
            )
        given.setdefault("expire_seconds", expires)
    headers = dict(given.get("headers") or {})
    headers.pop("periodic_task_name", None)
    priority = given.get("priority")
    if priority is not None and (not isinstance(priority, int) or priority < 0):
        raise Refused(f"priority: a whole number 0 or more, not {priority!r}")
    row.queue, row.exchange = given.get("queue"), given.get("exchange")
    row.routing_key, row.priority = given.get("routing_key"), priority
    row.headers, row.expire_seconds = json.dumps(headers), given.get("expire_seconds")


def _django_apply(app: Any, row: Any, change: dict[str, Any]) -> None:
    if change.get("schedule") is not None:
        _django_schedule(app, row, dict(change["schedule"]))
    if change.get("task"):
        row.task = str(change["task"])
    if change.get("args") is not None:
        row.args = json.dumps(list(change["args"]))
    if change.get("kwargs") is not None:
        row.kwargs = json.dumps(dict(change["kwargs"]))
    if change.get("options") is not None:
        _django_options(row, dict(change["options"]))


def django_write(app: Any, change: dict[str, Any]) -> dict[str, Any] | None:
    """The change through django-celery-beat's models, in one transaction; the entry as it
    was for a delete (None otherwise)."""
    if not beat_probe.django_ready():
        raise Refused("the app's Django project does not install django_celery_beat")
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django_celery_beat.models import PeriodicTask

    name, action = str(change["name"]), str(change["action"])
    before = None
    try:
        with transaction.atomic():
            rows = PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked")
            row = rows.filter(name=name).first()
            if action == "add":
                if row is not None:
                    raise Refused(f"django-celery-beat already has a periodic task named {name!r}")
                row = PeriodicTask(name=name, task=str(change.get("task") or ""))
            elif row is None:
                raise Refused(f"django-celery-beat's database has no periodic task named {name!r}")
            if action == "delete":
                before = _django_described(app, row)
                row.delete()  # PeriodicTasks.changed bumps: a running beat drops it
            elif action in ("enable", "disable"):
                row.enabled = action == "enable"
                row.save()  # bumps PeriodicTasks.changed (a disabled row's last run is cleared)
            else:
                _django_apply(app, row, change)
                row.save()
    except ValidationError as exc:
        raise Refused(f"django-celery-beat refused it: {'; '.join(exc.messages)}") from exc
    return before


def _django_described(app: Any, row: Any) -> dict[str, Any]:
    try:
        return dict(beat_probe._django_entry(app, row))
    except Exception as exc:
        return dict(beat_probe._failed(row.name, "django", exc, task=row.task))


# -- RedBeat -----------------------------------------------------------------------------------
def redbeat_write(app: Any, change: dict[str, Any]) -> dict[str, Any] | None:
    """The change through RedBeat's own entry class under the app's key prefix; the entry as
    it was for a delete (None otherwise)."""
    try:
        from redbeat.schedulers import RedBeatSchedulerEntry
    except ImportError as exc:
        raise Refused("RedBeat is not installed in the app's environment") from exc
    conf, client = beat_probe.redbeat_client(app)
    if not beat_probe.redbeat_named(app) and not client.exists(conf.schedule_key):
        scheduler = app.conf.beat_scheduler
        raise Refused(
            f"the app does not use RedBeat (its beat_scheduler is {scheduler}) and its Redis "
            "holds no RedBeat schedule"
        )
    name, action = str(change["name"]), str(change["action"])
    key = conf.key_prefix + name
    if action == "add":
        if client.exists(key):
            raise Refused(f"RedBeat already has a periodic task named {name!r} ({key})")
        entry = RedBeatSchedulerEntry(
            name, str(change.get("task") or ""), _redbeat_schedule(app, change),
            args=list(change.get("args") or []), kwargs=dict(change.get("kwargs") or {}),
            options=dict(change.get("options") or {}), app=app,
        )  # fmt: skip
        entry.save()  # definition, meta (never run: due at once) and score in one pipeline
        return None
    if not client.exists(key):
        raise Refused(f"RedBeat has no periodic task named {name!r} (no {key} in its Redis)")
    try:
        entry = RedBeatSchedulerEntry.from_key(key, app=app)
    except Exception as exc:  # a definition RedBeat cannot load: only deleting it makes sense
        if action != "delete":
            raise Refused(f"RedBeat cannot load it ({type(exc).__name__}: {exc}): it can only "
                          "be deleted") from exc  # fmt: skip
        before = beat_probe._failed(name, "redbeat", exc, key=key)
        RedBeatSchedulerEntry(name, app=app).delete()  # as RedBeat drops an old static entry
        return dict(before)
    if action == "delete":
        score = client.zscore(conf.schedule_key, key)
        before = beat_probe._redbeat_entry(app, RedBeatSchedulerEntry, key, score)
        entry.delete()
        return dict(before)
    if action in ("enable", "disable"):
        entry.enabled = action == "enable"
    else:
        if change.get("schedule") is not None:
            entry.schedule = _redbeat_schedule(app, change)
        if change.get("task"):
            entry.task = str(change["task"])
        for field in ("args", "kwargs", "options"):
            if change.get(field) is not None:
                setattr(entry, field, (list if field == "args" else dict)(change[field]))
    entry.save()  # the definition replaced, its last run kept, its score moved to match
    return None


def _redbeat_schedule(app: Any, change: dict[str, Any]) -> Any:
    spec = dict(change.get("schedule") or {})
    tz = spec.get("tz")
    if spec.get("kind") == "crontab" and tz and str(tz) != str(app.timezone):
        raise Refused(f"RedBeat keeps a crontab without its own timezone: it runs in the app's "
                      f"({app.timezone}), not {tz}")  # fmt: skip
    return celery_schedule(app, spec)


# -- the child ---------------------------------------------------------------------------------
def write(app: Any, change: dict[str, Any]) -> dict[str, Any]:
    """Make the change; then the report of every periodic task as it is now (`beat_probe`'s),
    or for a delete the entry as it was."""
    app.finalize(auto=True)
    source = change.get("source")
    writers = {"django": django_write, "redbeat": redbeat_write}
    if source not in writers:
        raise Refused(f"periodic tasks of {source!r} cannot be changed from the panel")
    before = writers[str(source)](app, change)
    if before is not None:
        return {"deleted": before}
    return {"report": beat_probe.read_beat(app)}


def main() -> int:
    workdir = probe.start_child()
    try:
        change = json.loads(sys.stdin.read() or "{}")
        app = probe.load_app(sys.argv[1])
    except BaseException as exc:  # report anything user code raises, including SystemExit
        probe.report(probe.failure(exc, workdir))
        return 0
    try:
        result: dict[str, Any] = {"ok": True, **write(app, change)}
    except Refused as exc:
        result = {"ok": True, "refused": str(exc)}
    except BaseException as exc:  # the scheduler's own error (its database, its Redis)
        result = {"ok": True, "failed": f"{type(exc).__name__}: {exc}"}
    probe.report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
