"""The broker server at a glance: its kind, version, how long it takes to answer, and what it
holds (Redis: memory and clients; RabbitMQ: its message and consumer totals).

Why here and read with the queues: the Overview shows it, and the one thing that already asks
the broker at an interval is the Queues screen's refresh (queues.snapshot, on the job pool).
Reading it in the same refresh, with the same inspector's client, adds one PING and one INFO
(Redis) or one management API call (RabbitMQ) per refresh and no poller of its own.

What a server answers is outside input: every number is read with `_number` (a missing or odd
field is None, never an exception), and a server that does not answer gives a ServerInfo with
its error, never a failed queues read. No URL is kept here, so no password can reach a screen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from desktop.core.broker.queue_rabbitmq import RabbitQueues
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.queue_types import QueueError

REDIS, RABBITMQ = "Redis", "RabbitMQ"


@dataclass(frozen=True)
class ServerInfo:
    """One reading of the broker server; None where it said nothing (or was not asked)."""

    kind: str  # REDIS or RABBITMQ
    version: str | None = None
    latency_ms: float | None = None  # a PING (Redis) or the management call (RabbitMQ)
    latency_of: str = ""  # what was timed, said beside the number
    memory_bytes: int | None = None  # Redis used_memory
    max_memory_bytes: int | None = None  # Redis maxmemory; None or 0: no limit set
    clients: int | None = None  # Redis connected_clients, RabbitMQ connections
    messages_ready: int | None = None  # RabbitMQ, every queue of the vhost
    messages_unacked: int | None = None
    consumers: int | None = None  # RabbitMQ, every consumer of the server
    error: str = ""  # why it could not be read (the queues may still have been)


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str | bytes):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:40] if isinstance(value, str) and value else None


def read_redis(client: redis.Redis) -> ServerInfo:
    """A PING timed alone (the latency a worker's BRPOP also sees), then INFO's server,
    memory and clients sections in one round trip."""
    try:
        started = time.perf_counter()
        client.ping()
        latency = (time.perf_counter() - started) * 1000.0
        pipe = client.pipeline(transaction=False)
        for section in ("server", "memory", "clients"):
            pipe.info(section)
        server, memory, clients = pipe.execute()
    except redis.RedisError as exc:
        return ServerInfo(REDIS, error=f"Redis did not answer: {exc}")
    server = server if isinstance(server, dict) else {}
    memory = memory if isinstance(memory, dict) else {}
    clients = clients if isinstance(clients, dict) else {}
    return ServerInfo(
        REDIS,
        version=_text(server.get("redis_version")),
        latency_ms=latency,
        latency_of="PING",
        memory_bytes=_number(memory.get("used_memory")),
        max_memory_bytes=_number(memory.get("maxmemory")) or None,
        clients=_number(clients.get("connected_clients")),
    )


def read_rabbitmq(source: RabbitQueues) -> ServerInfo:
    """The management API's overview (version, message and object totals), timed. Without
    a management API RabbitMQ says none of this: the version is then the connection test's."""
    if not source.management_url:
        return ServerInfo(RABBITMQ, error="no management API: totals not known")
    try:
        started = time.perf_counter()
        overview = source.overview()
        latency = (time.perf_counter() - started) * 1000.0
    except QueueError as exc:
        return ServerInfo(RABBITMQ, error=str(exc))
    if not isinstance(overview, dict):
        return ServerInfo(RABBITMQ, error="the management API's overview is not an object")
    totals = overview.get("queue_totals")
    totals = totals if isinstance(totals, dict) else {}
    objects = overview.get("object_totals")
    objects = objects if isinstance(objects, dict) else {}
    return ServerInfo(
        RABBITMQ,
        version=_text(overview.get("rabbitmq_version")),
        latency_ms=latency,
        latency_of="management API",
        clients=_number(objects.get("connections")),
        messages_ready=_number(totals.get("messages_ready")),
        messages_unacked=_number(totals.get("messages_unacknowledged")),
        consumers=_number(objects.get("consumers")),
    )


def read(source: RedisQueues | RabbitQueues) -> ServerInfo:
    """The server behind `source` (the queues inspector a refresh already holds)."""
    if isinstance(source, RedisQueues):
        return read_redis(source.client)
    return read_rabbitmq(source)


def size_text(count: int | None) -> str:
    """Bytes as people read them: "812 KB", "1.4 MB", "2.1 GB"; "" when not known."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # not reached
