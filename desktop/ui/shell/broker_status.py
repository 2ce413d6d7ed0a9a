"""The status bar's broker latency and event rate: how fast the broker answers and how much the
live feed hears, always in view whatever the screen.

Nothing here asks the broker. The latency is the newest of two measurements that already run:
the broker's PING (Redis) or management call (RabbitMQ) timed by the Queues screen's read
while it carries the server's facts (broker/server_info.py), else the session's connection
test every 5 s (connect, authenticate and PING: an upper bound of a message's round trip).
The event rate is the live feed's own count (`EventStream.stats.received`: every event heard,
worker heartbeats included) sampled once a second, averaged over the last RATE_WINDOW_S.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QStatusBar

from desktop.core.opening import ConnectionFacts
from desktop.ui.common.accessible import explain

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

RATE_WINDOW_S = 10
SAMPLE_MS = 1000
PING_FRESH_S = 15.0  # a PING read with the queues is preferred while this recent


class BrokerStatus(QObject):
    """Two permanent labels of the status bar, kept up to date from the session."""

    def __init__(self, session: Session, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.session = session
        self.latency = explain(QLabel("Latency: —"), "How long the broker takes to answer",
                               "Broker latency")  # fmt: skip
        self.rate = explain(QLabel("— events/s"), "Events heard per second", "Event rate")
        for label in (self.latency, self.rate):
            label.setContentsMargins(12, 0, 4, 0)  # apart from the status bar's other parts
            bar.addPermanentWidget(label)
        self.latency_ms: float | None = None
        self.per_second: float | None = None
        self._ping_at = 0.0  # when the last PING (not a connection test) was read
        self._counts: deque[tuple[float, int]] = deque()  # (monotonic, events received so far)
        self._monitor: Any = None
        self._sample = QTimer(self)
        self._sample.setInterval(SAMPLE_MS)
        self._sample.timeout.connect(self.sample)
        self._sample.start()
        session.facts_changed.connect(self.show_facts)
        session.state_changed.connect(self._state)
        session.profile_switched.connect(lambda _name: self._forget())

    # -- latency ---------------------------------------------------------------------------------
    def show_facts(self, facts: ConnectionFacts) -> None:
        """The connection test's time, unless a PING newer than PING_FRESH_S says better."""
        report = facts.report
        if not report.ok:
            self._show_latency(None, f"The broker did not answer: {report.message}")
        elif time.monotonic() - self._ping_at > PING_FRESH_S:
            self._show_latency(
                report.elapsed_s * 1000.0,
                "The connection test (connect, authenticate, PING), every 5 s",
            )

    def show_snapshot(self, snapshot: Any) -> None:
        """A Queues read (broker/queues.Snapshot); its server facts when it carried them."""
        server = getattr(snapshot, "server", None)
        if server is not None and server.latency_ms is not None:
            self._ping_at = time.monotonic()
            self._show_latency(
                server.latency_ms, f"{server.kind}'s answer to a {server.latency_of}"
            )

    def _show_latency(self, ms: float | None, how: str) -> None:
        self.latency_ms = ms
        if ms is None:
            self.latency.setText("Latency: —")
        else:
            self.latency.setText(f"Latency: {ms:.1f} ms" if ms < 10 else f"Latency: {ms:.0f} ms")
        self.latency.setToolTip(f"{how}\nread at {time.strftime('%H:%M:%S')}")

    def _state(self, state: str, _message: str) -> None:
        if state != "connected":
            self._show_latency(None, f"Not connected ({state})")

    # -- event rate ----------------------------------------------------------------------------
    def sample(self) -> None:
        """Once a second: the feed's count of events received, and the rate over the window."""
        monitor = self.session.monitor
        if monitor is not self._monitor:  # a new feed (reconnect, switch): counts start again
            self._monitor = monitor
            self._counts.clear()
        if monitor is None:
            self.per_second = None
            self.rate.setText("— events/s")
            self.rate.setToolTip("The live feed is not running")
            return
        now = time.monotonic()
        stats = monitor.stream.stats
        if not self._counts and stats.connected_since is not None:
            # A feed new since the last sample counted from nothing when it connected: what it
            # heard before this first look is in the rate too.
            age = time.time() - stats.connected_since
            if 0.0 <= age <= RATE_WINDOW_S:
                self._counts.append((now - age, 0))
        self._counts.append((now, stats.received))
        while self._counts and now - self._counts[0][0] > RATE_WINDOW_S:
            self._counts.popleft()
        (first_at, first), (last_at, last) = self._counts[0], self._counts[-1]
        if last_at - first_at < 0.5:
            return  # one sample: no rate yet
        self.per_second = (last - first) / (last_at - first_at)
        self.rate.setText(f"{self.per_second:.1f} events/s")
        self.rate.setToolTip(
            f"Events heard per second over the last {last_at - first_at:.0f} s (task events "
            f"and worker heartbeats); {last:,} since the feed started"
        )

    def _forget(self) -> None:
        self._monitor = None
        self._counts.clear()
        self._ping_at = 0.0
        self._show_latency(None, "Connecting")
