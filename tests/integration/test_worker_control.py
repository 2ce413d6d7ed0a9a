"""Remote control of a real worker: inspect, pool, consumers, limits, shutdown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from desktop.core.app.panel_app import panel_app
from desktop.core.broker.control import ControlError, inspect_workers, worker_command
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.slow


@pytest.fixture
def app(embedded_redis: Any) -> Iterator[Celery]:
    celery_app = panel_app(embedded_redis.url(0), embedded_redis.url(1))
    yield celery_app
    celery_app.close()


def test_inspect_and_control_one_worker(embedded_redis: Any, app: Celery, tmp_path: Path) -> None:
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        concurrency=1,
    )
    with running_worker(app, worker) as running:
        node = running.nodename
        facts = inspect_workers(app)[node]
        assert facts["queues"] == ["tasks"]
        assert facts["concurrency"] == 1
        assert facts["pool"]

        reply = worker_command(app, "add_consumer", node, queue="queue1")
        assert "add consumer" in reply.lower() and node in reply
        assert inspect_workers(app)[node]["queues"] == ["queue1", "tasks"]
        reply = worker_command(app, "cancel_consumer", node, queue="queue1")
        assert "no longer consuming" in reply.lower()

        assert "rate limit set" in worker_command(
            app, "rate_limit", node, task="workers.tasks.t1", rate="10/m"
        )
        assert "time limits set" in worker_command(
            app, "time_limit", node, task="workers.tasks.sleep", soft=5, hard=10
        )
        assert "pool will grow" in worker_command(app, "pool_grow", node, n=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (inspect_workers(app).get(node) or {}).get("processes") == 2:
                break
            time.sleep(0.2)
        assert inspect_workers(app)[node]["processes"] == 2

        with pytest.raises(ControlError):
            worker_command(app, "add_consumer", node, queue=" ")
        with pytest.raises(ControlError):
            worker_command(app, "autoscale", node, max=1, min=3)
        with pytest.raises(ControlError):
            worker_command(app, "frobnicate", node)

        assert "shutdown sent" in worker_command(app, "shutdown", node)
        assert worker.proc is not None
        worker.proc.wait(timeout=20)
    assert "no reply" in worker_command(app, "pool_grow", node)
