"""Queues: what the profile knows of each queue and the order its broker delivers priorities in."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from desktop.core.app_config import AppConfig
from desktop.core.profiles import Profile
from desktop.core.session import ConnectionFacts
from desktop.ui.panels.common import fill_table, heading, muted, read_only_table, route_rows
from desktop.ui.widgets.facts import FactsView


def priority_note(profile: Profile) -> str:
    if profile.broker_kind == "rabbitmq":
        return (
            "RabbitMQ: a higher number runs first, on queues declared with x-max-priority; "
            "it shows with prefetch multiplier 1 and acks_late."
        )
    steps = profile.transport.priority_steps
    return (
        f"Redis: a lower number runs first with queue_order_strategy 'priority'; priorities "
        f"are rounded to the steps {steps}. A task held by a killed worker returns after "
        f"~{profile.transport.redelivery_delay_s()} s (visibility timeout + restore sweep)."
    )


class QueuesPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Queues"))
        self.note = muted()
        layout.addWidget(self.note)
        self.table = read_only_table(["Queue", "x-max-priority", "Routing keys", "Routed tasks"])
        layout.addWidget(self.table, 1)
        transport = QGroupBox("Transport options")
        self.transport = FactsView()
        QVBoxLayout(transport).addWidget(self.transport)
        layout.addWidget(transport)
        self.profile: Profile | None = None
        self.routes: list[tuple[str, str]] = []
        self.default_queue = ""

    def show_facts(self, facts: ConnectionFacts) -> None:
        self.profile = facts.profile
        self._render()

    def show_app_config(self, config: AppConfig | None, error: str) -> None:
        del error
        self.routes = route_rows(config.routes) if config else []
        self.default_queue = config.default_queue if config else ""
        self._render()

    def _routed_to(self, queue: str) -> str:
        routed = [task for task, target in self.routes if target == queue]
        if queue == self.default_queue:
            routed.append("every task without a route (default queue)")
        return ", ".join(routed)

    def _render(self) -> None:
        if self.profile is None:
            return
        profile = self.profile
        self.note.setText(priority_note(profile))
        fill_table(
            self.table,
            [
                (
                    q.name,
                    str(q.max_priority or "—"),
                    ", ".join(q.keys()),
                    self._routed_to(q.name),
                )
                for q in profile.queues
            ],
        )
        options = profile.transport
        self.transport.set_facts(
            [
                ("Order strategy", options.queue_order_strategy),
                ("Priority steps", ", ".join(map(str, options.priority_steps))),
                ("Separator", repr(options.sep)),
                ("Global key prefix", options.global_keyprefix or "(none)"),
                ("Visibility timeout", f"{options.visibility_timeout} s"),
                (
                    "Restore sweep",
                    f"every {options.unacked_restore_interval} s x "
                    f"{options.unacked_restore_throttle}",
                ),
            ]
        )
