"""The Overview's broker: its kind and version, how fast it answers, what it holds.

From the connection's facts (the profile, the connection test's answer and time, the
embedded broker) and the Queues screen's latest read (each queue's count and, while the
Overview shows, the server's own facts: broker/server_info.py). No URL is shown: the
connection test's sentence (host and port, never a password) is the tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from desktop.core.broker.server_info import ServerInfo, size_text
from desktop.core.monitor.glance import QueueGlance
from desktop.core.opening import ConnectionFacts
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.states import STATE_SYMBOLS
from desktop.ui.common.theme import set_tone


class BrokerBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Broker", parent)
        column = QVBoxLayout(self)
        column.setSpacing(3)
        self.server = QLabel("Connecting…")
        self.server.setProperty("role", "big")  # the theme's heading size: scales with the font
        self.server.setAccessibleName("Broker server")
        self.latency = QLabel()
        self.holds = QLabel()
        self.queues = QLabel()
        self.events = QLabel()
        self.events.setToolTip("Task and worker events heard per second, over the last minute")
        self.results = muted()
        self.embedded = muted()
        self.note = muted()
        self.note.setWordWrap(True)
        self.lines = (self.latency, self.holds, self.queues, self.events, self.results,
                      self.embedded, self.note)  # fmt: skip
        column.addWidget(self.server)
        for label in self.lines:
            column.addWidget(label)
        column.addStretch(1)

    def clear(self) -> None:
        self.server.setText("Connecting…")
        set_tone(self.server, "")
        for label in self.lines:
            label.setText("")
        self.setToolTip("")

    def show_events(self, per_second: float) -> None:
        self.events.setText(f"Events {per_second:.1f}/s")

    def show_broker(
        self, facts: ConnectionFacts, server: ServerInfo | None, glances: Sequence[QueueGlance]
    ) -> None:
        """What is known now; each line says only what was read."""
        report = facts.report
        kind = "RabbitMQ" if facts.profile.broker_kind == "rabbitmq" else "Redis"
        version = (server.version and f"{server.kind} {server.version}") if server else None
        title = version or report.server or kind
        if facts.embedded is not None and facts.embedded.running:
            title += " · embedded"
        if not report.ok:
            self.server.setText(f"{STATE_SYMBOLS['crashed']} {kind}: not connected")
            set_tone(self.server, "error")
            self.note.setText(report.message)
        else:
            self.server.setText(f"{STATE_SYMBOLS['online']} {title}")
            set_tone(self.server, "")
            self.note.setText(server.error if server is not None else "")
        self.setToolTip(report.message)
        backend = facts.endpoints.result_backend if facts.endpoints else ""
        self.results.setText(f"Results: {_where(backend)}" if backend else "Results: none")
        embedded = facts.embedded
        self.embedded.setText(
            f"Embedded redis-server, pid {embedded.pid}, port {embedded.port}"
            if embedded is not None and embedded.running
            else ""
        )
        self.latency.setText(_latency(server, report.elapsed_s if report.ok else None))
        self.holds.setText(_holds(server))
        self.holds.setToolTip(
            "RabbitMQ's management statistics, which lag by its collection interval (5 s); "
            "the queues below are counted exactly (passive declare)"
            if server is not None and server.kind == "RabbitMQ"
            else ""
        )
        self.queues.setText(_queue_totals(glances))


def _where(url: str) -> str:
    """ "redis at 127.0.0.1:6379/1": a backend's kind and place, never its credentials."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    place = (parts.hostname or "") + port + (parts.path if parts.path not in ("", "/") else "")
    return f"{parts.scheme} at {place}" if place else parts.scheme or url.split(":", 1)[0]


def _latency(server: ServerInfo | None, test_s: float | None) -> str:
    if server is not None and server.latency_ms is not None:
        return f"Latency {server.latency_ms:.1f} ms ({server.latency_of})"
    if test_s is not None:
        return f"Connection test answered in {test_s * 1000:.0f} ms"
    return ""


def _holds(server: ServerInfo | None) -> str:
    if server is None:
        return ""
    parts = []
    if server.memory_bytes is not None:
        memory = f"Memory {size_text(server.memory_bytes)}"
        if server.max_memory_bytes:
            memory += f" of {size_text(server.max_memory_bytes)}"
        parts.append(memory)
    if server.messages_ready is not None:
        parts.append(f"{server.messages_ready:,} ready")
    if server.messages_unacked is not None:
        parts.append(f"{server.messages_unacked:,} unacked")
    if server.consumers is not None:
        parts.append(f"{server.consumers} consumers")
    if server.clients is not None:
        parts.append(f"{server.clients} clients" if server.kind == "Redis" else
                     f"{server.clients} connections")  # fmt: skip
    return " · ".join(parts)


def _queue_totals(glances: Sequence[QueueGlance]) -> str:
    if not glances:
        return ""
    waiting = sum(g.waiting or 0 for g in glances)
    said = f"{len(glances)} queue{'s' if len(glances) != 1 else ''} · {waiting:,} waiting"
    alarming = sum(1 for g in glances if g.unconsumed)
    if alarming:
        said += f" · {STATE_SYMBOLS['warning']} {alarming} with nobody consuming"
    return said
