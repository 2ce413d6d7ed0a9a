"""Tasks: how the app delivers and acknowledges tasks, and where its routes send them."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from desktop.core import urls
from desktop.core.app_config import AppConfig
from desktop.core.session import ConnectionFacts
from desktop.ui.panels.common import fill_table, heading, muted, read_only_table
from desktop.ui.widgets.facts import FactsView


def route_rows(routes: object) -> list[tuple[str, str]]:
    if isinstance(routes, dict):
        rows = []
        for pattern, target in routes.items():
            queue = target.get("queue", json.dumps(target)) if isinstance(target, dict) else target
            rows.append((str(pattern), str(queue)))
        return rows
    if routes:
        return [("(router)", str(routes))]
    return []


class TasksPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Tasks — delivery settings"))
        delivery = QGroupBox("Delivery")
        self.facts = FactsView()
        QVBoxLayout(delivery).addWidget(self.facts)
        layout.addWidget(delivery)
        routes = QGroupBox("Routes")
        box = QVBoxLayout(routes)
        self.routes_note = muted()
        box.addWidget(self.routes_note)
        self.routes = read_only_table(["Task", "Queue"])
        box.addWidget(self.routes)
        layout.addWidget(routes, 1)
        self.backend = ""

    def show_facts(self, facts: ConnectionFacts) -> None:
        endpoints = facts.endpoints
        self.backend = urls.mask(endpoints.result_backend if endpoints else "")

    def show_app_config(self, config: AppConfig | None, error: str) -> None:
        if config is None:
            self.facts.set_facts([("App", f"not readable: {error}")])
            fill_table(self.routes, [])
            return
        self.facts.set_facts(
            [
                ("Result backend", self.backend or urls.mask(config.result_backend) or "none"),
                ("Default queue", config.default_queue),
                ("Default priority", str(config.default_priority)),
                ("Acknowledge", "late (after the task ran)" if config.acks_late else "early"),
                ("Prefetch multiplier", str(config.prefetch_multiplier)),
            ]
        )
        rows = route_rows(config.routes)
        self.routes_note.setText(f"{len(rows)} routes; other tasks go to '{config.default_queue}'.")
        fill_table(self.routes, rows)
