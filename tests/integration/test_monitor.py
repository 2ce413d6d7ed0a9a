"""The live pipeline with real parts: worker events -> state -> journal, reconnects, catch-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from celery import Celery

import workers.tasks  # noqa: F401  (registers the shared tasks on the client app)
from desktop.core.broker.embedded import EmbeddedRedis
from desktop.core.monitor.events import CONNECTED, RECONNECTING
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.monitor.state import StateDiff
from desktop.core.settings.secret_store import FileSecretStore
from tests.integration.worker_process import WorkerProcess, running_worker
from tests.waiting import wait_for
from workers import create_app

pytestmark = pytest.mark.slow


class Recorder:
    def __init__(self) -> None:
        self.states: list[str] = []
        self.diffs: list[StateDiff] = []

    def status(self, state: str, message: str) -> None:
        self.states.append(state)

    def diff(self, diff: StateDiff) -> None:
        self.diffs.append(diff)


@pytest.fixture
def client(embedded_redis: Any) -> Iterator[Celery]:
    app = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
    yield app
    app.close()


def test_worker_events_reach_state_and_journal(
    embedded_redis: Any, client: Celery, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    seen = Recorder()
    monitor = Monitor(
        embedded_redis.url(0), embedded_redis.url(1), journal,
        on_diff=seen.diff, on_status=seen.status,
    )  # fmt: skip
    monitor.start()
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: monitor.stream.state == CONNECTED, 10, "the event stream")
        with running_worker(client, worker) as running:
            ok = client.tasks["workers.tasks.t1"].apply_async(
                args=[1, 2], kwargs={"message": "hi"}, priority=3
            )
            bad = client.tasks["workers.tasks.fail"].apply_async(args=["boom"])
            assert ok.get(timeout=20) == "1 + 2 = 3, message: hi"
            with pytest.raises(ValueError):
                bad.get(timeout=20)
            row = wait_for(
                lambda: (r := journal.get(ok.id)) and r["state"] == "SUCCESS" and r, 10, "SUCCESS"
            )
            failed = wait_for(
                lambda: (r := journal.get(bad.id)) and r["state"] == "FAILURE" and r, 10, "FAILURE"
            )
            assert row["name"] == "workers.tasks.t1"
            assert row["worker"] == running.nodename
            assert "1, 2" in row["args"] and "hi" in row["kwargs"]
            assert "1 + 2 = 3" in row["result"]
            assert row["runtime"] is not None and row["runtime"] >= 0
            assert row["routing_key"] == "tasks"
            assert "ValueError" in failed["exception"] and "boom" in failed["exception"]
            assert "Traceback" in failed["traceback"]
            types = [e["type"] for e in journal.timeline(ok.id)]
            for expected in ("task-sent", "task-received", "task-started", "task-succeeded"):
                assert expected in types
            added = {r.id for d in seen.diffs for r in d.tasks_added}
            assert ok.id in added and bad.id in added
            assert any(
                w.hostname == running.nodename for d in seen.diffs for w in d.workers_changed
            )
    finally:
        assert monitor.stop(timeout=5) is True
        journal.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("events-")]


def test_tasks_finished_while_away_are_reconciled_from_the_backend(
    embedded_redis: Any, client: Celery, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
    )
    with running_worker(client, worker):
        result = client.tasks["workers.tasks.add"].apply_async(args=[2, 3])
        journal.record_submitted(result.id, "workers.tasks.add", queue="tasks", priority=7)
        assert result.get(timeout=20) == 5
        finished_at = result.date_done.timestamp()
    assert journal.get(result.id)["state"] == "PENDING"  # nobody was listening
    monitor = Monitor(embedded_redis.url(0), embedded_redis.url(1), journal)
    monitor.start()
    try:
        row = wait_for(
            lambda: (r := journal.get(result.id)) and r["state"] == "SUCCESS" and r, 10, "catch-up"
        )
        assert row["result"] == "5"
        assert row["priority"] == 7 and row["queue"] == "tasks"  # what the panel recorded
        # When it finished, from the backend's date_done, not when the panel caught up.
        assert abs(row["finished"] - finished_at) < 0.001
    finally:
        monitor.stop()
        journal.close()


def test_a_pickled_result_is_shown_as_not_decoded_and_never_unpickled(
    embedded_redis: Any, tmp_path: Path
) -> None:
    import pickle

    import redis

    from desktop.core.monitor.reconcile import reconcile
    from tests.integration.test_event_stream import Exploding

    journal = Journal(tmp_path / "journal.sqlite3")
    task_id = f"pickled-{time.time_ns()}"
    journal.record_submitted(task_id, "workers.tasks.add", queue="tasks")
    marker = tmp_path / "unpickled"
    backend_url = embedded_redis.url(1)
    client = redis.Redis.from_url(backend_url)
    key = f"celery-task-meta-{task_id}"
    client.set(key, pickle.dumps({"status": "SUCCESS", "result": Exploding(marker)}), ex=300)
    try:
        assert reconcile(journal, backend_url) >= 1
        row = journal.get(task_id)
        assert row is not None and row["state"] == "PENDING"
        assert row["result"].startswith("not decoded") and "never unpickles" in row["result"]
        assert not marker.exists(), "the backend's pickle was loaded"
        assert reconcile(journal, backend_url) == 0  # said once
    finally:
        client.delete(key)
        client.close()
        journal.close()


def test_broker_outage_is_reported_and_the_stream_resumes(tmp_path: Path) -> None:
    broker = EmbeddedRedis(tmp_path / "broker", FileSecretStore(tmp_path / "secrets.json"))
    broker.start()
    url = broker.url(0)
    journal = Journal(tmp_path / "journal.sqlite3")
    seen = Recorder()
    monitor = Monitor(url, "", journal, on_status=seen.status)
    monitor.start()
    try:
        wait_for(lambda: monitor.stream.state == CONNECTED, 10, "first connection")
        broker.stop()
        wait_for(lambda: RECONNECTING in seen.states, 15, "the outage to be noticed")
        assert monitor.stream.stats.last_error
        time.sleep(2)
        restarted = broker.start()
        assert broker.url(0) == url, "the embedded broker comes back on the same port"
        assert restarted.running
        wait_for(
            lambda: seen.states[-1] == CONNECTED and seen.states.count(CONNECTED) >= 2,
            30,
            "the stream to resume by itself",
        )
        app = Celery(broker=url, set_as_current=False)

        def send_and_check() -> Any:
            # Pub/sub delivers only to subscribers of that instant: send until one arrives.
            with app.events.default_dispatcher(hostname="desk-test@local") as dispatcher:
                dispatcher.send(
                    "task-received", uuid="after-outage", name="x.y", timestamp=time.time()
                )
            time.sleep(0.3)
            return journal.get("after-outage")

        wait_for(send_and_check, 15, "an event sent after the outage")
        app.close()
    finally:
        monitor.stop()
        journal.close()
        broker.stop()


@pytest.mark.timeout(170)
def test_a_30_s_broker_outage_while_tasks_run_ends_in_their_true_final_states(
    tmp_path: Path,
) -> None:
    """The issue's fault case: the broker stops for 30 s while a task runs, then comes back."""
    broker = EmbeddedRedis(tmp_path / "broker", FileSecretStore(tmp_path / "secrets.json"))
    broker.start()
    url, backend = broker.url(0), broker.url(1)
    client = create_app(url, backend, queue_prefix="")
    journal = Journal(tmp_path / "journal.sqlite3")
    messages: list[tuple[str, str]] = []
    monitor = Monitor(
        url,
        backend,
        journal,
        on_status=lambda state, text: messages.append((state, text)),
        reconcile_every_s=10,
    )
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=url,
        backend_url=backend,
        log_path=tmp_path / "worker.log",
        concurrency=2,
    )

    def state_of(task_id: str) -> str:
        row = journal.get(task_id)
        return str(row["state"]) if row else ""

    monitor.start()
    try:
        wait_for(lambda: monitor.stream.state == CONNECTED, 10, "the event stream")
        with running_worker(client, worker):
            quick = [
                client.tasks["workers.tasks.add"].apply_async(args=[i, i], queue="tasks")
                for i in range(5)
            ]
            slow = client.tasks["workers.tasks.sleep"].apply_async(args=[36], queue="tasks")
            for result in [*quick, slow]:
                journal.record_submitted(result.id, "workers.tasks.x", queue="tasks")
            wait_for(
                lambda: (
                    all(state_of(r.id) == "SUCCESS" for r in quick)
                    and state_of(slow.id) == "STARTED"
                ),
                20,
                "the quick tasks to finish and the slow one to start",
            )
            outage = time.monotonic()
            broker.stop()
            wait_for(lambda: monitor.stream.state == RECONNECTING, 15, "the outage to show")
            text = next(t for s, t in messages if s == RECONNECTING)
            assert "event stream lost" in text and "retrying in" in text
            password = urlsplit(url).password
            assert password and password not in text
            time.sleep(max(0.0, 30 - (time.monotonic() - outage)))
            assert monitor.stream._threads and all(t.is_alive() for t in monitor.stream._threads)
            assert broker.start().running
            wait_for(
                lambda: [s for s, _ in messages].count(CONNECTED) >= 2, 30, "the stream to resume"
            )
            # The worker may die of the outage (Celery 5.7's "Unrecoverable error" on Redis
            # with acks_late) after its pool finished the task: no task-succeeded event ever
            # comes, but the result is in the backend and the periodic reconciliation finds it.
            wait_for(lambda: state_of(slow.id) == "SUCCESS", 45, "the slow task's true end")
            assert journal.get(slow.id)["result"] == "36"
            assert all(state_of(r.id) == "SUCCESS" for r in quick)
    finally:
        monitor.stop()
        journal.close()
        client.close()
        broker.stop()
