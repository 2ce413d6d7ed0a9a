"""Run as a script in a child process: import a Celery app and print every periodic task it has.

A sibling of probe.py, run the same way (`config.run_app_child`: the profile's interpreter,
directory and environment, bounded, killed with what it started), because reading a schedule
means importing the person's app, and for django-celery-beat its Django ORM and database, and
for RedBeat its own Redis client: none of that may run in the panel's process. Everything is
read with the schedulers' own classes, never re-implemented: Celery's `ScheduleEntry` for the
app's `beat_schedule`, django-celery-beat's models and `ModelEntry`, RedBeat's
`RedBeatSchedulerEntry.from_key` (JSON only; nothing is ever unpickled, which is why Celery's
own `celerybeat-schedule` shelve file, a pickle, is not read). Next runs are computed by each
entry's schedule object in the app's timezone, and what beat would send for each entry is
caught from Celery's own `Scheduler.apply_async` before anything is sent. Nothing is written:
where a scheduler's reading code would write (django-celery-beat disables a broken row while
building its entry), the same check is made first and the row is reported instead.
It imports nothing but the standard library, Celery, kombu and what the app itself uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from datetime import datetime, timedelta
from typing import Any

# An entry's task is swapped for this name while Celery's `apply_async` builds its send: no app
# registers it, so Celery takes the `send_task` branch, which the capture below answers.
_CAPTURE_NAME = "\x00celery-desk-capture"
REDIS_TIMEOUT_S = 5.0


def _sibling(name: str) -> Any:
    """probe.py: imported from its package in the panel (tests read apps in-process), loaded
    by its path in a child, where the person's own modules come first on the path and Celery
    Desk may not even be installed."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_celery_desk_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = _sibling("probe")


# -- what every entry says --------------------------------------------------------------------
def iso(value: Any, tz: Any) -> str | None:
    """A datetime in the app's timezone as ISO text (naive ones are UTC, Celery's rule)."""
    if not isinstance(value, datetime):
        return None
    from celery.utils.time import maybe_make_aware

    return str(maybe_make_aware(value).astimezone(tz).isoformat())


def _cron_field(value: Any) -> str:
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, set | frozenset | list | tuple | range):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def describe_schedule(schedule: Any, tz: Any) -> dict[str, Any]:
    """The schedule's kind and fields, as its class holds them (the words are the panel's)."""
    from celery import schedules

    if isinstance(schedule, schedules.crontab):
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        found: dict[str, Any] = {"kind": "crontab"}
        found.update({f: _cron_field(getattr(schedule, f"_orig_{f}", "*")) for f in fields})
        found["sets"] = {f: sorted(getattr(schedule, f)) for f in fields}
        own_tz = getattr(schedule, "tz", None)  # django-celery-beat's TzAwareCrontab
        found["tz"] = str(own_tz) if own_tz is not None else str(tz)
        return found
    if isinstance(schedule, schedules.solar):
        return {"kind": "solar", "event": schedule.event, "latitude": float(schedule.lat),
                "longitude": float(schedule.lon)}  # fmt: skip
    if isinstance(schedule, schedules.schedule):
        return {"kind": "interval", "every_s": schedule.run_every.total_seconds(),
                "relative": bool(schedule.relative)}  # fmt: skip
    kind = type(schedule).__name__
    if kind == "clocked":  # django-celery-beat's one-off time
        return {"kind": "clocked", "at": iso(schedule.clocked_time, tz)}
    if kind == "rrule":  # RedBeat's
        return {"kind": "rrule", "text": str(getattr(schedule, "rrule", schedule))}
    return {"kind": "custom", "class": f"{type(schedule).__module__}.{kind}",
            "text": repr(schedule)}  # fmt: skip


def next_run(schedule: Any, last_run_at: Any) -> datetime | None:
    """When the schedule next fires after `last_run_at`, by its own `remaining_estimate`
    (overdue: now, as beat sends it at its next tick); None when it never fires again."""
    remaining = schedule.remaining_estimate(last_run_at)
    if remaining is None:
        return None
    now: datetime = schedule.now()
    at: datetime = now + max(remaining, timedelta(0))
    # To the millisecond: `now` and the schedule's own clock read differ by microseconds.
    extra = at.microsecond % 1000
    return at + timedelta(microseconds=(1000 - extra) if extra >= 500 else -extra)


def beat_send(app: Any, entry: Any) -> dict[str, Any]:
    """What Celery's beat would send for this entry: `Scheduler.apply_async` builds it (lazy
    arguments evaluated, the headers this Celery adds) and the capture takes it instead of
    sending. Sendable by the panel only when all of it is JSON as it is."""
    from celery.beat import Scheduler

    class Capture(Scheduler):  # type: ignore[misc]
        captured: tuple[Any, Any, dict[str, Any]] | None = None

        def send_task(self, name: str, args: Any = None, kwargs: Any = None,
                      producer: Any = None, **options: Any) -> None:  # fmt: skip
            self.captured = (args, kwargs, options)

    capture = Capture(app, lazy=True)
    # A shallow clone by hand: ScheduleEntry's __reduce__ (which copy.copy uses) rebuilds
    # through the constructor, whose arguments django-celery-beat's ModelEntry changed.
    clone = object.__new__(type(entry))
    clone.__dict__.update(vars(entry))
    clone.task = _CAPTURE_NAME
    try:
        capture.apply_async(clone, producer=None, advance=False)
    except Exception as exc:  # a lazy argument of the person's that raised
        return {"sendable": False, "why_not": f"building its send failed: {exc}"}
    assert capture.captured is not None
    args, kwargs, options = capture.captured
    options = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in options.items()}
    found = {"args": probe._json_safe(list(args or [])), "kwargs": probe._json_safe(kwargs or {}),
             "options": probe._json_safe(options)}  # fmt: skip
    inexact = [what for what, value in (("arguments", list(args or [])), ("keyword arguments",
               kwargs or {}), ("options", options)) if not probe._exact(value)]  # fmt: skip
    found["sendable"] = not inexact
    if inexact:
        found["why_not"] = f"its {' and '.join(inexact)} are not JSON: only beat can send it"
    return found


def describe_entry(app: Any, entry: Any, source: str, **facts: Any) -> dict[str, Any]:
    tz = app.timezone
    found: dict[str, Any] = {
        "name": str(entry.name),
        "task": str(entry.task),
        "source": source,
        "schedule": describe_schedule(entry.schedule, tz),
        "args": probe._json_safe(list(entry.args or [])),
        "kwargs": probe._json_safe(dict(entry.kwargs or {})),
        "options": probe._json_safe(dict(entry.options or {})),
        "enabled": True,
        "send": beat_send(app, entry),
    }
    found.update(facts)
    return found


def _failed(name: str, source: str, exc: BaseException, **facts: Any) -> dict[str, Any]:
    """An entry its scheduler cannot load either: shown with the reason, never skipped."""
    return {"name": name, "source": source, "task": facts.pop("task", ""), "schedule":
            facts.pop("schedule", {"kind": "unknown"}), "enabled": facts.pop("enabled", True),
            "error": f"{type(exc).__name__}: {exc}", **facts}  # fmt: skip


# -- the app's beat_schedule ------------------------------------------------------------------
def static_entries(app: Any) -> list[dict[str, Any]]:
    """Celery's own entries of `beat_schedule`, built as `Scheduler._maybe_entry` builds them.
    Their last run lives only in beat's schedule file (a pickle): unknown here, so the next
    run is counted from now, as a beat started now would count it."""
    from celery.beat import ScheduleEntry

    found = []
    for name, spec in dict(app.conf.beat_schedule or {}).items():
        try:
            if isinstance(spec, ScheduleEntry):
                entry = spec
            else:
                entry = ScheduleEntry(**dict(spec, name=name, app=app))
            at = next_run(entry.schedule, entry.schedule.now())
            found.append(
                describe_entry(
                    app,
                    entry,
                    "static",
                    last_run=None,
                    total_runs=None,
                    next_run=iso(at, app.timezone),
                    last_run_known=False,
                )
            )
        except Exception as exc:
            task = spec.get("task", "") if isinstance(spec, dict) else getattr(spec, "task", "")
            found.append(_failed(str(name), "static", exc, task=str(task)))
    return found


# -- django-celery-beat -----------------------------------------------------------------------
def django_ready() -> bool:
    """Whether the app's Django project installs django-celery-beat (Django set up if the
    app's import has not done it): what reading and writing its rows start with."""
    try:
        from django.conf import settings

        if not settings.configured:
            return False
        from django.apps import apps

        if not apps.ready:
            import django

            django.setup()
        return bool(apps.is_installed("django_celery_beat"))
    except ImportError:
        return False


def django_entries(app: Any) -> dict[str, Any] | None:
    """django-celery-beat's `PeriodicTask` rows through the app's Django ORM; None when the
    project does not install it."""
    if not django_ready():
        return None
    from django.db import DatabaseError
    from django_celery_beat.models import PeriodicTask

    try:
        rows = list(PeriodicTask.objects.select_related(
            "interval", "crontab", "solar", "clocked").order_by("name"))  # fmt: skip
    except DatabaseError as exc:
        return {"entries": [], "error": f"its tables cannot be read ({exc}): was "
                "`manage.py migrate` run?"}  # fmt: skip
    found = []
    for row in rows:
        try:
            found.append(_django_entry(app, row))
        except Exception as exc:  # a row this code cannot read must not hide the others
            found.append(_failed(row.name, "django", exc, task=row.task))
    return {"entries": found}


def _django_row_facts(row: Any, tz: Any) -> dict[str, Any]:
    expires = iso(row.expires, tz) if row.expires else row.expire_seconds
    return {
        "enabled": bool(row.enabled), "one_off": bool(row.one_off),
        "last_run": iso(row.last_run_at, tz), "total_runs": int(row.total_run_count),
        "expires": expires, "start_time": iso(row.start_time, tz),
        "queue": row.queue, "priority": row.priority, "description": row.description or "",
    }  # fmt: skip


def _django_schedule_row(row: Any) -> dict[str, Any]:
    """The schedule as its row holds it, for a row whose schedule object cannot be made."""
    if row.interval_id and row.interval:
        every = timedelta(**{row.interval.period: row.interval.every})
        return {"kind": "interval", "every_s": every.total_seconds(), "relative": False}
    if row.solar_id and row.solar:
        return {"kind": "solar", "event": row.solar.event, "latitude": float(row.solar.latitude),
                "longitude": float(row.solar.longitude)}  # fmt: skip
    return {"kind": next((k for k in ("crontab", "clocked") if getattr(row, f"{k}_id")),
                         "none")}  # fmt: skip


def _django_entry(app: Any, row: Any) -> dict[str, Any]:
    from celery.utils.time import maybe_make_aware
    from django_celery_beat.schedulers import ModelEntry
    from kombu.utils.json import loads

    tz = app.timezone
    facts = _django_row_facts(row, tz)
    try:
        loads(row.args or "[]")
        loads(row.kwargs or "{}")
        if row.scheduler is None:
            raise ValueError("no schedule is set (interval, crontab, solar or clocked)")
        row.schedule  # noqa: B018  (what ModelEntry reads first; solar needs ephem)
    except Exception as exc:  # ModelEntry would disable (write) the row: reported instead
        return _failed(row.name, "django", exc, task=row.task,
                       schedule=_django_schedule_row(row), **facts)  # fmt: skip
    entry = ModelEntry(row, app=app)
    now = maybe_make_aware(entry._default_now())
    state, at = "", None
    if not row.enabled:
        state = "disabled"
    elif row.start_time is not None and now < row.start_time:
        state, at = "waits for its start time", row.due_start_time(now.tzinfo)
    elif row.expires is not None and now >= row.expires:
        state = "expired"
    elif row.one_off and row.total_run_count > 0:
        state = "one-off, already ran"
    else:  # ModelEntry.is_due's own rule, without the writes it makes for the cases above
        at = next_run(entry.schedule, maybe_make_aware(entry.last_run_at).astimezone(tz))
    return describe_entry(app, entry, "django", next_run=iso(at, tz), state=state, **facts)


# -- RedBeat ----------------------------------------------------------------------------------
def redbeat_entries(app: Any) -> dict[str, Any] | None:
    """RedBeat's entries under the app's `redbeat_key_prefix`: the `redbeat::schedule` sorted
    set, every `<prefix><name>` hash (`definition`, `meta`) read with
    `RedBeatSchedulerEntry.from_key`, and the lock. None when the app does not use RedBeat."""
    try:
        from redbeat.schedulers import RedBeatSchedulerEntry
    except ImportError:
        return None
    named = redbeat_named(app)
    url = str(app.conf.get("redbeat_redis_url") or app.conf.broker_url or "")
    if not url.startswith(("redis", "unix")):
        return {"entries": [], "error": "its Redis URL is not a Redis one"} if named else None
    try:
        conf, client = redbeat_client(app)
        if not named and not client.exists(conf.schedule_key):
            return None
        scores = dict(client.zrange(conf.schedule_key, 0, -1, withscores=True))
        keys = list(scores)
        pattern = _glob_escape(conf.key_prefix) + "*"
        for key in client.scan_iter(match=pattern, count=1000, _type="HASH"):
            if key not in scores:
                keys.append(key)
        entries = [_redbeat_entry(app, RedBeatSchedulerEntry, k, scores.get(k)) for k in keys]
        lock = None
        if conf.lock_key:
            ttl = client.pttl(conf.lock_key)
            lock = {"key": conf.lock_key, "held": ttl != -2, "ttl_s": ttl / 1000 if ttl >= 0
                    else None}  # fmt: skip
    except Exception as exc:
        return {"entries": [], "error": f"{type(exc).__name__}: {exc}"}
    return {"entries": entries, "lock": lock, "prefix": conf.key_prefix,
            "schedule_key": conf.schedule_key}  # fmt: skip


def redbeat_named(app: Any) -> bool:
    """Whether the app names RedBeat: its `beat_scheduler`, or a `redbeat_*` setting it sets."""
    return "redbeat" in str(app.conf.beat_scheduler or "").lower() or any(
        str(k).lower().startswith("redbeat_") for k in app.conf if app.conf.get(k)
    )


def redbeat_client(app: Any) -> tuple[Any, Any]:
    """RedBeat's configuration of the app and its own Redis client, bounded (`_bound`)."""
    from redbeat.schedulers import ensure_conf, get_redis

    with warnings.catch_warnings():  # RedBeat's own notes on its settings, not ours
        warnings.simplefilter("ignore")
        conf = ensure_conf(app)
    client = get_redis(app)
    _bound(client)
    return conf, client


def _bound(client: Any) -> None:
    """The panel's 5 s bound on RedBeat's client (redis-py waits for ever by default), set
    on its pool before its first connection; the child's own time limit covers the rest."""
    inner = getattr(client, "wrapped_connection", client)
    pool = getattr(inner, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict):
        kwargs.setdefault("socket_timeout", REDIS_TIMEOUT_S)
        kwargs.setdefault("socket_connect_timeout", REDIS_TIMEOUT_S)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _redbeat_next(entry: Any) -> datetime | None:
    """When RedBeat sends it: its sorted set's score only says when beat next looks at the
    entry (`due_at` counts the remaining time from the last run, not from now, so it is
    early); the send is decided by `is_due`, the schedule's own rule from the last run, and
    an entry never run is due at once."""
    if not entry.enabled:
        return None
    if entry.last_run_at is None:
        now: datetime = entry.schedule.now()
        return now
    return next_run(entry.schedule, entry.last_run_at)


def _redbeat_entry(app: Any, entry_class: Any, key: str, score: float | None) -> dict[str, Any]:
    tz = app.timezone
    prefix = app.redbeat_conf.key_prefix
    name = key[len(prefix) :] if key.startswith(prefix) else key
    scheduled = None if score is None or score < 0 else datetime.fromtimestamp(score, tz)
    try:
        entry = entry_class.from_key(key, app=app)
        due = _redbeat_next(entry)
    except Exception as exc:  # a hash RedBeat cannot load (beat drops it from the set too)
        return _failed(name, "redbeat", exc, key=key, scheduled_at=iso(scheduled, tz))
    try:
        return _redbeat_described(app, entry, key, due, scheduled, score)
    except Exception as exc:
        return _failed(name, "redbeat", exc, task=str(entry.task), key=key)


def _redbeat_described(
    app: Any, entry: Any, key: str, due: Any, scheduled: Any, score: float | None
) -> dict[str, Any]:
    tz = app.timezone
    return describe_entry(
        app, entry, "redbeat", enabled=bool(entry.enabled), last_run=iso(entry.last_run_at, tz),
        total_runs=int(entry.total_run_count or 0), next_run=iso(due, tz), key=key,
        scheduled_at=iso(scheduled, tz), in_schedule=score is not None,
        state="" if entry.enabled else "disabled",
    )  # fmt: skip


# -- the report -------------------------------------------------------------------------------
def read_beat(app: Any) -> dict[str, Any]:
    """Every periodic task of the app, per source, with the app's `beat_scheduler` setting and
    timezone; a source that fails says why and the others are still read."""
    app.finalize(auto=True)
    found: dict[str, Any] = {
        "scheduler": str(app.conf.beat_scheduler or ""),
        "timezone": str(app.timezone),
        "now": iso(app.now(), app.timezone),
        "sources": {},
    }
    readers = (("static", lambda: {"entries": static_entries(app)}),
               ("django", lambda: django_entries(app)),
               ("redbeat", lambda: redbeat_entries(app)))  # fmt: skip
    for source, read in readers:
        try:
            part = read()
        except Exception as exc:
            part = {"entries": [], "error": f"{type(exc).__name__}: {exc}"}
        if part is not None:
            found["sources"][source] = part
    return found


def main() -> int:
    workdir = probe.start_child()
    try:
        result: dict[str, Any] = {"ok": True, **read_beat(probe.load_app(sys.argv[1]))}
    except BaseException as exc:  # report anything user code raises, including SystemExit
        result = probe.failure(exc, workdir)
    probe.report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
