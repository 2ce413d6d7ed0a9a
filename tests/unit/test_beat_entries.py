"""The beat child's reading of an app's own beat_schedule (in-process, on a real Celery app),
and how the panel holds what it reports: one entry per task across sources, the scheduler
setting said as such, secrets kept out of errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.beat import BeatLazyFunc
from celery.schedules import crontab

from desktop.core.app.beat_probe import read_beat
from desktop.core.beat.entries import BeatEntry, from_child, merged, scheduler_source


def _app(schedule: dict[str, Any]) -> Celery:
    app = Celery("beat-unit", broker="memory://", set_as_current=False)
    app.conf.timezone = "Asia/Kolkata"
    app.conf.beat_schedule = schedule
    return app


def test_what_beat_would_send_is_caught_from_celerys_own_apply_async() -> None:
    app = _app({
        "lazy": {"task": "x.lazy", "schedule": timedelta(minutes=5),
                 "args": (BeatLazyFunc(lambda: 41 + 1),),
                 "options": {"queue": "q", "priority": 7, "headers": {"mine": "yes"}}},
        "objects": {"task": "x.obj", "schedule": 60.0, "kwargs": {"when": {1, 2}}},
        "broken": {"task": "x.broken", "schedule": "not a schedule"},
    })  # fmt: skip
    report = from_child(read_beat(app))
    lazy = report.find("lazy")
    assert lazy is not None and lazy.sendable
    assert lazy.send["args"] == [42]  # evaluated as beat evaluates it when sending
    assert lazy.send["options"]["queue"] == "q" and lazy.send["options"]["priority"] == 7
    assert lazy.send["options"]["headers"] == {"mine": "yes", "celery_beat_task": True}
    assert lazy.next_run is not None and lazy.next_run.endswith("+05:30")  # the app's zone
    objects = report.find("objects")
    assert objects is not None and not objects.sendable
    assert "keyword arguments are not JSON" in objects.why_not_sendable()
    broken = report.find("broken")
    assert broken is not None and broken.error and not broken.sendable
    assert report.scheduler == "celery.beat:PersistentScheduler"
    assert "beat_scheduler setting: celery.beat:PersistentScheduler (static)" in (
        report.scheduler_said()
    )


def test_json_object_has_every_field_of_beat_list() -> None:
    report = from_child(read_beat(_app({"c": {"task": "x.c", "schedule": crontab(minute=0)}})))
    document = report.entries[0].to_json()
    for key in ("name", "task", "schedule", "enabled", "last_run", "next_run", "total_runs",
                "missed", "source"):  # fmt: skip
        assert key in document
    assert document["missed"] is None and document["source"] == "static"
    assert document["schedule"] == "every hour at :00"
    assert document["schedule_text"] == "0 * * * * (Asia/Kolkata)"


def test_a_task_in_code_and_in_a_store_is_listed_once_from_the_store() -> None:
    code = [BeatEntry("a", "t", "static", {}), BeatEntry("b", "t", "static", {})]
    stored = [BeatEntry("a", "t", "redbeat", {}, total_runs=3)]
    listed = merged(code, stored)
    assert [(e.name, e.source, e.in_code) for e in listed] == [
        ("b", "static", False), ("a", "redbeat", True)]  # fmt: skip


def test_scheduler_setting_names_its_source() -> None:
    assert scheduler_source("django_celery_beat.schedulers:DatabaseScheduler") == "django"
    assert scheduler_source("django") == "django"
    assert scheduler_source("redbeat.RedBeatScheduler") == "redbeat"
    assert scheduler_source("celery.beat:PersistentScheduler") == "static"


def test_errors_never_carry_the_profiles_secrets() -> None:
    entry = {"name": "x", "source": "redbeat", "error": "cannot reach redis://:s3cret@host"}
    data = {"sources": {"redbeat": {"entries": [entry], "error": "auth s3cret failed"}}}
    report = from_child(data, ["s3cret"])
    assert "s3cret" not in report.entries[0].error
    assert "s3cret" not in report.sources["redbeat"].error
