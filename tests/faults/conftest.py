"""The parts fault tests are made of: brokers a test may kill, pause and restart, a recorder
whose every line is timed, a paced flood of tasks, and a RabbitMQ virtual host of the run's own.

Each scenario runs once in a module-scoped fixture and several tests read what it measured, so
"nothing was lost" and "the panel said so while it happened" are separate verdicts of one run.
That fixture sets its own config and data dirs (the autouse `isolated_config` is per test).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
import redis
from celery import Celery

from desktop.core.broker.embedded import EmbeddedRedis
from desktop.core.settings.secret_store import FileSecretStore
from tests.conftest import DEFAULT_AMQP_URL, RUN_ID, _amqp_answers, stop_with_this_process
from tests.integration.worker_process import REPO_ROOT, WorkerProcess
from tests.waiting import wait_for

# The test app's own transport options (the demo app reads them from its environment): Redis
# gives an unacknowledged message back after 4 s, swept every second, not after an hour.
FAST_REDELIVERY = {
    "visibility_timeout": 4,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


class KillableRedis:
    """A redis-server of the test's own that it may SIGKILL, SIGSTOP and restart on its port.

    The panel's embedded Redis keeps an append-only file fsynced every second; here every write
    is fsynced before Redis answers (`appendfsync always`), so a SIGKILL loses no message a
    client was told was stored, and whatever the test then finds missing is the panel's doing.
    """

    def __init__(self, root: Path) -> None:
        self.server = EmbeddedRedis(root / "broker", FileSecretStore(root / "secrets.json"))
        self.pid = 0
        self.port = 0

    def start(self) -> None:
        status = self.server.start()
        assert status.pid is not None and status.port is not None
        if self.port:
            assert status.port == self.port, "restarted on another port"
        self.pid, self.port = status.pid, status.port
        stop_with_this_process(self.pid)
        client = redis.Redis.from_url(self.url(0), socket_timeout=5)
        try:
            client.config_set("appendfsync", "always")
        finally:
            client.close()

    def url(self, db: int = 0) -> str:
        return self.server.url(db)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        child = self.server._child
        if child is not None and child.pid == self.pid:
            child.wait(10)  # reaped: a zombie would still look alive to the next start()

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.resume()
        self.server.stop()


@dataclass
class Said:
    at: float  # time.monotonic() when the line was read
    line: str


class Recorder:
    """`celery-desk --profile NAME record` with every stderr line kept with its time."""

    def __init__(self, profile: str, log: Path) -> None:
        self.lines: list[Said] = []
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", profile, "record"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.log.open("a") as copy:
            for line in self.process.stderr:
                self.lines.append(Said(time.monotonic(), line.rstrip()))
                copy.write(f"{time.monotonic():.2f} {line}")

    def said(self, text: str, after: float = 0.0, before: float = float("inf")) -> list[str]:
        return [s.line for s in list(self.lines) if text in s.line and after <= s.at <= before]

    def wait_said(self, text: str, timeout: float, after: float = 0.0) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"record exited ({self.process.returncode}):\n{self.text()}")
            return bool(self.said(text, after))

        wait_for(seen, timeout, f"record to say {text!r}")

    def text(self) -> str:
        return "\n".join(s.line for s in self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)
        return self.process.returncode


@dataclass
class Flood:
    """Tasks published at a steady pace on a thread, so faults land in the middle of it.

    A publish that raises (the broker is down and kombu's retries ran out) is counted as not
    sent: the caller was told, nothing was promised about it."""

    app: Celery
    count: int
    per_second: float
    task: str = "workers.tasks.add"
    sent: list[str] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # id -> time.monotonic() when sent
    refused: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Flood:
        threading.Thread(target=self._publish, name="flood", daemon=True).start()
        return self

    def _publish(self) -> None:
        try:
            started = time.monotonic()
            for number in range(self.count):
                task_id = str(uuid.uuid4())
                try:
                    self.app.send_task(self.task, args=[number, number], task_id=task_id)
                    self.sent.append(task_id)
                    self.sent_at[task_id] = time.monotonic()
                except Exception:
                    self.refused.append(task_id)
                    time.sleep(0.2)
                pause = started + (number + 1) / self.per_second - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        finally:
            self.done.set()

    def wait(self, timeout: float) -> None:
        assert self.done.wait(timeout), f"the flood did not finish publishing in {timeout} s"


DEATH_LINES = 60  # of a worker that died: what the scenario prints and judges


class KeptWorker:
    """A worker started again whenever it exits, as the panel's auto-restart would do.

    Celery's Redis transport sometimes dies on a broker SIGKILL ("Unrecoverable error:
    AttributeError: 'NoneType' object has no attribute 'hostname'", raised while kombu restores
    unacknowledged messages on a connection already closed): the worker exits and its reserved
    tasks wait in the broker's unacked set until the visibility timeout gives them back. A person
    (or the panel's supervisor) starts it again; so does this, and every restart is kept with the
    log of the worker that died, so a scenario still proves that every task finished."""

    def __init__(self, app: Celery, make: Callable[[int], WorkerProcess]) -> None:
        self.app = app
        self.make = make
        self.workers = [make(0)]
        self.died: list[str] = []  # the last lines of each worker that exited
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._keep, name="kept-worker", daemon=True)

    def __enter__(self) -> KeptWorker:
        self.workers[0].start()
        self.workers[0].wait_until_ready(self.app, timeout=60)
        self._watch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.join(30)
        self.workers[-1].stop()

    def _keep(self) -> None:
        while not self._stop.wait(0.5):
            current = self.workers[-1]
            if current.running:
                continue
            # Enough of its end to hold Celery's "Unrecoverable error" line above its traceback.
            self.died.append("\n".join(current.output().splitlines()[-DEATH_LINES:]))
            successor = self.make(len(self.workers))
            self.workers.append(successor)
            successor.start()

    def last_started(self) -> float:
        """When the newest worker started (time.monotonic()): settling counts from here."""
        return self.workers[-1].started_at


@dataclass
class Bench:
    """A scenario's own config and data dirs and queue names, set in this process's environment
    for as long as the scenario runs (subprocesses inherit them)."""

    root: Path
    prefix: str

    def worker(
        self, broker_url: str, backend_url: str, name: str, concurrency: int = 1
    ) -> WorkerProcess:
        """A `celery -A workers worker` of the demo app on the bench's queue, fast redelivery."""
        return WorkerProcess(
            queues=[f"{self.prefix}tasks"],
            broker_url=broker_url,
            backend_url=backend_url,
            log_path=self.root / f"{name}.log",
            queue_prefix=self.prefix,
            name=f"{name}-{uuid.uuid4().hex[:6]}",
            extra_env={"CELERY_DESK_TRANSPORT_OPTIONS": json.dumps(FAST_REDELIVERY)},
            concurrency=concurrency,
        )


@contextlib.contextmanager
def bench(root: Path) -> Iterator[Bench]:
    """Config and data dirs under `root`, file secrets, queue names of its own and the demo
    app's fast redelivery, in this process's environment until the block ends."""
    prefix = f"f{uuid.uuid4().hex[:8]}-"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CELERY_DESK_CONFIG_DIR", str(root / "config"))
        patch.setenv("CELERY_DESK_DATA_DIR", str(root / "data"))
        patch.setenv("CELERY_DESK_SECRETS", "file")
        patch.setenv("CELERY_DESK_QUEUE_PREFIX", prefix)
        patch.setenv("CELERY_DESK_TRANSPORT_OPTIONS", json.dumps(FAST_REDELIVERY))
        yield Bench(root, prefix)


@contextlib.contextmanager
def killable_redis(root: Path) -> Iterator[KillableRedis]:
    """A `KillableRedis` under `root`, resumed (if paused) and stopped at the end."""
    server = KillableRedis(root)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "--quiet", *args], capture_output=True, text=True, timeout=60, check=False
    )


@contextlib.contextmanager
def own_vhost() -> Iterator[str]:
    """An AMQP URL on a virtual host of this run's own, so closing "all" its connections
    (`rabbitmqctl close_all_connections --vhost`) touches no one else's; deleted after."""
    base = os.environ.get("CELERY_DESK_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    problem = _amqp_answers(base)
    if problem:
        pytest.skip(f"no RabbitMQ answers at CELERY_DESK_TEST_AMQP_URL ({problem})")
    try:
        listed = _rabbitmqctl("list_vhosts")
    except FileNotFoundError:
        pytest.skip("rabbitmqctl is not installed: connections cannot be closed on the broker")
    if listed.returncode != 0:
        pytest.skip(f"rabbitmqctl cannot manage the broker here: {listed.stderr.strip()[:200]}")
    vhost = f"celery-desk-faults-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    parts = urlsplit(base)
    user = unquote(parts.username or "guest")
    for command in (
        ("add_vhost", vhost),
        ("set_permissions", "-p", vhost, user, ".*", ".*", ".*"),
    ):
        done = _rabbitmqctl(*command)
        assert done.returncode == 0, done.stderr
    try:
        yield urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def rabbit_vhost() -> Iterator[str]:
    """`own_vhost` for one test."""
    with own_vhost() as url:
        yield url


def close_rabbit_connections(amqp_url: str) -> int:
    """`rabbitmqctl close_all_connections` on the URL's virtual host; how many were open."""
    vhost = unquote(urlsplit(amqp_url).path.lstrip("/"))
    listed = _rabbitmqctl("list_connections", "--no-table-headers", "vhost")
    before = sum(1 for line in listed.stdout.splitlines() if line.strip() == vhost)
    done = _rabbitmqctl("close_all_connections", "--vhost", vhost, "test")
    assert done.returncode == 0, done.stderr
    return before


def waiting_in_rabbit_broker(amqp_url: str) -> int:
    """Messages (ready or unacknowledged) the URL's virtual host still holds in its task
    queues: the panel's event queues and the workers' control queues are not tasks."""
    vhost = unquote(urlsplit(amqp_url).path.lstrip("/"))
    listed = _rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "messages")
    assert listed.returncode == 0, listed.stderr
    held = 0
    for line in listed.stdout.splitlines():
        name, _, messages = line.strip().rpartition("\t")
        if name and not name.startswith("celeryev") and ".pidbox" not in name:
            held += int(messages or 0)
    return held
