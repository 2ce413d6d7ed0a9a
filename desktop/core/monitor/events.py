"""Celery's event stream, drained fast and handed on in batches.

Redis drops a pub/sub subscriber whose output buffer passes ~32 MB, so draining must be cheap.

- On Redis the receiving thread reads the pub/sub socket itself (the same pattern, client and key
  prefix kombu would use, hiredis to parse, orjson to decode JSON envelopes; ~10 us per event
  against ~28 us through kombu's consumer) and hands a batch to `on_batch` every
  `batch_interval` on the same thread: no second thread competing for the GIL, and what arrives
  meanwhile waits in the socket (a 100 ms batch at 26k events/s is ~2.5 MB of Redis's 32 MB).
- On RabbitMQ (plain AMQP) pika reads the panel's own event queue, declared as Celery declares
  it (amqp_events.py), into a deque that a second thread hands on every `batch_interval`: the
  queue has a TTL, so a backlog waits in the panel's memory rather than in the broker.
- Elsewhere (AMQP over TLS, other transports) it is Celery's `Receiver.capture(timeout=None,
  wakeup=True)` appending to a deque, and a second thread takes the deque every
  `batch_interval`. A short capture timeout makes Celery reconnect after every quiet second and
  lose events meanwhile.

Only JSON is decoded; an envelope of another content type is counted and skipped, never unpickled.
Timestamps are handed on as their senders wrote them, with `local_received` (this machine's
time of arrival): `ClusterState` puts them on the panel's clock (clocks.py).
"""

from __future__ import annotations

import base64
import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hiredis
import orjson
from celery import Celery
from celery.events.receiver import EventReceiver

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import client_app, panel_app
from desktop.core.monitor.amqp_events import BACKLOG_MAX, AmqpEventReader, pika_usable
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, RECONNECTING, STOPPED = "connecting", "connected", "reconnecting", "stopped"
# Subscribed, but the broker has stopped answering (paused, overloaded, a network black hole):
# nothing can be told from silence alone on an idle cluster, so the stream asks (PING) and says so.
SILENT = "silent"
# After this long without a byte from Redis the stream sends a PING on its subscription; a broker
# that has not answered it this much later is called silent. The panel's own bound.
SILENCE_PING_AFTER_S = 5.0
SILENT_AFTER_S = 5.0
Event = dict[str, Any]
_PMESSAGE = (b"pmessage", "pmessage")
_PSUBSCRIBE = (b"psubscribe", "psubscribe")
_PONG = (b"pong", "pong")


@dataclass
class StreamStats:
    """Counters a person (and the benchmark) can read without locking."""

    received: int = 0
    batches: int = 0
    dropped_at_stop: int = 0  # events still queued when stop() was asked: never half-handled
    reconnects: int = 0
    undecodable: int = 0  # envelopes that are not JSON (pickle, say) or do not parse
    last_error: str = ""
    connected_since: float | None = None
    disconnected_at: list[float] = field(default_factory=list)
    waiting_in_broker: int = 0  # RabbitMQ: events in the panel's queue not delivered yet


def receiver_app(broker_url: str, config: EffectiveConfig | None = None) -> Celery:
    """The panel's Celery app without a backend: enough to listen and broadcast. With the
    app's effective configuration it listens where that app's workers publish (the transport's
    key prefix, the event exchange) and broadcasts on its control exchange."""
    if config is None:
        return panel_app(broker_url, "")
    return client_app(config, Endpoints(broker_url, "", ""))


class _SenderTimeReceiver(EventReceiver):  # type: ignore[misc]
    """Celery's receiver, leaving each event's `timestamp` as its sender wrote it.

    Celery's `event_from_message` "localises" it by the sender's `utcoffset`, which shifts
    epoch seconds by hours (celery/celery#2482); `ClusterState` puts it on the panel's clock
    instead (desktop/core/base/clocks.py). The Lamport clock and `local_received` are still set.
    """

    on_malformed: Callable[[Exception], None] = staticmethod(lambda exc: None)

    def event_from_message(
        self, body: Event, localize: bool = False, **kwargs: Any
    ) -> tuple[str, Event]:
        del localize
        return super().event_from_message(body, localize=False, **kwargs)  # type: ignore[no-any-return]

    def _receive(self, body: Any, message: Any, *args: Any) -> None:
        """Celery's, one event at a time: a malformed event in a message's list is counted
        and skipped alone (Celery's raised out of the consumer: the rest of the message was
        lost and the connection dropped)."""
        del message, args
        for event in body if isinstance(body, list) else (body,):
            try:
                self.process(*self.event_from_message(event))
            except Exception as exc:
                self.on_malformed(exc)


def event_receiver(
    app: Celery,
    connection: Any,
    handlers: dict[str, Callable[[Event], None]] | None = None,
    on_malformed: Callable[[Exception], None] | None = None,
) -> Any:
    """The receiver both capture paths decode every event with (`event_from_message`)."""
    receiver = _SenderTimeReceiver(connection, handlers=handlers or {}, app=app)
    if on_malformed is not None:
        receiver.on_malformed = on_malformed
    return receiver


class _SocketReader:
    """RESP replies from a connected socket, with a timeout, through hiredis."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = hiredis.Reader()
        sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)

    def next(self, timeout: float) -> Any:
        """The next reply, or None when none came within `timeout` seconds."""
        reply = self.reader.gets()
        if reply is not False:
            return reply
        pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
        if not pending and not self.poller.poll(timeout * 1000):
            return None
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, ssl.SSLWantReadError):
            return None
        if not data:
            raise ConnectionError("the broker closed the event connection")
        self.reader.feed(data)
        reply = self.reader.gets()
        if isinstance(reply, Exception):
            raise reply
        return None if reply is False else reply


class EventStream:
    """Receiver thread + batching thread, with reconnect and backoff; stop() joins both."""

    def __init__(
        self,
        app: Celery,
        on_batch: Callable[[list[Event]], None],
        on_status: Callable[[str, str], None] = lambda state, message: None,
        *,
        batch_interval: float = 0.1,
        batch_max: int = 5000,
        enable_events_every: float = 30.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.app = app
        self.on_batch = on_batch
        self.on_status = on_status
        self.batch_interval = batch_interval
        self.batch_max = batch_max
        self.enable_events_every = enable_events_every
        self.max_backoff = max_backoff
        self.stats = StreamStats()
        # Wall time of the last thing heard from the broker (an event, a PONG): up to then the
        # stream has taken everything, so a gap found later starts no earlier than this.
        self.heard_at = time.time()
        self._buffer: deque[Event] = deque()
        self._stop = threading.Event()
        self._receiver: Any = None
        self._threads: list[threading.Thread] = []
        self.state = STOPPED
        self._inline = False
        # RabbitMQ's reader: pika (amqp_events.py) unless TLS keeps Celery's; "kombu" forces
        # Celery's consumer (the benchmark's comparison, bench/events.py --amqp-client).
        self.amqp_client = "pika"

    @property
    def backlog(self) -> int:
        """Events taken from the broker and not handed on yet."""
        return len(self._buffer)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for target, name in (
            (self._receive_loop, "events-receive"),
            (self._batch_loop, "events-batch"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask both threads to end and wait; True when they did within `timeout`."""
        self._stop.set()
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = any(t.is_alive() for t in self._threads)
        self._threads = []
        self._set_state(STOPPED, "event stream stopped")
        return not alive

    def _set_state(self, state: str, message: str) -> None:
        self.state = state
        try:
            self.on_status(state, message)
        except Exception:  # a listener's bug must not kill the stream
            log.exception("event status listener failed")

    # -- receiving --------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self.heard_at = time.time()
        self._buffer.append(event)

    def _receive_loop(self) -> None:
        backoff = 0.5
        where = urls.mask(str(self.app.conf.broker_url))
        self._set_state(CONNECTING, f"connecting to {where}")
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    connection.ensure_connection(max_retries=1, timeout=5)
                    receiver = event_receiver(
                        self.app, connection, {"*": self._on_event}, self._count_undecodable
                    )
                    self._receiver = receiver
                    if self._stop.is_set():
                        break
                    backoff = 0.5
                    if connection.transport.driver_type == "redis":
                        self._capture_redis(connection, receiver, where)
                    elif self.amqp_client == "pika" and pika_usable(connection):
                        self._capture_amqp(connection, receiver, where)
                    else:
                        self._capture_celery(receiver, where)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.stats.reconnects += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                self.stats.disconnected_at.append(time.time())
                self._set_state(
                    RECONNECTING,
                    f"event stream lost ({self.stats.last_error}); retrying in {backoff:.1f} s",
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self._receiver = None
                self._inline = False
        if self._buffer:  # what the redis path read but had not handed on yet
            self.stats.dropped_at_stop += len(self._buffer)
            self._buffer.clear()

    def _connected(self, where: str) -> None:
        # Say "connected" once subscribed, not before: an event sent between the two would be
        # gone (pub/sub keeps nothing).
        self.stats.connected_since = time.time()
        self._set_state(CONNECTED, f"receiving events from {where}")

    def _capture_celery(self, receiver: Any, where: str) -> None:
        consume_ready = receiver.on_consume_ready

        def ready(*args: Any, _ready: Any = consume_ready, **kwargs: Any) -> None:
            _ready(*args, **kwargs)
            self._connected(where)

        receiver.on_consume_ready = ready
        receiver.capture(limit=None, timeout=None, wakeup=True)

    def _capture_amqp(self, connection: Any, receiver: Any, where: str) -> None:
        """RabbitMQ through pika (amqp_events.py): this thread reads, the batch thread hands
        on (the events wait in memory, not in a queue with a TTL)."""
        reader = AmqpEventReader(
            connection,
            receiver.queue,
            receiver.event_from_message,
            self._on_event,
            self._count_undecodable,
            self.app.conf.broker_heartbeat,
        )

        def consuming() -> None:
            self._connected(where)
            self._wake_workers(receiver)

        def has_room() -> bool:
            self.stats.waiting_in_broker = reader.waiting_in_broker
            return len(self._buffer) < BACKLOG_MAX

        reader.run(self._stop.is_set, consuming, has_room)

    def _capture_redis(self, connection: Any, receiver: Any, where: str) -> None:
        """Read Celery's event pattern straight off a pub/sub socket; hand on inline."""
        channel = connection.default_channel
        client = channel.client  # kombu's client: password, TLS, sentinel, global key prefix
        pattern = getattr(client, "global_keyprefix", "") + channel._get_publish_topic(
            self.app.conf.event_exchange, "*"
        )
        # redis-py connects (TLS, AUTH, SELECT); after that the socket is read here with a
        # hiredis reader of our own: redis-py's per-message bookkeeping (push handlers that
        # format every message for a debug log) cost more than decoding the event.
        subscription = client.connection_pool.make_connection()
        subscription.health_check_interval = 0  # redis-py's check would read our socket; we PING
        try:
            subscription.connect()
            subscription.send_command("PSUBSCRIBE", pattern)
            socket_reader = _SocketReader(subscription._sock)
            while not self._stop.is_set():  # wait for the subscription to be confirmed
                reply = socket_reader.next(0.5)
                if isinstance(reply, list) and reply and reply[0] in _PSUBSCRIBE:
                    break
            if self._stop.is_set():
                return
            self._inline = True
            self._connected(where)
            self._wake_workers(receiver)
            self._read_pubsub(
                socket_reader,
                receiver.event_from_message,
                lambda: subscription.send_command("PING"),
                where,
            )
        finally:
            subscription.disconnect()

    def _read_pubsub(
        self,
        socket_reader: _SocketReader,
        from_message: Callable[..., Any],
        ping: Callable[[], None] = lambda: None,
        where: str = "",
    ) -> None:
        """Events off the socket until stopped. A paused broker closes nothing: it just stops
        talking. The subscription is kept (what Redis queued for it meanwhile still arrives, so
        nothing is lost), and silence is asked about with a PING (Redis answers one on a
        subscribed connection) and said as `SILENT` until Redis answers again."""
        append = self._buffer.append
        loads, b64decode = orjson.loads, base64.b64decode
        next_reply = socket_reader.next
        interval = self.batch_interval
        next_flush = time.monotonic() + interval
        heard = time.monotonic()
        pinged: float | None = None
        silent_since: float | None = None
        while not self._stop.is_set():
            reply = next_reply(max(0.0, next_flush - time.monotonic()))
            now = time.monotonic()
            if reply is not None:
                heard, pinged = now, None
                self.heard_at = time.time()
                if silent_since is not None:
                    self._set_state(
                        CONNECTED,
                        f"{where} answers again after {now - silent_since + SILENT_AFTER_S:.0f} s"
                        " of silence; still subscribed, nothing missed",
                    )
                    silent_since = None
            elif pinged is None and now - heard >= SILENCE_PING_AFTER_S:
                ping()
                pinged = now
            elif pinged is not None and silent_since is None and now - pinged >= SILENT_AFTER_S:
                silent_since = now
                self._set_state(
                    SILENT,
                    f"{where} has not answered for {now - heard:.0f} s (paused, overloaded or "
                    "unreachable); still subscribed: events sent meanwhile arrive when it answers",
                )
            if reply is not None and reply[0] in _PMESSAGE:
                try:
                    envelope = loads(reply[3])
                    if envelope.get("content-type") != "application/json":
                        raise ValueError(f"content type {envelope.get('content-type')!r}")
                    body = envelope["body"]
                    if envelope.get("properties", {}).get("body_encoding") == "base64":
                        body = b64decode(body)
                    payload = loads(body)
                except Exception as exc:  # not JSON, not an event: count it, keep reading
                    self._count_undecodable(exc)
                else:
                    for event in payload if isinstance(payload, list) else (payload,):
                        try:  # one malformed event in a message's list is skipped alone
                            append(from_message(event)[1])
                        except Exception as exc:
                            self._count_undecodable(exc)
            now = time.monotonic()
            if now >= next_flush or len(self._buffer) >= self.batch_max:
                next_flush = now + interval
                self._handle_buffered()

    def _count_undecodable(self, exc: Exception) -> None:
        self.stats.undecodable += 1
        if self.stats.undecodable in (1, 10, 100, 1000):
            log.warning("undecodable event skipped (%d so far): %s",
                        self.stats.undecodable, exc)  # fmt: skip

    def _wake_workers(self, receiver: Any) -> None:
        """What `capture(wakeup=True)` does: ask every worker for a heartbeat now."""
        try:
            receiver.wakeup_workers()
        except Exception as exc:
            log.info("wakeup broadcast failed: %s", exc)

    # -- batching ----------------------------------------------------------------------------------
    def _take(self) -> list[Event]:
        batch: list[Event] = []
        buffer = self._buffer
        while buffer and len(batch) < self.batch_max:
            batch.append(buffer.popleft())
        return batch

    def _handle_buffered(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                break
            self.stats.received += len(batch)
            self.stats.batches += 1
            try:
                self.on_batch(batch)
            except Exception:
                log.exception("event batch handler failed; %d events skipped", len(batch))
            if len(batch) < self.batch_max:
                break

    def _batch_loop(self) -> None:
        last_enable = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            if self.state == CONNECTED and started - last_enable >= self.enable_events_every:
                last_enable = started
                self._enable_events()
            if not self._inline:  # the redis path hands on from its own thread
                self._handle_buffered()
            self._stop.wait(max(0.0, self.batch_interval - (time.monotonic() - started)))
        # Stop promptly: what is still queued is counted, not handed to owners that are
        # closing their journal.
        self.stats.dropped_at_stop += len(self._buffer)
        self._buffer.clear()
        if self.stats.dropped_at_stop:
            log.warning("event stream stopped with %d events unhandled", self.stats.dropped_at_stop)

    def _enable_events(self) -> None:
        """Like Flower: ask every worker to send task events, even those started without -E."""
        try:
            self.app.control.enable_events()
        except Exception as exc:
            log.info("enable_events broadcast failed: %s", exc)
