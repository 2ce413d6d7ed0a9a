"""A real worker process takes the tutorial's t1 off a real broker and returns its result."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import workers.tasks  # noqa: F401  (registers the shared tasks on the client app)
from tests.integration.worker_process import (
    WorkerProcess,
    delete_rabbitmq_entities,
    rabbitmq_queue_exists,
    running_worker,
)
from workers import create_app
from workers.queues import queue_names

pytestmark = pytest.mark.slow
EXPECTED = "1 + 2 = 3, message: addition performed"


@pytest.fixture
def client_factory() -> Iterator[list[Celery]]:
    apps: list[Celery] = []
    yield apps
    for app in apps:
        app.close()


def _roundtrip(
    client: Celery, broker_url: str, backend_url: str, prefix: str, log_path: Path
) -> WorkerProcess:
    worker = WorkerProcess(
        queues=[client.conf.task_default_queue],
        broker_url=broker_url,
        backend_url=backend_url,
        queue_prefix=prefix,
        log_path=log_path,
    )
    assert broker_url not in " ".join(worker.argv), "passwords stay out of argv"
    with running_worker(client, worker) as running:
        assert running.ready_after is not None and running.ready_after < 20
        t1 = client.tasks["workers.tasks.t1"]
        result = t1.apply_async(args=[1, 2], kwargs={"message": "addition performed"}, priority=6)
        assert result.get(timeout=20) == EXPECTED
        assert result.state == "SUCCESS"
        # result_extended puts the routing facts into the backend.
        meta = client.backend.get_task_meta(result.id)
        assert meta["name"] == "workers.tasks.t1"
        assert meta["queue"] == prefix + "tasks"
        assert meta["worker"] == running.nodename
    assert worker.proc is not None and worker.proc.returncode is not None
    assert worker.proc.returncode in (0, -signal.SIGTERM), worker.output()
    assert "workers.tasks.t1" in worker.output()
    return worker


def test_redis_worker_roundtrip(
    embedded_redis: Any, client_factory: list[Celery], tmp_path: Path
) -> None:
    broker_url = embedded_redis.url(0)
    backend_url = embedded_redis.url(1)
    client = create_app(broker_url, backend_url, queue_prefix="")
    client_factory.append(client)
    worker = _roundtrip(client, broker_url, backend_url, "", tmp_path / "worker.log")
    assert "succeeded" in worker.output()


@pytest.mark.rabbitmq
def test_rabbitmq_worker_roundtrip(
    amqp_url: str,
    embedded_redis: Any,
    run_id: str,
    client_factory: list[Celery],
    tmp_path: Path,
) -> None:
    prefix = f"cdtest-{run_id}-"
    names = queue_names(prefix)
    backend_url = embedded_redis.url(1)
    client = create_app(amqp_url, backend_url, queue_prefix=prefix)
    client_factory.append(client)
    try:
        _roundtrip(client, amqp_url, backend_url, prefix, tmp_path / "worker.log")
        assert rabbitmq_queue_exists(amqp_url, prefix + "tasks")
    finally:
        existed = delete_rabbitmq_entities(amqp_url, names)
    assert prefix + "tasks" in existed
    assert not any(rabbitmq_queue_exists(amqp_url, name) for name in names)
