"""Celery's event stream, drained fast and handed on in batches.

Redis drops a pub/sub subscriber whose output buffer passes ~32 MB, so the receiving thread
does nothing but append to a deque; a second thread takes the deque every `batch_interval`
and calls `on_batch` (state, journal, then the GUI). Capture runs with `timeout=None`: a short
capture timeout makes Celery reconnect after every quiet second and lose events meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from desktop.core import urls
from desktop.core.panel_app import panel_app

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, RECONNECTING, STOPPED = "connecting", "connected", "reconnecting", "stopped"
Event = dict[str, Any]


@dataclass
class StreamStats:
    """Counters a person (and the benchmark) can read without locking."""

    received: int = 0
    batches: int = 0
    dropped_at_stop: int = 0  # events still queued when stop() was asked: never half-handled
    reconnects: int = 0
    last_error: str = ""
    connected_since: float | None = None
    disconnected_at: list[float] = field(default_factory=list)


def receiver_app(broker_url: str, transport_options: dict[str, Any] | None = None) -> Celery:
    """The panel's Celery app without a backend: enough to listen and broadcast."""
    return panel_app(broker_url, "", transport_options)


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
        self._buffer: deque[Event] = deque()
        self._stop = threading.Event()
        self._receiver: Any = None
        self._threads: list[threading.Thread] = []
        self.state = STOPPED

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
        self._buffer.append(event)

    def _receive_loop(self) -> None:
        backoff = 0.5
        where = urls.mask(str(self.app.conf.broker_url))
        self._set_state(CONNECTING, f"connecting to {where}")
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    connection.ensure_connection(max_retries=1, timeout=5)
                    receiver = self.app.events.Receiver(connection, handlers={"*": self._on_event})
                    self._receiver = receiver
                    if self._stop.is_set():
                        break
                    consume_ready = receiver.on_consume_ready

                    def ready(*args: Any, _ready: Any = consume_ready, **kwargs: Any) -> None:
                        # Say "connected" once the consumer exists, not before: an event sent
                        # between the two would be gone (pub/sub keeps nothing).
                        _ready(*args, **kwargs)
                        self.stats.connected_since = time.time()
                        self._set_state(CONNECTED, f"receiving events from {where}")

                    receiver.on_consume_ready = ready
                    backoff = 0.5
                    receiver.capture(limit=None, timeout=None, wakeup=True)
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

    # -- batching ----------------------------------------------------------------------------------
    def _take(self) -> list[Event]:
        batch: list[Event] = []
        buffer = self._buffer
        while buffer and len(batch) < self.batch_max:
            batch.append(buffer.popleft())
        return batch

    def _batch_loop(self) -> None:
        last_enable = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            if self.state == CONNECTED and started - last_enable >= self.enable_events_every:
                last_enable = started
                self._enable_events()
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
            self._stop.wait(max(0.0, self.batch_interval - (time.monotonic() - started)))
        # Stop promptly: what is still queued is counted, not handed to owners that are
        # closing their journal.
        self.stats.dropped_at_stop = len(self._buffer)
        self._buffer.clear()
        if self.stats.dropped_at_stop:
            log.warning("event stream stopped with %d events unhandled", self.stats.dropped_at_stop)

    def _enable_events(self) -> None:
        """Like Flower: ask every worker to send task events, even those started without -E."""
        try:
            self.app.control.enable_events()
        except Exception as exc:
            log.info("enable_events broadcast failed: %s", exc)
