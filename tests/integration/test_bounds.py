"""Every command has a bound: a paused Redis, a TCP black hole, a trickling server or a keyring
that never answers make it say what did not answer and exit 1, within its bound (issue 13, 3).

Real faults: our own redis-server stopped with SIGSTOP, listening sockets that never accept or
answer one byte a second. The keyring is the one fake (a backend module whose calls block for
ever): a desktop keyring daemon that hangs cannot be caused for real in a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Profile
from tests.conftest import redis_server
from tests.desk_cli import celery_desk

pytestmark = pytest.mark.slow
BOUND_S = 3.0  # the --timeout the tests give; each command must end within it + MARGIN_S
MARGIN_S = 7.0  # the interpreter and Celery start, the app probe


def desk(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = celery_desk(*args, timeout=90, env=env)
    return done, time.monotonic() - started


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
def paused_redis(tmp_path: Path) -> Iterator[str]:
    """A profile 'paused' on a redis-server of its own, stopped with SIGSTOP for the test."""
    with redis_server(tmp_path / "own") as broker:
        url = broker.url(0)
        Services.open().profiles.save(Profile(name="paused", broker_url=url, result_backend=url))
        pid = broker.status().pid
        assert pid is not None
        with paused(pid):
            yield url


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes the TCP handshake (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accept()ed
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def trickle() -> Iterator[int]:
    """A server that accepts and then sends one byte a second, for ever: no recv times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            while not stop.wait(1.0):
                try:
                    conn.sendall(b"+")
                except OSError:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def said_and_bounded(
    done: subprocess.CompletedProcess[str], took: float, what: str, bound: float = BOUND_S
) -> None:
    assert done.returncode != 0, done
    assert took < bound + MARGIN_S, (took, done.stderr)
    assert "did not answer within" in done.stderr, done.stderr
    assert what in done.stderr, done.stderr


def test_queues_on_a_paused_redis_says_so_within_its_bound(paused_redis: str) -> None:
    done, took = desk("queues", "--profile", "paused", "--timeout", str(BOUND_S))
    said_and_bounded(done, took, urls.mask(paused_redis))
    assert urls.password_of(paused_redis) not in done.stdout + done.stderr


def test_run_on_a_paused_redis_says_so_within_its_bound(paused_redis: str, tmp_path: Path) -> None:
    canvas = tmp_path / "one.json"
    canvas.write_text(
        json.dumps(
            {
                "format": "celery-desk/canvas",
                "version": 1,
                "name": "one",
                "root": {
                    "type": "task",
                    "task": "workers.tasks.demo1",
                    "args": [],
                    "kwargs": {},
                    "immutable": False,
                    "options": {},
                },
            }
        )
    )
    done, took = desk(
        "run", str(canvas), "--profile", "paused", "--no-check", "--step-timeout", str(BOUND_S)
    )
    said_and_bounded(done, took, "(sending)")
    assert urls.mask(paused_redis) in done.stderr


def test_worker_list_on_a_black_hole_says_so_within_its_bound(
    black_hole: int, tmp_path: Path
) -> None:
    """A worker still starting is pinged; a broker that never answers ends the list with
    an error naming it (the keeper's states are still listed)."""
    url = f"redis://127.0.0.1:{black_hole}/0"
    services = Services.open()
    services.profiles.save(Profile(name="hole", broker_url=url, result_backend=""))
    from desktop.core.local.supervisor import Supervisor

    directory = services.workers_dir(services.profiles.get("hole"))
    directory.mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "60"])  # stands in for a keeper's worker, alive
    try:
        record = {"spec": {"name": "w", "queues": ["q"]}, "nodename": "w@host",
                  "keeper_pid": None, "created": time.time()}  # fmt: skip
        (directory / "w.json").write_text(json.dumps(record))
        (directory / "w.status.json").write_text(
            json.dumps({"state": "running", "worker_pid": sleeper.pid, "started": time.time()})
        )
        assert Supervisor(directory, services.profiles.get("hole")).get("w") is not None
        done, took = desk("worker", "list", "--profile", "hole", "--timeout", str(BOUND_S))
    finally:
        sleeper.kill()
        sleeper.wait()
    if "starting" not in done.stdout:
        pytest.skip(f"the fake worker was not listed as starting: {done.stdout}")
    said_and_bounded(done, took, f"127.0.0.1:{black_hole}")


def test_queues_on_a_black_hole_says_so_within_its_bound(black_hole: int) -> None:
    url = f"redis://127.0.0.1:{black_hole}/0"
    done, took = desk("queues", "--broker", url, "--timeout", str(BOUND_S))
    said_and_bounded(done, took, f"127.0.0.1:{black_hole}")


def test_profile_test_against_a_trickle_ends_within_its_timeout(trickle: int) -> None:
    url = f"redis://127.0.0.1:{trickle}/0"
    done, took = desk("profile", "test", "--broker", url, "--timeout", "2")
    assert done.returncode == 1, done
    assert took < 2 + MARGIN_S, (took, done.stderr)
    assert f"127.0.0.1:{trickle} did not answer within 2 s" in done.stderr


BLOCKING_KEYRING = '''
import threading

from keyring.backend import KeyringBackend


class BlockingKeyring(KeyringBackend):
    """A keyring whose every call waits for ever (a hung keyring daemon)."""

    priority = 10

    def get_password(self, service, username):
        threading.Event().wait()

    def set_password(self, service, username, password):
        threading.Event().wait()

    def delete_password(self, service, username):
        threading.Event().wait()
'''


def test_a_keyring_that_never_answers_is_said_and_the_file_used(tmp_path: Path) -> None:
    """A fake, for a fault we cannot cause for real: a keyring backend module (configured the
    way keyring is, through PYTHON_KEYRING_BACKEND) whose calls never return."""
    (tmp_path / "blocking_keyring.py").write_text(BLOCKING_KEYRING)
    env = dict(os.environ)
    env.pop("CELERY_DESK_SECRETS", None)  # automatic: the keyring when one works
    env["PYTHON_KEYRING_BACKEND"] = "blocking_keyring.BlockingKeyring"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    from desktop.core.base.bounds import KEYRING_TIMEOUT_S

    done, took = desk("profile", "list", env=env)
    assert done.returncode == 0, done
    assert took < KEYRING_TIMEOUT_S + MARGIN_S, (took, done.stderr)
    assert f"the system keyring did not answer within {KEYRING_TIMEOUT_S:g} s" in done.stderr
    assert "secrets file" in done.stderr


def test_a_chosen_keyring_that_never_answers_fails_clearly(tmp_path: Path) -> None:
    """With CELERY_DESK_SECRETS=keyring there is no fallback: saving a password says the
    keyring did not answer and exits 1 (the same fake keyring as above)."""
    (tmp_path / "blocking_keyring.py").write_text(BLOCKING_KEYRING)
    env = dict(os.environ)
    env["CELERY_DESK_SECRETS"] = "keyring"
    env["PYTHON_KEYRING_BACKEND"] = "blocking_keyring.BlockingKeyring"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    from desktop.core.base.bounds import KEYRING_TIMEOUT_S

    done, took = desk(
        "profile", "add", "kept", "--broker", "redis://:s3cret@127.0.0.1:6399/0", env=env
    )
    assert done.returncode == 1, done
    assert took < KEYRING_TIMEOUT_S + MARGIN_S, (took, done.stderr)
    assert f"the system keyring did not answer within {KEYRING_TIMEOUT_S:g} s" in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret" not in done.stdout + done.stderr


def test_a_publish_to_a_broker_that_went_away_ends_within_its_bound(tmp_path: Path) -> None:
    """Control broadcasts (the Queues screen asking the workers what they hold) publish
    through the app's connection pool. kombu's pool made plain connections, which retried a
    publish once a second for ever once the broker went away after they had connected: the
    job never ended and the window's process could not quit (seen in CI: 449 retries). The
    pool's connections are bounded like the app's own."""
    from desktop.core.app.panel_app import panel_app

    with redis_server(tmp_path / "own") as broker:
        app = panel_app(broker.url(0))
        try:
            with app.pool.acquire(block=True) as connection:
                producer = connection.Producer()
                producer.publish({"n": 1}, routing_key="cd-bound-test", retry=True)
                broker.stop()
                started = time.monotonic()
                with pytest.raises(Exception, match=r"(?i)connect|refused"):
                    producer.publish({"n": 2}, routing_key="cd-bound-test", retry=True)
                took = time.monotonic() - started
        finally:
            app.close()
    assert took < BOUND_S + MARGIN_S, f"{took:.0f} s: the publish retried past its bound"
