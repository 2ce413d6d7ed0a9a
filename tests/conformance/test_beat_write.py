"""Changing periodic tasks with real parts: a real `celery beat` process runs each scheduler
(django-celery-beat's DatabaseScheduler on the test's SQLite file, RedBeat on the test's Redis)
and a worker started by hand runs what it sends, every second. `celery-desk beat disable`
must stop the running beat from sending the entry, `beat edit --every` must change when it
sends it next, and `beat run` must make the worker run it (the entry disabled, so only the
panel could have sent it); static entries refuse with the reason. Every run is seen in the
worker's notes (`beat_tasks.note` writes when it ran).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab

from desktop.core.beat.reading import read_beat
from desktop.core.beat.writing import (
    BeatChange,
    BeatWriteError,
    change_beat,
    crontab_schedule,
    interval_schedule,
)
from desktop.core.settings.profile_model import Endpoints, Profile
from tests.conformance.beat_parts import APPS, BeatProcess, HandWorker
from tests.conftest import RunningRedis
from tests.desk_cli import celery_desk

pytestmark = [pytest.mark.slow]

# A send may be late by up to one beat tick (--max-interval 1), never early; the worker's
# note adds its own latency.
_GRACE_S = 1.5


def _desk(profile: list[str], *args: str, env: dict[str, str]) -> Any:
    return celery_desk(*args, *profile, env={**os.environ, **env}, timeout=90)


def _runs(worker: HandWorker, label: str) -> list[float]:
    """When the worker ran the entry labelled `label`, in order."""
    if not worker.notes.exists():
        return []
    notes = [json.loads(line) for line in worker.notes.read_text().splitlines() if line]
    return sorted(n["at"] for n in notes if n["label"] == label)


def _wait_runs(worker: HandWorker, beat: BeatProcess, label: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(_runs(worker, label)) < count:
        assert time.monotonic() < deadline, f"{label} not sent {count} times:\n{beat.text()}"
        assert beat.process.poll() is None, beat.text()
        time.sleep(0.2)


def _changed(profile: list[str], env: dict[str, str], *args: str) -> tuple[dict, float]:
    """A change through the CLI, and when it was made (when the command returned)."""
    done = _desk(profile, "beat", *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), time.time()


def _follows_change(
    worker: HandWorker, beat: BeatProcess, disabled_at: float, edited_at: float
) -> None:
    """`tick`, disabled when `disabled_at`'s command returned, is never sent again; `tock` is
    sent every second until the edit (after the disable too: beat was alive), then every 4 s,
    the first of them 4 s after its last run before the edit."""
    time.sleep(max(0.0, edited_at + 10 - time.time()))
    ticks, tocks = _runs(worker, "tick"), _runs(worker, "tock")
    assert [t for t in ticks if t > disabled_at + _GRACE_S] == [], beat.text()
    seen = [t for t in tocks if t > disabled_at - 3]
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    switch = next((i for i, gap in enumerate(gaps) if gap > 2.0), None)
    assert switch is not None and switch >= 2, gaps  # about every second before the edit
    assert disabled_at - 0.5 <= seen[switch] <= edited_at, (seen, disabled_at, edited_at)
    assert len(gaps[switch:]) >= 2 and all(3.3 <= gap <= 5.5 for gap in gaps[switch:]), gaps


def _ran_now(profile: list[str], env: dict[str, str], worker: HandWorker) -> None:
    """`beat run tick` while tick is disabled: only the panel sent what the worker runs."""
    done = _desk(profile, "beat", "run", "tick", "--json", env=env)
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)
    assert worker.ran(sent["id"])["label"] == "tick"


_DJANGO_ENTRIES = """
import json, django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
for name in ("tick", "tock"):
    PeriodicTask.objects.create(name=name, task="beat_tasks.note", interval=every,
                                args=json.dumps([name]), queue="beats")
"""


def _django_project(tmp_path: Path, broker: str, code: str) -> tuple[list[str], dict[str, str]]:
    env = {"DBEAT_DB": str(tmp_path / "beat.sqlite3"), "DJANGO_SETTINGS_MODULE": "dbeat.settings",
           "CELERY_BROKER": broker}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=APPS, capture_output=True,
                          env={**os.environ, **env, "PYTHONPATH": str(APPS)}, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return ["--broker", broker, "--app", "dbeat", "--workdir", str(APPS)], env


def test_django_celery_beat_follows_changes(
    embedded_redis: RunningRedis, worker_factory: Any, beat_factory: Any, tmp_path: Path
) -> None:
    profile, env = _django_project(tmp_path, embedded_redis.url(14), _DJANGO_ENTRIES)
    worker = worker_factory("dbeat", env["CELERY_BROKER"], env)
    beat = beat_factory("dbeat", "django_celery_beat.schedulers:DatabaseScheduler", env)
    _wait_runs(worker, beat, "tick", 2)

    off, disabled_at = _changed(profile, env, "disable", "tick")
    assert off["enabled"] is False and off["source"] == "django" and off["done"] == "disabled"
    edited, edited_at = _changed(profile, env, "edit", "tock", "--every", "4")
    assert edited["schedule"] == "every 4 s" and edited["enabled"] is True
    _follows_change(worker, beat, disabled_at, edited_at)
    # the running DatabaseScheduler saw PeriodicTasks.changed bump and reloaded
    assert "DatabaseScheduler: Schedule changed." in beat.text()
    _ran_now(profile, env, worker)
    audit = _desk(profile, "audit", "--action", "beat disable", "--json", env=env)
    assert [(a["target"], a["reply"]) for a in json.loads(audit.stdout)] == [("tick", "disabled")]


_DJANGO_CRON = """
import json, django
from zoneinfo import ZoneInfo
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
from django_celery_beat.models import CrontabSchedule, PeriodicTask
cron = CrontabSchedule.objects.create(minute="0", hour="6", timezone=ZoneInfo("Europe/Paris"))
PeriodicTask.objects.create(name="paris", task="beat_tasks.note", crontab=cron,
                            args=json.dumps(["paris"]))
"""


def test_django_crontab_edit_add_and_delete(
    embedded_redis: RunningRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile, env = _django_project(tmp_path, embedded_redis.url(14), _DJANGO_CRON)
    edited, _ = _changed(profile, env, "edit", "paris", "--crontab", "30 7 * * 1-5",
                         "--args", '["paris", 2]', "--kwargs", '{"k": "v"}')  # fmt: skip
    # the crontab keeps its own timezone (django-celery-beat's), not the app's Tokyo
    assert edited["schedule_text"] == "30 7 * * 1-5 (Europe/Paris)"
    assert edited["schedule"] == "at 07:30 on weekdays"
    assert edited["args"] == ["paris", 2] and edited["kwargs"] == {"k": "v"}
    paris = Celery("paris", set_as_current=False)
    paris.conf.timezone = "Europe/Paris"
    cron = crontab(minute=30, hour=7, day_of_week="1-5", app=paris)
    next_run = datetime.fromisoformat(edited["next_run"])
    expected = cron.now() + cron.remaining_estimate(cron.now())
    assert abs((next_run - expected).total_seconds()) < 1  # Celery's own answer, in Paris
    bad = _desk(profile, "beat", "edit", "paris", "--crontab", "61 * * * *", env=env)
    assert bad.returncode == 2 and "crontab '61 * * * *'" in bad.stderr
    refused = _desk(profile, "beat", "delete", "paris", env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    # added through the core's change_beat, a crontab in the app's timezone (Tokyo), as
    # django-celery-beat's DatabaseScheduler makes one for a beat_schedule crontab
    monkeypatch.setenv("DBEAT_DB", env["DBEAT_DB"])
    item, endpoints = _profile("dbeat", env["CELERY_BROKER"])
    change = BeatChange("tokyo", "django", "add", schedule=crontab_schedule("0 9 * * *"),
                        task="beat_tasks.note", args=["tokyo"], options={"queue": "beats",
                        "priority": 5})  # fmt: skip
    added = change_beat(item, endpoints, change, 30)
    assert added.schedule_text == "0 9 * * * (Asia/Tokyo)" and added.facts["priority"] == 5
    assert added.send["options"]["headers"]["periodic_task_name"] == "tokyo"
    assert datetime.fromisoformat(str(added.next_run)).hour == 9

    gone, _ = _changed(profile, env, "delete", "paris", "--yes")
    assert gone["done"] == "deleted" and gone["name"] == "paris"
    listed = _desk(profile, "beat", "list", "--json", env=env)
    assert "paris" not in {e["name"] for e in json.loads(listed.stdout)}
    unknown = _desk(profile, "beat", "enable", "paris", env=env)
    assert unknown.returncode == 2 and "no periodic task named 'paris'" in unknown.stderr


def _profile(module: str, broker: str) -> tuple[Profile, Endpoints]:
    """The profile in this process, for the core's own `change_beat` (what the window calls)."""
    item = Profile(name=module, broker_url=broker, result_backend="", app_module=module,
                   workdir=str(APPS))  # fmt: skip
    return item, Endpoints(broker, "", "")


def test_redbeat_follows_changes(
    embedded_redis: RunningRedis,
    worker_factory: Any,
    beat_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redbeat.schedulers import RedBeatSchedulerEntry, get_redis

    broker = embedded_redis.url(15)
    prefix = f"deskwrite-{uuid.uuid4().hex[:6]}:"
    env = {"REDBEAT_PREFIX": prefix, "CELERY_BROKER": broker}
    app = Celery("beat_redbeat", broker=broker, set_as_current=False)
    app.conf.update(timezone="America/New_York", redbeat_redis_url=broker,
                    redbeat_key_prefix=prefix)  # fmt: skip
    for name in ("tick", "tock"):
        RedBeatSchedulerEntry(name, "beat_tasks.note", timedelta(seconds=1), args=[name],
                              options={"queue": "beats"}, app=app).save()  # fmt: skip
    profile = ["--broker", broker, "--app", "beat_redbeat", "--workdir", str(APPS)]
    worker = worker_factory("beat_redbeat", broker, env)
    beat = beat_factory("beat_redbeat", "redbeat.RedBeatScheduler", env)
    _wait_runs(worker, beat, "tick", 2)

    off, disabled_at = _changed(profile, env, "disable", "tick")
    assert off["enabled"] is False and off["source"] == "redbeat"
    edited, edited_at = _changed(profile, env, "edit", "tock", "--every", "4")
    assert edited["schedule"] == "every 4 s"
    # RedBeat's own entry holds the new schedule and is still in its sorted set (its score is
    # rewritten by the running beat after each send, so only its presence is RedBeat's rule)
    own = RedBeatSchedulerEntry.from_key(f"{prefix}tock", app=app)
    assert own.schedule.run_every == timedelta(seconds=4)
    assert get_redis(app).zscore(f"{prefix}:schedule", f"{prefix}tock") is not None
    assert RedBeatSchedulerEntry.from_key(f"{prefix}tick", app=app).enabled is False
    _follows_change(worker, beat, disabled_at, edited_at)
    _ran_now(profile, env, worker)

    # a new entry, added through RedBeat's entry API: the running beat sends it
    monkeypatch.setenv("REDBEAT_PREFIX", prefix)
    every = interval_schedule(1)
    fresh = BeatChange("fresh", "redbeat", "add", schedule=every, task="beat_tasks.note",
                       args=("fresh",), options={"queue": "beats"})  # fmt: skip
    added = change_beat(*_profile("beat_redbeat", broker), fresh, 30)
    assert added.source == "redbeat" and added.enabled and added.words == "every 1 s"
    assert added.send["options"]["queue"] == "beats"
    _wait_runs(worker, beat, "fresh", 2)
    with pytest.raises(BeatWriteError, match="already has a periodic task named 'fresh'") as err:
        change_beat(*_profile("beat_redbeat", broker), fresh, 30)
    assert err.value.refused

    # a crontab, then the entry's own schedule (as the panel read it: tz, sets) given back
    # with new arguments, as the Beat screen's edit does
    cron, _ = _changed(profile, env, "edit", "tick", "--crontab", "0 9 * * 1-5")
    assert cron["schedule_text"] == "0 9 * * 1-5 (America/New_York)" and not cron["enabled"]
    tick = read_beat(*_profile("beat_redbeat", broker)).find("tick")
    assert tick is not None and tick.schedule_text == cron["schedule_text"]
    again = BeatChange("tick", "redbeat", "edit", schedule=tick.schedule, args=["tick", 2])
    tick = change_beat(*_profile("beat_redbeat", broker), again, 30)
    assert tick.schedule_text == cron["schedule_text"] and tick.args == ["tick", 2]
    own = RedBeatSchedulerEntry.from_key(f"{prefix}tick", app=app)
    assert own.args == ["tick", 2] and own.schedule == crontab(minute=0, hour=9,
                                                               day_of_week="1-5")  # fmt: skip

    gone, _ = _changed(profile, env, "delete", "tock", "--yes")
    assert gone["done"] == "deleted"
    assert not get_redis(app).exists(f"{prefix}tock")
    assert get_redis(app).zscore(f"{prefix}:schedule", f"{prefix}tock") is None


def test_static_entries_refuse_with_the_reason(embedded_redis: RunningRedis) -> None:
    profile = ["--broker", embedded_redis.url(11), "--app", "beat_static", "--workdir", str(APPS)]
    for args in (["disable", "every-ten"], ["edit", "every-ten", "--every", "5"],
                 ["delete", "every-ten", "--yes"]):  # fmt: skip
        done = _desk(profile, "beat", *args, env={})
        assert done.returncode == 2, done.stderr
        assert "lives in the app's code (beat_schedule): change it there" in done.stderr
    unknown = _desk(profile, "beat", "disable", "nope", env={})
    assert unknown.returncode == 2 and "no periodic task named 'nope'" in unknown.stderr
    # nor is RedBeat written for an app that does not use it (RedBeat is installed here)
    add = BeatChange("new", "redbeat", "add", schedule=interval_schedule(5), task="beat_tasks.note")
    with pytest.raises(BeatWriteError, match="the app does not use RedBeat") as refused:
        change_beat(*_profile("beat_static", embedded_redis.url(11)), add, 30)
    assert refused.value.refused
