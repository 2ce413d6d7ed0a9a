"""`celery-desk record --history postgresql://…`: recorders on one cluster writing one shared
history on a real PostgreSQL (the tests' own server), a real worker, a real embedded Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workers.tasks  # noqa: F401
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.integration.worker_process import WorkerProcess, running_worker
from workers import create_app

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.slow


class Recorder:
    """One `celery-desk record` process; its stderr in a file (read while it runs)."""

    def __init__(self, tmp_path: Path, name: str, *args: str) -> None:
        self.err_path = tmp_path / f"{name}.err"
        self.err = self.err_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", "rec", "record", *args],
            stdout=subprocess.DEVNULL, stderr=self.err, env=dict(os.environ),
        )  # fmt: skip

    def said(self) -> str:
        return self.err_path.read_text()

    def wait_recording(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while "recording profile" not in self.said():
            assert self.process.poll() is None, self.said()
            assert time.monotonic() < deadline, self.said()
            time.sleep(0.1)

    def stop(self, how: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.finish()

    def finish(self) -> int:
        code = self.process.wait(20)
        self.err.close()
        return code


@pytest.fixture
def shared_profile(embedded_redis: Any, postgres_server: Any, pg_database: str) -> str:
    """A profile whose history is the test's database; its password goes to the secret store.
    Returns the history URL without the password, as a person types it."""
    services = Services.open()
    services.profiles.save(
        Profile(
            name="rec",
            broker_url=embedded_redis.url(0),
            result_backend=embedded_redis.url(1),
            history=postgres_server.url(pg_database),
        )
    )
    assert postgres_server.password not in services.paths.profiles_file.read_text()
    return str(postgres_server.url(pg_database, password=False))


@pytest.fixture
def recorders(tmp_path: Path) -> Iterator[list[Recorder]]:
    started: list[Recorder] = []
    yield started
    for recorder in started:
        if recorder.process.poll() is None:
            recorder.stop(signal.SIGKILL)


def _stored(url_with_password: str, ids: list[str]) -> dict[str, Any]:
    with psycopg.connect(url_with_password) as conn:
        tasks = conn.execute(
            "SELECT id, state, count(*) OVER (PARTITION BY id) FROM tasks WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
        events = conn.execute(
            "SELECT task_id, type, count(*) FROM events WHERE task_id = ANY(%s) "
            "GROUP BY task_id, type",
            (ids,),
        ).fetchall()
    return {"tasks": tasks, "events": events}


def _wait_finished(url: str, expected: dict[str, str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stored = _stored(url, list(expected))
        states = {task_id: state for task_id, state, _ in stored["tasks"]}
        if states == expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.3)


def test_two_recorders_write_one_history_each_task_and_event_once(
    embedded_redis: Any,
    postgres_server: Any,
    pg_database: str,
    shared_profile: str,
    recorders: list[Recorder],
    tmp_path: Path,
) -> None:
    url = postgres_server.url(pg_database)
    for name in ("a", "b"):
        recorders.append(Recorder(tmp_path, name, "--history", shared_profile))
    for recorder in recorders:
        recorder.wait_recording()
    time.sleep(1.0)  # both subscribed by now
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        concurrency=2,
    )
    try:
        with running_worker(client, worker):
            sent = [
                client.tasks["workers.tasks.t1"].apply_async(args=[i, 1], kwargs={"message": ""})
                for i in range(30)
            ]
            failed = [client.tasks["workers.tasks.fail"].apply_async() for _ in range(5)]
            for result in sent:
                assert result.get(timeout=30) is not None
            for result in failed:
                with pytest.raises(ValueError):
                    result.get(timeout=30)
            expected = {r.id: "SUCCESS" for r in sent} | {r.id: "FAILURE" for r in failed}
            stored = _wait_finished(url, expected)
    finally:
        client.close()
    codes = [recorder.stop() for recorder in recorders]
    said = [recorder.said() for recorder in recorders]
    assert codes == [0, 0], said
    states = {task_id: state for task_id, state, _ in stored["tasks"]}
    assert states == expected  # every task, its true final state
    assert all(copies == 1 for _, _, copies in stored["tasks"])  # each task once
    by_task: dict[str, dict[str, int]] = {}
    for task_id, kind, count in stored["events"]:
        by_task.setdefault(task_id, {})[kind] = count
    for task_id, state in expected.items():
        end = "task-succeeded" if state == "SUCCESS" else "task-failed"
        assert by_task[task_id] == {
            "task-sent": 1, "task-received": 1, "task-started": 1, end: 1
        }, task_id  # fmt: skip
    for text in said:  # both heard every event and wrote them: the database kept one copy
        found = re.search(r"^stopped: (\d+) events recorded", text, re.MULTILINE)
        assert found, text
        received = int(found.group(1))
        assert received >= 4 * len(expected), text
        assert "into postgresql://desk:****@127.0.0.1" in text  # the stored password, masked
        assert postgres_server.password not in text


def test_a_history_url_that_is_not_postgresql_is_refused(
    shared_profile: str, recorders: list[Recorder], tmp_path: Path
) -> None:
    recorder = Recorder(tmp_path, "bad", "--history", "mysql://u:pw-s3cret@h/db")
    recorders.append(recorder)
    assert recorder.finish() == 2
    said = recorder.said()
    assert "--history must be 'sqlite' or postgresql://" in said and "pw-s3cret" not in said


def test_a_newer_schema_stops_record_with_both_versions_named(
    postgres_server: Any,
    pg_database: str,
    shared_profile: str,
    recorders: list[Recorder],
    tmp_path: Path,
) -> None:
    from desktop.core.history.pg_schema import SCHEMA_VERSION

    with psycopg.connect(postgres_server.url(pg_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema', %s)", (str(SCHEMA_VERSION + 1),))
    recorder = Recorder(tmp_path, "new", "--history", shared_profile)
    recorders.append(recorder)
    assert recorder.finish() == 2
    said = recorder.said()
    assert f"schema version {SCHEMA_VERSION + 1}" in said and f"version {SCHEMA_VERSION})" in said
    assert postgres_server.password not in said


def test_a_recorder_killed_mid_run_and_started_again_loses_nothing_the_backend_knows(
    embedded_redis: Any,
    postgres_server: Any,
    pg_database: str,
    shared_profile: str,
    recorders: list[Recorder],
    tmp_path: Path,
) -> None:
    """SIGKILL while tasks run; tasks end and others run while no recorder listens; the next
    recorder records the gap, fills it from the result backend and reconciles what it had
    seen running: every task with its final state, nothing lost."""
    url = postgres_server.url(pg_database)
    first = Recorder(tmp_path, "first", "--history", shared_profile)
    recorders.append(first)
    first.wait_recording()
    time.sleep(1.0)
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
    worker = WorkerProcess(
        queues=["tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        concurrency=2,
    )
    try:
        with running_worker(client, worker):
            slow = [
                client.tasks["workers.tasks.sleep"].apply_async(args=[1.5], queue="tasks")
                for _ in range(4)
            ]
            deadline = time.monotonic() + 15
            while not any(
                s == "STARTED" for _, s, _ in _stored(url, [r.id for r in slow])["tasks"]
            ):
                assert time.monotonic() < deadline, first.said()
                time.sleep(0.1)
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # mid-run, no goodbye
            unheard = [
                client.tasks["workers.tasks.t1"].apply_async(args=[i, 2], kwargs={"message": ""})
                for i in range(3)
            ]
            for result in [*slow, *unheard]:
                result.get(timeout=30)
            # What the killed recorder left: the unheard tasks unknown, the slow ones unfinished.
            assert _stored(url, [r.id for r in unheard])["tasks"] == []
            left = [s for _, s, _ in _stored(url, [r.id for r in slow])["tasks"]]
            assert left.count("SUCCESS") < len(slow), left
            again = Recorder(tmp_path, "again", "--history", shared_profile)
            recorders.append(again)
            again.wait_recording()
            expected = {r.id: "SUCCESS" for r in [*slow, *unheard]}
            stored = _wait_finished(url, expected, timeout=25)
    finally:
        client.close()
    assert again.stop() == 0, again.said()
    assert {task_id: state for task_id, state, _ in stored["tasks"]} == expected, again.said()
    with psycopg.connect(url) as conn:
        gaps = conn.execute("SELECT status, found FROM gaps").fetchall()
    assert gaps and all(status == "filled" for status, _ in gaps), gaps
    assert sum(found for _, found in gaps) >= len(unheard)  # the unheard came from the backend
