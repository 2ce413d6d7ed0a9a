"""RabbitMQ's event stream read with pika: the panel's own event queue, declared exactly as
Celery's `EventReceiver` declares it, drained on a thread of its own into the stream's buffer,
which the stream's batch thread hands on.

Why not Celery's `Receiver.capture` (kombu over py-amqp): it costs more CPU per event (measured
in bench/events.py --amqp-client; docs/PERFORMANCE.md), and on RabbitMQ the event queue has a
message TTL (the app's `event_queue_ttl`, 5 s by default): a reader that falls that far behind
loses events inside the broker, silently. So this reader does nothing but read: a delivery is
decoded with orjson (never pickle) into the stream's buffer, acknowledged with one
`basic.ack(multiple)` per read, and the stream's batch thread hands the buffer on. Unlike the
Redis reader it does not hand on inline: Redis keeps a slow subscriber's events in its output
buffer, RabbitMQ only for the TTL, so the events wait in the panel's memory instead (up to
`BACKLOG_MAX`, then RabbitMQ holds them, `PREFETCH` in flight).

The queue's name, exchange, routing key, durability and arguments (`x-message-ttl`,
`x-expires`) are read from the receiver Celery builds for the app (`receiver.queue`), turned into
AMQP arguments by kombu's own channel: nothing is copied from Celery's defaults. TLS connections
(`amqps://`, `broker_use_ssl`) keep Celery's consumer: their options are kombu's and py-amqp's to
interpret, and guessing them for pika could weaken them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
import pika
from pika.adapters.blocking_connection import BlockingChannel

# Deliveries RabbitMQ may push before the panel acknowledges: half a second at 10k events/s, so
# the broker never waits on the panel's acks while the panel keeps up.
PREFETCH = 5000
# Events read and not yet handed on beyond which the reader stops acknowledging (so RabbitMQ
# stops delivering): about 100 MB of decoded events, 10 s at 10k events/s.
BACKLOG_MAX = 100_000
# The longest the reader waits for a delivery before looking at its stop flag and its acks.
READ_SLICE_S = 0.05
# How often the number of events waiting in the panel's queue is asked for (a passive declare).
DEPTH_EVERY_S = 1.0


def pika_usable(connection: Any) -> bool:
    """Whether this kombu connection can be opened by pika with the same meaning: plain AMQP
    with a user and a password (TLS and other login methods stay with kombu)."""
    transport = type(connection.transport).__name__
    return (
        connection.transport.driver_type == "amqp"
        and not connection.ssl
        and "SSL" not in transport
        and connection.login_method in (None, "AMQPLAIN", "PLAIN")
    )


def pika_parameters(connection: Any, heartbeat_s: float | None = None) -> pika.ConnectionParameters:
    """The broker kombu connected to (its current failover host), as pika parameters, with
    the app's `broker_heartbeat` (Celery's setting: 0 turns heartbeats off; None leaves them
    to what RabbitMQ proposes): a silent broker or a half-open connection is found within two
    heartbeats, not after the kernel's TCP timeout."""
    return pika.ConnectionParameters(
        host=connection.hostname or "localhost",
        port=int(connection.port or connection.transport.default_port),
        virtual_host=connection.virtual_host or "/",
        credentials=pika.PlainCredentials(connection.userid or "guest", connection.password or ""),
        heartbeat=None if heartbeat_s is None else int(heartbeat_s),
        socket_timeout=float(connection.connect_timeout or 5),
        blocked_connection_timeout=None,
        connection_attempts=1,
        client_properties={"connection_name": "celery-desk events"},
    )


def declare_event_queue(channel: BlockingChannel, queue: Any, arguments: dict[str, Any]) -> None:
    """Celery's event exchange and the receiver's queue, bound with its routing key."""
    exchange = queue.exchange
    channel.exchange_declare(
        exchange=exchange.name,
        exchange_type=exchange.type,
        durable=bool(exchange.durable),
        auto_delete=bool(exchange.auto_delete),
        arguments=exchange.arguments or None,
    )
    channel.queue_declare(
        queue=queue.name,
        durable=bool(queue.durable),
        exclusive=bool(queue.exclusive),
        auto_delete=bool(queue.auto_delete),
        arguments=arguments or None,
    )
    channel.queue_bind(queue=queue.name, exchange=exchange.name, routing_key=queue.routing_key)


def queue_arguments(connection: Any, queue: Any) -> dict[str, Any]:
    """The queue's AMQP arguments as kombu's own channel writes them for this queue."""
    channel = connection.default_channel
    prepared = channel.prepare_queue_arguments(
        dict(queue.queue_arguments or {}),
        expires=queue.expires,
        message_ttl=queue.message_ttl,
        max_length=queue.max_length,
        max_length_bytes=queue.max_length_bytes,
        max_priority=queue.max_priority,
    )
    return dict(prepared or {})


class AmqpEventReader:
    """One consuming session on RabbitMQ; `run` returns when `should_stop()` says so and raises
    on a broken connection (the stream's loop reconnects with backoff)."""

    def __init__(
        self,
        connection: Any,
        queue: Any,
        from_message: Callable[[Any], tuple[str, dict[str, Any]]],
        append: Callable[[dict[str, Any]], None],
        on_undecodable: Callable[[Exception], None],
        heartbeat_s: float | None = None,
    ) -> None:
        self.parameters = pika_parameters(connection, heartbeat_s)
        self.queue = queue
        self.arguments = queue_arguments(connection, queue)
        self.from_message = from_message
        self.append = append
        self.on_undecodable = on_undecodable
        self.last_tag = 0
        self.acked_tag = 0
        self.waiting_in_broker = 0

    def _delivered(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.last_tag = method.delivery_tag
        try:
            if properties.content_type != "application/json":
                raise ValueError(f"content type {properties.content_type!r}")
            payload = orjson.loads(body)
        except Exception as exc:  # not JSON, not an event: count it, keep reading
            self.on_undecodable(exc)
            return
        for event in payload if isinstance(payload, list) else (payload,):
            try:  # one malformed event in a message's list is skipped alone
                self.append(self.from_message(event)[1])
            except Exception as exc:
                self.on_undecodable(exc)

    def run(
        self,
        should_stop: Callable[[], bool],
        on_consuming: Callable[[], None],
        has_room: Callable[[], bool],
    ) -> None:
        """Consume until stopped, acknowledging what was read while the panel's backlog has
        room; without room RabbitMQ stops at `PREFETCH` unacknowledged deliveries and keeps the
        rest (within the queue's TTL) until the panel catches up."""
        connection = pika.BlockingConnection(self.parameters)
        try:
            channel = connection.channel()
            declare_event_queue(channel, self.queue, self.arguments)
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(self.queue.name, self._delivered, auto_ack=False)
            on_consuming()
            next_depth = time.monotonic() + DEPTH_EVERY_S
            while not should_stop():
                connection.process_data_events(time_limit=READ_SLICE_S)
                if self.last_tag > self.acked_tag and has_room():
                    channel.basic_ack(delivery_tag=self.last_tag, multiple=True)
                    self.acked_tag = self.last_tag
                if time.monotonic() >= next_depth:
                    next_depth = time.monotonic() + DEPTH_EVERY_S
                    declared = channel.queue_declare(queue=self.queue.name, passive=True)
                    self.waiting_in_broker = int(declared.method.message_count)
        finally:
            if connection.is_open:
                with contextlib.suppress(Exception):  # already broken: the stream reconnects
                    connection.close()
