"""`celery-desk why ID --json` names each case's cause as the first problem, with real workers.

One Redis, one `celery-desk record` and two workers for the module: `main` consumes the app's
`tasks` queue (it knows the app's tasks, has two processes free), `narrow` consumes `queue1`
with one process and prefetch 1 (acks_late, as the app sets). `queue2` has no consumer. The
worker-lost case starts a worker of its own and SIGKILLs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import workers.tasks  # noqa: F401
from tests.conftest import redis_server
from tests.desk_cli import celery_desk
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from workers import create_app

pytestmark = pytest.mark.slow
PROFILE = "why"


@dataclass
class Cluster:
    env: dict[str, str]
    client: Celery
    prefix: str
    broker_url: str
    backend_url: str
    root: Path

    def why(self, task_id: str) -> dict[str, Any]:
        done = celery_desk("--profile", PROFILE, "why", task_id, "--json", env=self.env)
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def cause(self, task_id: str, expected: str, within: float = 20.0) -> dict[str, Any]:
        """The diagnosis once its first problem is `expected` (events and the backend take
        a moment to arrive), or the last one seen, failing."""
        deadline = time.monotonic() + within
        while True:
            found = self.why(task_id)
            problems = [c for c in found["checks"] if c["verdict"] == "problem"]
            if problems and problems[0]["check"] == expected:
                return found
            assert time.monotonic() < deadline, json.dumps(found, indent=2)
            time.sleep(0.5)

    def worker(self, name: str, queue: str, concurrency: int = 1) -> WorkerProcess:
        return WorkerProcess(
            queues=[self.prefix + queue],
            broker_url=self.broker_url,
            backend_url=self.backend_url,
            log_path=self.root / f"{name}.log",
            queue_prefix=self.prefix,
            name=f"{name}-{uuid.uuid4().hex[:6]}",
            concurrency=concurrency,
            extra_env={k: v for k, v in self.env.items() if k.startswith("CELERY_DESK_")},
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("why")
    prefix = f"w{uuid.uuid4().hex[:6]}-"
    with ExitStack() as stack:
        broker = stack.enter_context(redis_server(root / "redis"))
        env = dict(os.environ)
        env.update(
            CELERY_DESK_CONFIG_DIR=str(root / "config"),
            CELERY_DESK_DATA_DIR=str(root / "data"),
            CELERY_DESK_QUEUE_PREFIX=prefix,
        )
        added = celery_desk(
            "profile", "add", PROFILE, "--broker", broker.url(0), "--backend", broker.url(1),
            "--app", "workers", "--workdir", str(REPO_ROOT), env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        recorder = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", PROFILE, "record"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        stack.callback(_stop, recorder)
        client = create_app(broker.url(0), broker.url(1), queue_prefix=prefix)
        stack.callback(client.close)
        found = Cluster(env, client, prefix, broker.url(0), broker.url(1), root)
        stack.enter_context(running_worker(client, found.worker("main", "tasks", 2)))
        stack.enter_context(running_worker(client, found.worker("narrow", "queue1")))
        _wait_for_journal(root / "data", recorder)
        yield found


def _stop(recorder: subprocess.Popen[str]) -> None:
    recorder.send_signal(signal.SIGTERM)
    recorder.communicate(timeout=15)


def _wait_for_journal(data: Path, recorder: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    journals = data / "journals"
    while not (journals.is_dir() and any(journals.iterdir())):
        assert recorder.poll() is None, recorder.communicate()[1]
        assert time.monotonic() < deadline, "the recorder made no journal within 20 s"
        time.sleep(0.2)
    time.sleep(1.0)  # subscribed to events by now


def _first_problem(found: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in found["checks"] if c["verdict"] == "problem")


def test_a_task_in_a_queue_nobody_consumes(cluster: Cluster) -> None:
    sent = cluster.client.tasks["workers.tasks.add"].apply_async(
        (1, 2), queue=cluster.prefix + "queue2"
    )
    found = cluster.cause(sent.id, "no-consumer")
    assert found["id"] == sent.id
    assert set(found["checks"][0]) == {"check", "verdict", "evidence", "fix"}
    assert f"{cluster.prefix}queue2" in _first_problem(found)["evidence"]
    location = found["checks"][0]
    assert location["check"] == "location" and "position 0" in location["evidence"]


def test_a_task_the_consuming_worker_does_not_know(cluster: Cluster) -> None:
    sent = cluster.client.send_task("workers.tasks.nope", queue=cluster.prefix + "tasks")
    problem = _first_problem(cluster.cause(sent.id, "unregistered"))
    assert "workers.tasks.nope" in problem["evidence"] and problem["fix"]


def test_a_task_behind_a_busy_worker(cluster: Cluster) -> None:
    queue = cluster.prefix + "queue1"
    running = cluster.client.tasks["workers.tasks.sleep"].apply_async((8,), queue=queue)
    deadline = time.monotonic() + 15
    while cluster.client.AsyncResult(running.id).state != "STARTED":
        assert time.monotonic() < deadline, "the long task did not start"
        time.sleep(0.2)
    waiting = cluster.client.tasks["workers.tasks.add"].apply_async((2, 3), queue=queue)
    problem = _first_problem(cluster.cause(waiting.id, "workers-busy"))
    assert "1/1 processes busy" in problem["evidence"] and running.id in problem["evidence"]


def test_a_task_with_a_ten_minute_countdown(cluster: Cluster) -> None:
    sent = cluster.client.tasks["workers.tasks.add"].apply_async(
        (3, 4), countdown=600, queue=cluster.prefix + "tasks"
    )
    found = cluster.cause(sent.id, "eta-pending")
    problem = _first_problem(found)
    assert "due at" in problem["evidence"] and "holds it" in problem["evidence"]
    cluster.client.control.revoke(sent.id)


def test_a_revoked_task(cluster: Cluster) -> None:
    task_id = str(uuid.uuid4())
    cluster.client.control.revoke(task_id)
    cluster.client.tasks["workers.tasks.add"].apply_async(
        (4, 5), task_id=task_id, queue=cluster.prefix + "tasks"
    )
    problem = _first_problem(cluster.cause(task_id, "revoked"))
    assert "revoked" in problem["evidence"].lower() or "REVOKED" in problem["evidence"]


def test_an_expired_task(cluster: Cluster) -> None:
    sent = cluster.client.tasks["workers.tasks.add"].apply_async(
        (5, 6), expires=datetime.now(UTC) - timedelta(minutes=1), queue=cluster.prefix + "tasks"
    )
    problem = _first_problem(cluster.cause(sent.id, "expired"))
    assert "expir" in problem["evidence"]


def test_a_task_whose_worker_was_killed_while_running_it(cluster: Cluster) -> None:
    lost = cluster.worker("lost", "lost")
    with running_worker(cluster.client, lost):
        sent = cluster.client.tasks["workers.tasks.sleep"].apply_async(
            (10,), queue=cluster.prefix + "lost"
        )
        deadline = time.monotonic() + 15
        while cluster.client.AsyncResult(sent.id).state != "STARTED":
            assert time.monotonic() < deadline, "the task did not start"
            time.sleep(0.2)
        time.sleep(0.5)  # its task-started event reaches the journal
        lost.send_signal(signal.SIGKILL)
        assert lost.proc is not None
        lost.proc.wait(timeout=10)
        try:
            problem = _first_problem(cluster.cause(sent.id, "worker-lost"))
        finally:
            with contextlib.suppress(ProcessLookupError):  # its pool process, if it lives on
                os.killpg(lost.proc.pid, signal.SIGKILL)
    assert lost.nodename in problem["evidence"]
    assert "unacked hash" in problem["evidence"]  # acks_late: Redis will deliver it again,
    assert "between" in problem["evidence"]  # from when the worker took it


def test_a_broker_that_does_not_answer_is_exit_1_with_the_checks_unknown(
    tmp_path: Path, unused_port: int
) -> None:
    """Nothing listens: every source is named on stderr, the diagnosis still prints (its
    checks unknown, none a made-up problem), and the URL's password is never shown."""
    url = f"redis://:s3cret-pw@127.0.0.1:{unused_port}"
    done = celery_desk(
        "why", "some-task", "--json", "--timeout", "3", "--broker", f"{url}/0",
        "--backend", f"{url}/1", "--app", "workers", "--workdir", str(REPO_ROOT),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    assert found["id"] == "some-task"
    verdicts = {c["check"]: c["verdict"] for c in found["checks"]}
    assert verdicts["location"] == verdicts["worker-lost"] == verdicts["no-consumer"] == "unknown"
    assert "problem" not in verdicts.values()
    for source in ("the result backend", "the broker (reading the queues)", "the workers"):
        assert f"error: {source}" in done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr


@pytest.mark.parametrize("task_id", ["", "two words", "bell\x07"])
def test_a_task_id_that_cannot_be_one_is_exit_2(task_id: str) -> None:
    done = celery_desk("why", task_id, "--broker", "redis://127.0.0.1:1/0")
    assert done.returncode == 2
    assert "give a task id" in done.stderr and not done.stdout
