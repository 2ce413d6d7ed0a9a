"""The conformance apps' brokers: a second password-protected Redis (the RabbitMQ vhost and
user of the test's own, `rabbit_url`, is in tests/conftest.py); workers and beat processes
started by hand for the periodic-task tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.core.broker.embedded import EmbeddedRedis
from tests.conformance.beat_parts import beat_factory, worker_factory  # noqa: F401 (fixtures)
from tests.conftest import redis_server


@pytest.fixture(scope="module")
def second_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """Another password-protected Redis: the (g) app keeps its results there."""
    with redis_server(tmp_path_factory.mktemp("results-redis")) as server:
        yield server
