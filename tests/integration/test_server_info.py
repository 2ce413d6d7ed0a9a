"""The broker server's facts read from a real Redis, with the Queues refresh that carries them."""

from __future__ import annotations

from typing import Any

import redis

from desktop.core.broker import queues
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.server_info import REDIS, read, read_redis
from tests.factories import app_config


def test_redis_version_memory_clients_and_a_timed_ping(embedded_redis: Any) -> None:
    client = redis.Redis.from_url(embedded_redis.url(0))
    try:
        info = read_redis(client)
        expected = str(client.info("server")["redis_version"])
    finally:
        client.close()
    assert info.kind == REDIS and not info.error
    assert info.version == expected
    assert info.memory_bytes is not None and info.memory_bytes > 100_000
    assert info.clients is not None and info.clients >= 1
    assert info.latency_ms is not None and 0 < info.latency_ms < 1000
    assert info.latency_of == "PING"


def test_a_queues_snapshot_carries_the_server_only_when_asked(embedded_redis: Any) -> None:
    source = RedisQueues(embedded_redis.url(0), app_config())
    try:
        assert queues.snapshot(source, ["celery"], None, 10, False).server is None
        taken = queues.snapshot(source, ["celery"], None, 10, False, with_server=True)
        assert taken.server is not None and taken.server.version
        assert read(source).kind == REDIS
    finally:
        source.close()


def test_a_redis_that_does_not_answer_is_said_not_raised(unused_port: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=unused_port, socket_connect_timeout=1)
    info = read_redis(client)
    assert info.error.startswith("Redis did not answer") and info.version is None


def test_rabbitmq_version_and_totals_through_its_management_api(
    amqp_url: str, management_url: str
) -> None:
    from desktop.core.broker.queue_rabbitmq import RabbitQueues
    from desktop.core.broker.server_info import RABBITMQ

    info = read(RabbitQueues(amqp_url, management_url))
    assert info.kind == RABBITMQ and not info.error, info.error
    assert info.version and info.version[0].isdigit()
    assert info.latency_ms is not None and info.latency_of == "management API"
    assert info.messages_ready is not None and info.consumers is not None
    # Without a management API RabbitMQ says none of this, and says why.
    assert read(RabbitQueues(amqp_url)).error.startswith("no management API")
