"""The tutorial's Django project, as the tutorial has it (no TIME_ZONE: Django's default
America/Chicago), monitored by a panel in UTC: times on the panel's clock, in order.

Django sets the worker's TZ to America/Chicago, so its events say `utcoffset` 6 (5 in summer)
while the panel's say 0; Celery's receiver used to move the worker's times back by that
difference, hours before the task was even sent.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.utils.time import utcoffset

from desktop.core.app.panel_app import panel_app
from desktop.core.base.clocks import drifted
from desktop.core.broker import run_order
from desktop.core.monitor.events import CONNECTED
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import StateDiff
from tests.factories import app_config
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
DCELERY = REPO_ROOT / "tests" / "fixtures" / "dcelery"
BUSY_TASKS = 20  # apis.tasks.task1 sleeps 0.1 s: the worker is busy for 2 s and more


@pytest.fixture
def panel_in_utc() -> Iterator[None]:
    """This process (the panel) in UTC, whatever the machine's zone: the worker's then differs."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def tutorial_settings(directory: Path) -> str:
    """The fixture project's settings less their TIME_ZONE line, as in the tutorial."""
    (directory / "tutorial_settings.py").write_text(
        "from dcelery.settings import *  # noqa: F403\n\ndel TIME_ZONE  # noqa: F821\n",
        encoding="utf-8",
    )
    return "tutorial_settings"


def test_a_task_queued_behind_a_busy_chicago_worker(
    embedded_redis: Any, tmp_path: Path, panel_in_utc: None
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    diffs: list[StateDiff] = []
    rates = Rates(window_s=120)

    def on_diff(diff: StateDiff) -> None:
        diffs.append(diff)
        rates.add(diff)

    monitor = Monitor(embedded_redis.url(0), "", journal, on_diff=on_diff)
    settings = tutorial_settings(tmp_path)
    worker = WorkerProcess(
        queues=["queue1"],
        broker_url=embedded_redis.url(0),
        backend_url="",
        log_path=tmp_path / "worker.log",
        app_module="dcelery",
        cwd=DCELERY,
        extra_env={
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.getenv("PYTHONPATH")])),
        },
    )
    client = panel_app(embedded_redis.url(0))
    monitor.start()
    try:
        wait_for(lambda: monitor.stream.state == CONNECTED, 10, "the event stream")
        with running_worker(client, worker) as running:
            began = time.time()
            busy = [client.send_task("apis.tasks.task1", queue="queue1") for _ in range(BUSY_TASKS)]
            queued = client.send_task("apis.tasks.t1", args=[1, 2], queue="queue1")
            row = wait_for(
                lambda: (r := journal.get(queued.id)) and r["state"] == "SUCCESS" and r,
                30,
                "t1 to succeed",
            )
            ended = time.time()
            seen = [
                w for d in list(diffs) for w in d.workers_changed if w.hostname == running.nodename
            ]

        # The worker really ran in another zone than the panel.
        timeline = journal.timeline(queued.id)
        fields = json.loads(next(e for e in timeline if e["type"] == "task-succeeded")["fields"])
        assert fields["hostname"] == running.nodename
        assert fields["utcoffset"] in (5.0, 6.0) and utcoffset() == 0.0

        # Journal rows: every time within the test, in order; t1 waited behind the busy worker.
        for task_id in [*(r.id for r in busy), queued.id]:
            task = journal.get(task_id)
            assert task is not None and task["state"] == "SUCCESS", task
            times = [task[c] for c in ("sent", "received", "started", "finished")]
            assert all(t is not None and began <= t <= ended for t in times), task
            assert times == sorted(times), task
        assert row["received"] - row["sent"] > 1.0
        (ran,) = [
            r
            for r in run_order.started_order(
                journal.started_in_queue("queue1"), "queue1", app_config()
            )
            if r.id == queued.id
        ]
        assert ran.wait_s is not None and ran.wait_s > 1.0
        assert [e["type"] for e in timeline] == [
            "task-sent", "task-received", "task-started", "task-succeeded"
        ]  # fmt: skip

        # The monitor's in-memory state says the same.
        task = monitor.state.tasks[queued.id]
        assert task["sent"] <= task["received"] <= task["started"] <= task["succeeded"]
        assert task["received"] - task["sent"] > 1.0

        # The charts count every task as started and finished.
        assert sum(rates.series("state", "started")[1]) == BUSY_TASKS + 1
        assert sum(rates.series("state", "succeeded")[1]) == BUSY_TASKS + 1

        # Same machine, same clock: heard from just now, no drift to speak of.
        last = seen[-1]
        assert last.heartbeat is not None and began <= last.heartbeat <= ended
        assert last.clock_offset is not None and abs(last.clock_offset) < 1.0
        assert not drifted(last.clock_offset)
    finally:
        client.close()
        assert monitor.stop(timeout=5) is True
        journal.close()
