"""acks_late and a worker killed mid-task: the task runs again elsewhere and completes.

RabbitMQ gives an unacknowledged message back the moment its consumer's connection dies.
Redis keeps it in the `unacked` hash until `visibility_timeout` has passed and a worker's
restore sweep (`unacked_restore_interval` x `unacked_restore_throttle`) finds it: the profile
settings make that short here, and the test measures how long it took.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from desktop.core.local.local_worker import STOPPED
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.settings.profile_model import Endpoints, TransportOverrides
from tests.integration.test_supervisor import Harness, make_profile

pytestmark = pytest.mark.slow


def _started_on(harness: Harness, task_id: str, timeout: float = 20.0) -> str:
    """The node a task started on, from its STARTED state in the result backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = harness.app.backend.get_task_meta(task_id)
        if meta.get("status") == "STARTED":
            return str((meta.get("result") or {}).get("hostname"))
        time.sleep(0.05)
    raise AssertionError(f"{task_id} did not start within {timeout} s")


def _kill_mid_task_and_see_it_finish_elsewhere(harness: Harness, queue: str) -> float:
    """Returns seconds from the kill to the task's success on the second worker."""
    spec = {"queues": [queue], "concurrency": 1, "prefetch_multiplier": 1, "acks_late": True}
    first = harness.start(WorkerSpec("first", **spec))
    # Long enough that the second worker is up before it ends on the first.
    result = harness.app.send_task("workers.tasks.sleep", args=[8], queue=queue)
    assert _started_on(harness, result.id) == first.nodename
    second = harness.start(WorkerSpec("second", **spec))
    harness.supervisor.kill("first")
    killed_at = time.monotonic()
    assert harness.supervisor.wait_stopped("first", 10).state == STOPPED
    assert result.get(timeout=60) == 8
    took = time.monotonic() - killed_at
    meta = harness.app.backend.get_task_meta(result.id)
    assert meta["worker"] == second.nodename
    return took


def test_rabbitmq_redelivers_a_killed_workers_task_at_once(
    amqp_url: str, embedded_redis: Any, tmp_path: Path, prefix: str
) -> None:
    profile = make_profile(amqp_url, embedded_redis.url(1), prefix)
    harness = Harness(tmp_path / "workers", profile, Endpoints(amqp_url, embedded_redis.url(1), ""))
    try:
        took = _kill_mid_task_and_see_it_finish_elsewhere(harness, prefix + "tasks")
        assert took < 10, f"RabbitMQ took {took:.1f} s to redeliver"
    finally:
        harness.close()
        with Connection(amqp_url) as conn:
            channel = conn.channel()
            for name in ("queue1", "queue2", "tasks"):
                Queue(prefix + name, Exchange(prefix + name), channel=channel).delete()
                Exchange(prefix + name, channel=channel).delete()


def test_redis_redelivers_after_the_visibility_timeout_and_a_restore_sweep(
    embedded_redis: Any, tmp_path: Path, prefix: str
) -> None:
    transport = TransportOverrides(
        visibility_timeout=4, unacked_restore_interval=1, unacked_restore_throttle=1
    )
    profile = make_profile(
        embedded_redis.url(0), embedded_redis.url(1), prefix, transport=transport
    )
    endpoints = Endpoints(profile.broker_url, profile.result_backend, "")
    harness = Harness(tmp_path / "workers", profile, endpoints)
    try:
        took = _kill_mid_task_and_see_it_finish_elsewhere(harness, prefix + "tasks")
        # Not before the visibility timeout; then within a sweep or two (and the 8 s task).
        expected = harness.config.redelivery_delay_s()
        assert expected == 4 + 1 * 1
        assert 4 <= took < expected + 8 + 10, took
    finally:
        harness.close()
