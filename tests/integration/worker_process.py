"""A real `celery -A workers worker` subprocess for integration tests.

Broker and backend URLs (with their passwords) go through the environment, never argv, the
same way the panel starts workers. The worker runs in its own process group so a stuck one
can be killed with its pool children, and its output goes to a file so a full pipe can never
stall it and a failing test can show the log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from celery import Celery
from celery.utils.nodenames import host_format

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """Split into start / wait / stop so shutdown tests can signal a worker mid-task."""

    def __init__(
        self,
        *,
        queues: Sequence[str],
        broker_url: str,
        backend_url: str,
        log_path: Path,
        queue_prefix: str = "",
        name: str | None = None,
        concurrency: int = 1,
        extra_args: Sequence[str] = (),
        extra_env: dict[str, str] | None = None,
        app_module: str = "workers",
        cwd: Path = REPO_ROOT,
    ) -> None:
        """`app_module` and `cwd`: another person's project, e.g. a Django one (its settings
        module in `extra_env` as DJANGO_SETTINGS_MODULE), started as its README says."""
        self.queues = list(queues)
        self.cwd = cwd
        self.log_path = log_path
        self.name = name or f"test-{uuid.uuid4().hex[:8]}"
        self.nodename = host_format(f"{self.name}@%h")
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app_module,
            "worker",
            "-Q",
            ",".join(self.queues),
            "-l",
            "INFO",
            "-E",
            "--without-mingle",
            "--without-gossip",
            "-c",
            str(concurrency),
            "-n",
            f"{self.name}@%h",
            *extra_args,
        ]
        self.env = dict(os.environ)
        self.env.update(
            {
                "CELERY_BROKER": broker_url,
                "CELERY_BACKEND": backend_url,
                "CELERY_DESK_QUEUE_PREFIX": queue_prefix,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until_ready(self, app: Celery, timeout: float = 20.0) -> float:
        """Poll ping until this node answers; returns seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            replies = app.control.ping(destination=[self.nodename], timeout=0.5) or []
            if any(self.nodename in reply for reply in replies):
                self.ready_after = time.monotonic() - self.started_at
                return self.ready_after
        raise TimeoutError(f"{self.nodename} did not answer ping in {timeout}s:\n{self.output()}")

    def send_signal(self, sig: int) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Warm shutdown by default; its process group (pool included) is killed if it overstays."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
        return proc.returncode


@contextlib.contextmanager
def running_worker(
    app: Celery, worker: WorkerProcess, ready_timeout: float = 20.0
) -> Iterator[WorkerProcess]:
    """Start `worker`, wait until `app` can ping it, and always stop it afterwards."""
    worker.start()
    try:
        worker.wait_until_ready(app, timeout=ready_timeout)
        yield worker
    finally:
        worker.stop()


def delete_rabbitmq_entities(amqp_url: str, names: Sequence[str]) -> list[str]:
    """Delete the queues and exchanges named `names`; returns the queues that existed."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    existed = []
    with Connection(amqp_url, connect_timeout=5) as conn:
        for name in names:
            channel = conn.channel()
            try:
                channel.queue_declare(name, passive=True)
                existed.append(name)
            except NotFound:
                channel = conn.channel()  # a failed passive declare closes the channel
            channel.queue_delete(name)
            channel.exchange_delete(name)
            channel.close()
    return existed


def rabbitmq_queue_exists(amqp_url: str, name: str) -> bool:
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(amqp_url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            channel.queue_declare(name, passive=True)
        except NotFound:
            return False
        channel.close()
        return True
