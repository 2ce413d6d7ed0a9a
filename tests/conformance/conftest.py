"""The conformance apps' brokers: a second password-protected Redis (the RabbitMQ vhost and
user of the test's own, `rabbit_url`, is in tests/conftest.py); workers and beat processes
started by hand for the periodic-task tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.broker.embedded import EmbeddedRedis
from tests.conformance.beat_parts import BeatProcess, HandWorker
from tests.conftest import redis_server


@pytest.fixture(scope="module")
def second_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """Another password-protected Redis: the (g) app keeps its results there."""
    with redis_server(tmp_path_factory.mktemp("results-redis")) as server:
        yield server


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
