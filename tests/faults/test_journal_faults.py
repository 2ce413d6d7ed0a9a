"""The journal under faults, with a real `celery-desk record`, real workers and a real Redis:
its disk full, made read-only mid-flood, damaged; the recorder SIGKILLed mid-flood and started
again; two recorders on one journal. After each, every task the result backend knows is in the
journal with its true state, and the recorder said what happened while it happened."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

import workers.tasks  # noqa: F401
from desktop.cli.record import RECORD_STATUS_EVERY_S
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.conftest import redis_server
from tests.integration.worker_process import WorkerProcess, running_worker
from tests.waiting import wait_for
from workers import create_app

pytestmark = pytest.mark.slow
FINAL = ("SUCCESS", "FAILURE", "REVOKED")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Redis of this module's own: its databases hold only these tests' tasks."""
    with redis_server(tmp_path_factory.mktemp("journal-faults")) as server:
        yield server


@dataclass
class Setup:
    profile: str
    broker_url: str
    backend_url: str
    journal: Path
    tmp: Path


_next_db = iter(range(2, 16, 2))


@pytest.fixture
def setup(broker: Any, tmp_path: Path) -> Setup:
    db = next(_next_db)
    name = f"faults{db}"
    services = Services.open()
    profile = Profile(name=name, broker_url=broker.url(db), result_backend=broker.url(db + 1))
    services.profiles.save(profile)
    return Setup(name, broker.url(db), broker.url(db + 1), services.journal_path(profile), tmp_path)


class Recorder:
    """`celery-desk record` as a person runs it; its stderr goes to a file (never a full pipe)."""

    def __init__(self, setup: Setup, tag: str = "") -> None:
        self.err_path = setup.tmp / f"record{tag}-{uuid.uuid4().hex[:6]}.err"
        self._err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", setup.profile, "record"],
            stdout=subprocess.DEVNULL, stderr=self._err, env=dict(os.environ),
        )  # fmt: skip

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_connected(self) -> None:
        wait_for(lambda: "connected: receiving" in self.stderr() or self.proc.poll() is not None,
                 30, "the recorder to subscribe")  # fmt: skip
        assert self.proc.poll() is None, self.stderr()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._err.close()


@contextlib.contextmanager
def worker_for(setup: Setup, client: Any) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(
        queues=["tasks"], broker_url=setup.broker_url, backend_url=setup.backend_url,
        log_path=setup.tmp / "worker.log", concurrency=2,
    )  # fmt: skip
    with running_worker(client, worker):
        yield worker


def flood(client: Any, count: int, per_second: float, fail_every: int = 10) -> list[str]:
    """`count` real tasks at a steady rate; every `fail_every`th fails (a FAILURE is truth too)."""
    ids: list[str] = []
    started = time.monotonic()
    for n in range(count):
        if n % fail_every == fail_every - 1:
            result = client.tasks["workers.tasks.fail"].apply_async(queue="tasks")
        else:
            result = client.tasks["workers.tasks.add"].apply_async(args=[n, 1], queue="tasks")
        ids.append(result.id)
        ahead = started + (n + 1) / per_second - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return ids


def backend_truth(setup: Setup) -> dict[str, str]:
    """Every task the result backend knows, and its state (read as JSON, as kombu would)."""
    client = redis.Redis.from_url(setup.backend_url)
    try:
        keys = list(client.scan_iter(match=b"celery-task-meta-*", count=1000))
        truth = {}
        for value in client.mget(keys) if keys else []:
            meta = json.loads(value)
            truth[meta["task_id"]] = meta["status"]
        return truth
    finally:
        client.close()


def journal_states(path: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {str(i): str(s) for i, s in db.execute("SELECT id, state FROM tasks")}
    finally:
        db.close()


def wait_all_finished(setup: Setup, ids: list[str], timeout: float = 120) -> dict[str, str]:
    def finished() -> dict[str, str] | None:
        truth = backend_truth(setup)
        return truth if all(truth.get(i) in FINAL for i in ids) else None

    return dict(wait_for(finished, timeout, f"{len(ids)} tasks to finish"))


def assert_journal_is_truth(setup: Setup, ids: list[str], timeout: float = 60) -> dict[str, Any]:
    """Every task the backend knows is in the journal with the backend's state."""
    truth = wait_all_finished(setup, ids)
    missing: list[str] = []
    wrong: list[str] = []

    def same() -> bool:
        nonlocal missing, wrong
        stored = journal_states(setup.journal)
        missing = [i for i in truth if i not in stored]
        wrong = [i for i in truth if i in stored and stored[i] != truth[i]]
        return not missing and not wrong

    try:
        wait_for(same, timeout, "the journal to hold the backend's truth")
    except AssertionError as exc:
        raise AssertionError(f"{len(missing)} missing, {len(wrong)} wrong of {len(truth)}") from exc
    return {"flooded": len(ids), "backend": len(truth), "lost": 0}


# -- faults of the disk the journal is on ---------------------------------------------------
@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def test_a_full_disk_loses_nothing_and_says_so_while_it_lasts(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal on a 2 MB disk (room for ~500 tasks) during a 2,000-task flood at 150/s,
    then room made: what it refused waited in memory, and every task is in the journal."""
    with tmpfs(setup.tmp / "disk", "2m") as disk:
        journal_on(setup, disk, monkeypatch)
        recorder = Recorder(setup)
        client = create_app(setup.broker_url, setup.backend_url, queue_prefix="")
        try:
            recorder.wait_connected()
            with worker_for(setup, client):
                ids = flood(client, 2000, 150)
                wait_for(lambda: "journal failing" in recorder.stderr(), 30, "the failure said")
                wait_all_finished(setup, ids)
                time.sleep(RECORD_STATUS_EVERY_S + 1)  # a status line while failing
                remount(disk, "size=64m")
                figures = assert_journal_is_truth(setup, ids)
                wait_for(lambda: "journal ok" in recorder.stderr(), 10, "the recovery said")
        finally:
            client.close()
            code = recorder.stop()
        err = recorder.stderr()
        assert code == 0, err
        failing = err.index("journal failing")
        assert "database or disk is full (SQLITE_FULL)" in err[failing:].split("\n")[0]
        between = err[failing : err.index("journal ok")]
        assert "JOURNAL FAILING" in between and "kept in memory" in between
        assert "tasks in journal" not in between  # never a healthy count while failing
        print(f"disk full: {figures}")


def test_a_read_only_journal_stops_record_and_the_next_one_fills_the_gap(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`record` on a journal it cannot write says so and exits non-zero, at once; once the
    disk is writable again, the next `record` fills what was missed from the backend."""
    with tmpfs(setup.tmp / "disk", "64m") as disk:
        journal_on(setup, disk, monkeypatch)
        client = create_app(setup.broker_url, setup.backend_url, queue_prefix="")
        try:
            with worker_for(setup, client):
                first = Recorder(setup, "-first")
                first.wait_connected()
                ids = flood(client, 300, 150)
                assert first.stop() == 0
                remount(disk, "ro")
                refused = Recorder(setup, "-refused")
                code = refused.proc.wait(timeout=60)
                refused.stop()
                ids += flood(client, 600, 150)
                remount(disk, "rw")
                last = Recorder(setup, "-last")
                last.wait_connected()
                figures = assert_journal_is_truth(setup, ids)
        finally:
            client.close()
        assert last.stop() == 0, last.stderr()
        err = refused.stderr()
        assert code == 2, err
        assert "mounted read-only" in err, err
        assert "Traceback" not in err
        print(f"read-only: {figures}")


def journal_on(setup: Setup, disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_DESK_DATA_DIR", str(disk))
    services = Services.open()
    setup.journal = services.journal_path(services.profiles.get(setup.profile))


def test_a_damaged_journal_is_reported_and_not_written(setup: Setup) -> None:
    setup.journal.parent.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(64 * 1024)
    setup.journal.write_bytes(garbage)
    recorder = Recorder(setup)
    code = recorder.proc.wait(timeout=30)
    recorder.stop()
    err = recorder.stderr()
    assert code == 2, err
    assert "not a database" in err and str(setup.journal) in err and "Traceback" not in err
    assert setup.journal.read_bytes() == garbage


def test_a_journal_damaged_inside_is_reported_and_not_written(setup: Setup) -> None:
    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.state import ClusterState
    from tests.unit.test_journal_durability import task_events

    journal = Journal(setup.journal)
    diff = ClusterState().apply([e for _ in range(2000) for e in task_events(str(uuid.uuid4()))])
    journal.write(diff.tasks_added, diff.events)
    journal.close()
    damaged = bytearray(setup.journal.read_bytes())
    for page in range(2, len(damaged) // 4096):  # every page after the schema's
        damaged[page * 4096 : page * 4096 + 100] = os.urandom(100)
    setup.journal.write_bytes(bytes(damaged))
    recorder = Recorder(setup)
    code = recorder.proc.wait(timeout=60)
    recorder.stop()
    err = recorder.stderr()
    assert code == 2, err
    assert "malformed" in err and str(setup.journal) in err and "Traceback" not in err
    assert setup.journal.read_bytes() == bytes(damaged)


# -- faults of the recorder -------------------------------------------------------------------
def test_a_recorder_killed_mid_flood_fills_the_gap_when_started_again(setup: Setup) -> None:
    client = create_app(setup.broker_url, setup.backend_url, queue_prefix="")
    first = Recorder(setup, "-first")
    second: Recorder | None = None
    try:
        first.wait_connected()
        with worker_for(setup, client):
            import threading

            sent: list[str] = []
            sender = threading.Thread(target=lambda: sent.extend(flood(client, 2400, 150)))
            sender.start()
            time.sleep(6)
            first.stop(signal.SIGKILL)
            time.sleep(5)
            second = Recorder(setup, "-second")
            sender.join(60)
            figures = assert_journal_is_truth(setup, sent)
    finally:
        client.close()
        code = second.stop() if second else None
    assert code == 0, second.stderr() if second else ""
    assert second is not None and "tasks filled from the backend" in second.stderr()
    listed = subprocess.run(
        [sys.executable, "-m", "desktop", "--profile", setup.profile, "gaps", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    gaps = json.loads(listed.stdout)
    assert gaps and gaps[0]["status"] == "filled" and gaps[0]["found"] > 0, gaps
    assert gaps[0]["end"] - gaps[0]["start"] >= 4.5
    print(f"killed mid-flood: {figures}, gap filled with {gaps[0]['found']} tasks")


def test_two_recorders_on_one_journal_lose_and_repeat_nothing(setup: Setup) -> None:
    client = create_app(setup.broker_url, setup.backend_url, queue_prefix="")
    recorders = [Recorder(setup, "-a"), Recorder(setup, "-b")]
    try:
        for recorder in recorders:
            recorder.wait_connected()
        with worker_for(setup, client):
            ids = flood(client, 1000, 200)
            figures = assert_journal_is_truth(setup, ids)
            time.sleep(1.5)  # the last batches of both
    finally:
        client.close()
        codes = [r.stop() for r in recorders]
    assert codes == [0, 0], [r.stderr() for r in recorders]
    db = sqlite3.connect(f"file:{setup.journal}?mode=ro", uri=True)
    copies = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM events GROUP BY task_id, type, timestamp "
        "HAVING count(*) > 1)"
    ).fetchone()[0]
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    assert copies == 0
    assert events >= 4 * len(ids)  # sent, received, started, succeeded/failed
    print(f"two recorders: {figures}, {events} events, 0 copies")
