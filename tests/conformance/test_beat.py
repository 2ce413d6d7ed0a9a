"""Periodic tasks with real parts: the three ways people keep a beat schedule, each a small real
project under `beat_apps/`: the app's own `beat_schedule`, django-celery-beat on SQLite
(migrated in the test's own directory, entries made through its models) and RedBeat on the
test's own Redis (entries made through RedBeat's entry API).

For each, `celery-desk beat list --json` must show every entry with the next run Celery itself
computes (each test computes it with Celery's schedule classes, or RedBeat's own entry), and
`celery-desk beat run NAME` must make a worker started by hand run it, sent as beat sends it:
same arguments, queue, priority and beat's headers, journaled and audited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab, solar

from tests.conformance.beat_parts import APPS, HandWorker
from tests.conftest import RunningRedis
from tests.desk_cli import celery_desk

pytestmark = [pytest.mark.slow]


def _desk(profile_args: list[str], *args: str, env: dict[str, str] | None = None) -> Any:
    return celery_desk(*profile_args, *args, env={**os.environ, **(env or {})}, timeout=90)


def _listed(profile_args: list[str], env: dict[str, str] | None = None) -> tuple[dict, str]:
    done = _desk(profile_args, "beat", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {e["name"]: e for e in json.loads(done.stdout)}, done.stderr


def _at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def _celery_next(schedule: Any, last_run_at: datetime | None = None) -> datetime:
    """Celery's own answer: the schedule's remaining time after its last run, from now."""
    now = schedule.now()
    return now + max(schedule.remaining_estimate(last_run_at or now), timedelta(0))


def _close(a: datetime, b: datetime, seconds: float = 1.0) -> bool:
    return abs((a - b).total_seconds()) <= seconds


def _ran_as_beat(profile_args: list[str], name: str, worker: HandWorker, env: Any = None) -> Any:
    """`beat run NAME`, and what the worker ran, journaled and audited."""
    done = _desk(profile_args, "beat", "run", name, "--json", env=env)
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)
    note = worker.ran(sent["id"])
    journaled = _desk(profile_args, "tasks", sent["id"], "--json", env=env)
    assert journaled.returncode == 0, journaled.stderr
    row = json.loads(journaled.stdout)
    row = row[0] if isinstance(row, list) else row
    assert row["queue"] == sent["queue"] and row["priority"] == sent["priority"]
    assert row["args"] == [name] and row["name"] == "beat_tasks.note"  # as beat sent them
    audit = _desk(profile_args, "audit", "--action", "beat run", "--json", env=env)
    assert any(a["target"] == name and a["reply"] == sent["id"] for a in json.loads(audit.stdout))
    return sent, note


def test_static_beat_schedule(embedded_redis: RunningRedis, worker_factory: Any) -> None:
    broker = embedded_redis.url(11)
    profile = ["--broker", broker, "--app", "beat_static", "--workdir", str(APPS)]
    paris = Celery("paris", set_as_current=False)
    paris.conf.timezone = "Europe/Paris"
    before = datetime.now(ZoneInfo("Europe/Paris"))
    entries, said = _listed(profile)
    after = datetime.now(ZoneInfo("Europe/Paris"))
    assert set(entries) == {"every-ten", "weekday-morning", "paris-sunrise", "not-json"}
    assert {e["source"] for e in entries.values()} == {"static"}
    assert "beat_scheduler setting: celery.beat:PersistentScheduler" in said
    ten = entries["every-ten"]
    assert ten["schedule"] == "every 10 s" and ten["total_runs"] is None
    assert ten["missed"] is None and ten["last_run"] is None and ten["enabled"] is True
    # never run as far as anyone can read: counted from now, as a beat started now counts
    assert before + timedelta(seconds=9) <= _at(ten["next_run"]) <= after + timedelta(seconds=11)
    morning = entries["weekday-morning"]
    assert morning["schedule"] == "at 07:30 on weekdays"
    assert morning["schedule_text"] == "30 7 * * 1-5 (Europe/Paris)"
    expected = _celery_next(crontab(minute=30, hour=7, day_of_week="1-5", app=paris))
    assert _close(_at(morning["next_run"]), expected, 0.01)
    assert _at(morning["next_run"]).utcoffset() == expected.utcoffset()
    sunrise = entries["paris-sunrise"]
    expected = _celery_next(solar("sunrise", 48.8566, 2.3522, app=paris))
    assert sunrise["schedule_kind"] == "solar" and _close(_at(sunrise["next_run"]), expected)

    refused = _desk(profile, "beat", "run", "not-json")
    assert refused.returncode == 2 and "not JSON" in refused.stderr

    worker = worker_factory("beat_static", broker)
    sent, note = _ran_as_beat(profile, "every-ten", worker)
    assert sent["queue"] == "beats" and sent["priority"] == 3
    assert note["label"] == "every-ten" and note["kwargs"] == {"source": "static"}
    assert note["routing_key"] == "beats" and note["priority"] == 3
    assert note["celery_beat_task"] is True  # the header this Celery's beat adds


def test_redbeat(embedded_redis: RunningRedis, worker_factory: Any) -> None:
    from redbeat.schedulers import RedBeatSchedulerEntry, get_redis

    broker = embedded_redis.url(12)
    prefix = f"deskbeat-{uuid.uuid4().hex[:6]}:"
    env = {"REDBEAT_PREFIX": prefix}
    app = Celery("beat_redbeat", broker=broker, set_as_current=False)
    app.conf.update(timezone="America/New_York", redbeat_redis_url=broker,
                    redbeat_key_prefix=prefix)  # fmt: skip
    every = RedBeatSchedulerEntry(
        "rb-interval", "beat_tasks.note", timedelta(seconds=30), args=["rb-interval"],
        kwargs={"source": "redbeat"}, options={"queue": "beats", "priority": 2}, app=app,
    ).save()  # fmt: skip
    ran_at = app.now() - timedelta(seconds=5)
    every.reschedule(last_run_at=ran_at)
    RedBeatSchedulerEntry("rb-cron", "beat_tasks.note", crontab(minute=0, hour=9),
                          args=["rb-cron"], app=app).save()  # fmt: skip
    RedBeatSchedulerEntry("rb-off", "beat_tasks.note", timedelta(minutes=1), args=["rb-off"],
                          enabled=False, app=app).save()  # fmt: skip
    get_redis(app).set(f"{prefix}:lock", "someone", px=60_000)  # a beat holding the lock

    profile = ["--broker", broker, "--app", "beat_redbeat", "--workdir", str(APPS)]
    entries, said = _listed(profile, env)
    assert set(entries) == {"rb-interval", "rb-cron", "rb-off"}
    assert {e["source"] for e in entries.values()} == {"redbeat"}
    assert "beat_scheduler setting: redbeat.RedBeatScheduler (redbeat)" in said
    assert f"RedBeat lock {prefix}:lock: held" in said
    interval = entries["rb-interval"]
    own = RedBeatSchedulerEntry.from_key(f"{prefix}rb-interval", app=app)
    expected = _celery_next(own.schedule, own.last_run_at)  # what RedBeat's is_due follows
    assert _close(_at(interval["next_run"]), expected, 0.01)
    assert _close(_at(interval["next_run"]), ran_at + timedelta(seconds=30), 0.01)
    score = get_redis(app).zscore(f"{prefix}:schedule", f"{prefix}rb-interval")
    assert _at(interval["scheduled_at"]).timestamp() == score  # when RedBeat looks at it
    assert _close(_at(interval["last_run"]), ran_at, 0.01)
    assert interval["schedule"] == "every 30 s" and interval["enabled"] is True
    assert _at(interval["next_run"]).utcoffset() == ran_at.utcoffset()  # New York time
    cron = entries["rb-cron"]
    assert cron["schedule"] == "at 09:00 every day"
    made = RedBeatSchedulerEntry.from_key(f"{prefix}rb-cron", app=app)
    assert _close(_at(cron["last_run"]), made.last_run_at, 0.01)  # RedBeat saved its creation
    expected = _celery_next(crontab(minute=0, hour=9, app=app), made.last_run_at)
    assert _close(_at(cron["next_run"]), expected, 0.01)
    assert _at(cron["next_run"]).astimezone(ZoneInfo("America/New_York")).hour == 9
    off = entries["rb-off"]
    assert off["enabled"] is False and off["next_run"] is None and off["state"] == "disabled"

    worker = worker_factory("beat_redbeat", broker, env)
    sent, note = _ran_as_beat(profile, "rb-interval", worker, env)
    assert sent["queue"] == "beats" and sent["priority"] == 2
    assert note["label"] == "rb-interval" and note["kwargs"] == {"source": "redbeat"}
    assert note["routing_key"] == "beats" and note["priority"] == 2
    # run now does not move RedBeat's schedule: that stays beat's
    again = RedBeatSchedulerEntry.from_key(f"{prefix}rb-interval", app=app)
    assert again.last_run_at == own.last_run_at


_MAKE_ENTRIES = """
import json, django
from datetime import timedelta
from zoneinfo import ZoneInfo
django.setup()
from django.utils import timezone
from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule,
    PeriodicTask, SolarSchedule)
now = timezone.now()
ran = now - timedelta(seconds=5)
every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
PeriodicTask.objects.create(name="db-interval", task="beat_tasks.note", interval=every,
    args=json.dumps(["db-interval"]), kwargs=json.dumps({"source": "django"}), queue="beats",
    priority=4, last_run_at=ran, total_run_count=7)
cron = CrontabSchedule.objects.create(minute="30", hour="7", day_of_week="1-5",
    timezone=ZoneInfo("Asia/Tokyo"))
PeriodicTask.objects.create(name="db-cron", task="beat_tasks.note", crontab=cron,
    args=json.dumps(["db-cron"]))
sun = SolarSchedule.objects.create(event="sunrise", latitude=35.6762, longitude=139.6503)
PeriodicTask.objects.create(name="db-solar", task="beat_tasks.note", solar=sun,
    args=json.dumps(["db-solar"]))
at = (now + timedelta(days=1)).replace(microsecond=0)
clock = ClockedSchedule.objects.create(clocked_time=at)
PeriodicTask.objects.create(name="db-clocked", task="beat_tasks.note", clocked=clock,
    one_off=True, args=json.dumps(["db-clocked"]))
PeriodicTask.objects.create(name="db-off", task="beat_tasks.note", interval=every,
    enabled=False, args=json.dumps(["db-off"]))
PeriodicTask.objects.create(name="db-expired", task="beat_tasks.note", interval=every,
    expires=now - timedelta(hours=1), args=json.dumps(["db-expired"]))
PeriodicTask.objects.create(name="db-broken", task="beat_tasks.note", interval=every,
    args="not json")
print(json.dumps({"ran": ran.isoformat(), "clocked": at.isoformat()}))
"""
_BROKEN_ENABLED = """
import django
django.setup()
from django_celery_beat.models import PeriodicTask
print(PeriodicTask.objects.get(name="db-broken").enabled)
"""


def test_django_celery_beat(
    embedded_redis: RunningRedis, worker_factory: Any, tmp_path: Path
) -> None:
    broker = embedded_redis.url(13)
    env = {"DBEAT_DB": str(tmp_path / "beat.sqlite3"), "DJANGO_SETTINGS_MODULE": "dbeat.settings",
           "CELERY_BROKER": broker}  # fmt: skip
    django_env = {**os.environ, **env, "PYTHONPATH": str(APPS)}
    migrate = "import django; django.setup(); from django.core.management import call_command; "
    migrate += "call_command('migrate', verbosity=0)"
    for code in (migrate, _MAKE_ENTRIES):
        done = subprocess.run([sys.executable, "-c", code], cwd=APPS, env=django_env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout.strip().splitlines()[-1])
    added = _desk([], "profile", "add", "dbeat", "--broker", broker, "--app", "dbeat",
                  "--workdir", str(APPS), "--django-settings", "dbeat.settings",
                  env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    profile = ["--profile", "dbeat"]
    tokyo = Celery("tokyo", set_as_current=False)
    tokyo.conf.timezone = "Asia/Tokyo"

    entries, said = _listed(profile, env)
    assert set(entries) == {"db-interval", "db-cron", "db-solar", "db-clocked", "db-off",
                            "db-expired", "db-broken"}  # fmt: skip
    assert {e["source"] for e in entries.values()} == {"django"}
    assert "DatabaseScheduler (django)" in said
    interval = entries["db-interval"]
    ran = datetime.fromisoformat(made["ran"])
    assert _close(_at(interval["next_run"]), ran + timedelta(seconds=30), 0.01)
    assert _close(_at(interval["last_run"]), ran, 0.01) and interval["total_runs"] == 7
    assert _at(interval["next_run"]).utcoffset() == timedelta(hours=9)  # the app's Tokyo
    assert interval["queue"] == "beats" and interval["priority"] == 4
    cron = entries["db-cron"]
    assert cron["schedule"] == "at 07:30 on weekdays"
    assert cron["schedule_text"] == "30 7 * * 1-5 (Asia/Tokyo)"
    expected = _celery_next(crontab(minute=30, hour=7, day_of_week="1-5", app=tokyo))
    assert _close(_at(cron["next_run"]), expected, 0.01)
    sunrise = entries["db-solar"]
    expected = _celery_next(solar("sunrise", 35.6762, 139.6503, app=tokyo))
    assert sunrise["schedule_kind"] == "solar" and _close(_at(sunrise["next_run"]), expected, 2)
    clocked = entries["db-clocked"]
    assert clocked["schedule_kind"] == "clocked" and clocked["one_off"] is True
    assert _at(clocked["next_run"]) == datetime.fromisoformat(made["clocked"])
    assert entries["db-off"]["enabled"] is False and entries["db-off"]["next_run"] is None
    expired = entries["db-expired"]
    assert expired["state"] == "expired" and expired["next_run"] is None
    broken = entries["db-broken"]
    assert "JSONDecodeError" in broken["error"] and broken["schedule"] == "every 30 s"
    # django-celery-beat's own reading would disable the row (a write); the panel only reads
    still = subprocess.run([sys.executable, "-c", _BROKEN_ENABLED], cwd=APPS, env=django_env,
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert still.stdout.strip() == "True"
    refused = _desk(profile, "beat", "run", "db-broken", env=env)
    assert refused.returncode == 2 and "cannot load it" in refused.stderr

    worker = worker_factory("dbeat", broker, env)
    sent, note = _ran_as_beat(profile, "db-interval", worker, env)
    assert sent["queue"] == "beats" and sent["priority"] == 4
    assert note["label"] == "db-interval" and note["kwargs"] == {"source": "django"}
    assert note["routing_key"] == "beats" and note["priority"] == 4
    assert note["periodic_task_name"] == "db-interval"  # django-celery-beat's own header
    again, _ = _listed(profile, env)
    assert again["db-interval"]["total_runs"] == 7  # run now leaves beat's count alone
