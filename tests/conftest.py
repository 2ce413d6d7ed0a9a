"""Shared fixtures: every test gets its own config dir; brokers are started by the tests."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.broker.embedded import EmbeddedRedis
from desktop.core.settings.paths import Paths
from desktop.core.settings.secret_store import FileSecretStore

os.environ.setdefault("CELERY_DESK_SECRETS", "file")
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_MANAGEMENT_URL = "http://127.0.0.1:15672"
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """No test ever reads or writes the person's own profiles, secrets or broker."""
    config = tmp_path / "config"
    monkeypatch.setenv("CELERY_DESK_CONFIG_DIR", str(config))
    monkeypatch.setenv("CELERY_DESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CELERY_DESK_SECRETS", "file")
    return Paths.resolve()


class RunningRedis:
    """An embedded Redis owned by the test session; `url(db)` carries the password."""

    def __init__(self, broker: EmbeddedRedis) -> None:
        self.broker = broker

    def url(self, db: int = 0) -> str:
        return self.broker.url(db)


def stop_with_this_process(pid: int) -> None:
    """Stop `pid` when this pytest process dies, even by SIGKILL or a CI time-out.

    The embedded broker deliberately outlives the app that started it (so it can be adopted);
    in tests that would leave servers behind, so a detached watchdog reaps them instead.
    """
    subprocess.Popen(
        [
            "sh",
            "-c",
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"kill -TERM {pid} 2>/dev/null",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[EmbeddedRedis]:
    """A real redis-server on a free port with a random password of its own, under `root`."""
    broker = EmbeddedRedis(root / "broker", FileSecretStore(root / "secrets.json"))
    status = broker.start()
    assert status.pid is not None
    stop_with_this_process(status.pid)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis]:
    """A real redis-server on a free port with a random password, stopped at session end."""
    with redis_server(tmp_path_factory.mktemp("embedded-redis")) as broker:
        yield RunningRedis(broker)


def _amqp_answers(url: str) -> str | None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """CELERY_DESK_TEST_AMQP_URL, else the local guest URL; skip when nothing answers. In a
    vhost of this pytest process's own when the management API lets its user make one (make
    test runs several pytest processes side by side: one's task events, workers and queue
    counts never reach another's window), deleted at the end; else the URL's own vhost."""
    url = os.environ.get("CELERY_DESK_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    problem = _amqp_answers(url)
    if problem:
        pytest.skip(f"no RabbitMQ answers at CELERY_DESK_TEST_AMQP_URL ({problem})")
    parts = urllib.parse.urlsplit(url)
    user = urllib.parse.unquote(parts.username or "guest")
    vhost = f"cd-{RUN_ID}-session"
    quoted = urllib.parse.quote(vhost, safe="")
    try:
        management_api("PUT", f"/api/vhosts/{quoted}")
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        management_api("PUT", f"/api/permissions/{quoted}/{urllib.parse.quote(user)}", everything)
    except Exception:  # no management API, or a user that may not make vhosts
        yield url
        return
    own = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + quoted, parts.query, ""))
    try:
        if _amqp_answers(own):
            yield url
        else:
            yield own
    finally:
        with contextlib.suppress(Exception):
            management_api("DELETE", f"/api/vhosts/{quoted}")


@pytest.fixture(scope="session")
def management_url(amqp_url: str) -> str:
    """CELERY_DESK_TEST_MANAGEMENT_URL, else the local one; skip when its API does not answer."""
    from desktop.core.broker.queue_rabbitmq import RabbitQueues
    from desktop.core.broker.queue_types import QueueError

    url = os.environ.get("CELERY_DESK_TEST_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL)
    try:
        RabbitQueues(amqp_url, url).check_management()
    except QueueError as exc:
        pytest.skip(f"RabbitMQ's management API does not answer at {url}: {exc}")
    return url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, embedded_redis: RunningRedis) -> str:
    """The test's broker: the embedded Redis, then RabbitMQ (skipped when none answers)."""
    if request.param == "rabbitmq":
        return str(request.getfixturevalue("amqp_url"))
    return embedded_redis.url(0)


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    """Queue names unique to the test; the shipped app's routes, its workers and the app
    probe all follow CELERY_DESK_QUEUE_PREFIX."""
    chosen = f"t{uuid.uuid4().hex[:8]}-"
    monkeypatch.setenv("CELERY_DESK_QUEUE_PREFIX", chosen)
    return chosen


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per test run: prefixes every RabbitMQ queue and exchange the tests declare."""
    return RUN_ID


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def management_api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The guest administrator's management API (setting up a vhost and a user, reading what
    RabbitMQ holds): the answer's JSON, None when it has no body."""
    url = os.environ.get("CELERY_DESK_TEST_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL) + path
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"content-type": "application/json"},
    )
    token = base64.b64encode(b"guest:guest").decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


@pytest.fixture
def rabbit_url(request: pytest.FixtureRequest, run_id: str) -> Iterator[str]:
    """A vhost and a user of the test's own (the user tagged for the management API, as a
    person's would be to use its web UI); both deleted after."""
    request.getfixturevalue("management_url")  # skips when RabbitMQ or its API is not there
    vhost = f"cd-{run_id}-{uuid.uuid4().hex[:6]}"
    user, password = f"u-{vhost}", secrets.token_hex(12)
    quoted = urllib.parse.quote(vhost, safe="")
    management_api("PUT", f"/api/vhosts/{quoted}")
    management_api("PUT", f"/api/users/{user}", {"password": password, "tags": "management"})
    management_api(
        "PUT",
        f"/api/permissions/{quoted}/{user}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    try:
        yield f"amqp://{user}:{password}@127.0.0.1:5672/{quoted}"
    finally:
        management_api("DELETE", f"/api/vhosts/{quoted}")
        management_api("DELETE", f"/api/users/{user}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server of the tests' own (tests/postgres_server.py), on a free port of
    127.0.0.1, stopped at session end; skipped, saying why, where it cannot run."""
    from tests.postgres_server import PostgresServer, why_no_server

    problem = why_no_server()
    if problem:
        pytest.skip(problem)
    server = PostgresServer()
    server.start()
    assert server.pid is not None
    stop_with_this_process(server.pid)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres_server: Any) -> Iterator[str]:
    """A database of the test's own on the tests' server (its name), dropped after."""
    name = postgres_server.create_database()
    try:
        yield name
    finally:
        postgres_server.drop_database(name)
