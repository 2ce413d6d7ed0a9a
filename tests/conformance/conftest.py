"""The conformance apps' brokers: a second password-protected Redis, and a RabbitMQ vhost
and user of the test's own (shared by every conformance module); workers and beat processes
started by hand for the periodic-task tests."""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.broker.embedded import EmbeddedRedis
from tests.conformance.beat_parts import BeatProcess, HandWorker
from tests.conftest import DEFAULT_MANAGEMENT_URL, redis_server


@pytest.fixture(scope="module")
def second_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """Another password-protected Redis: the (g) app keeps its results there."""
    with redis_server(tmp_path_factory.mktemp("results-redis")) as server:
        yield server


def _management(method: str, path: str, body: dict[str, Any] | None = None) -> None:
    """The guest administrator's management API, for setting up a vhost and a user."""
    url = os.environ.get("CELERY_DESK_TEST_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL) + path
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"content-type": "application/json"},
    )
    token = base64.b64encode(b"guest:guest").decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def rabbit_url(request: pytest.FixtureRequest, run_id: str) -> Iterator[str]:
    """A vhost and a user of the test's own (the user tagged for the management API, as a
    person's would be to use its web UI); both deleted after."""
    request.getfixturevalue("management_url")  # skips when RabbitMQ or its API is not there
    vhost = f"cd-{run_id}-{uuid.uuid4().hex[:6]}"
    user, password = f"u-{vhost}", secrets.token_hex(12)
    quoted = urllib.parse.quote(vhost, safe="")
    _management("PUT", f"/api/vhosts/{quoted}")
    _management("PUT", f"/api/users/{user}", {"password": password, "tags": "management"})
    _management(
        "PUT",
        f"/api/permissions/{quoted}/{user}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    try:
        yield f"amqp://{user}:{password}@127.0.0.1:5672/{quoted}"
    finally:
        _management("DELETE", f"/api/vhosts/{quoted}")
        _management("DELETE", f"/api/users/{user}")


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Any]:
    """Start workers by hand (`HandWorker`) in the test's directory; each stopped by its pid."""
    started: list[HandWorker] = []

    def start(module: str, broker: str, env: dict[str, str] | None = None) -> HandWorker:
        started.append(HandWorker(module, broker, tmp_path, env or {}))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def beat_factory(tmp_path: Path) -> Iterator[Any]:
    """Start `celery beat` processes (`BeatProcess`), each with its schedule file, pid file
    and log in a folder of the test's own; each stopped by its pid."""
    started: list[BeatProcess] = []

    def start(module: str, scheduler: str, env: dict[str, str]) -> BeatProcess:
        work = tmp_path / f"beat-{len(started)}"
        work.mkdir()
        started.append(BeatProcess(module, scheduler, work, env))
        return started[-1]

    yield start
    for beat in started:
        beat.stop()
