"""Workers: the connection this profile gives workers, and the command each queue's worker runs."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QTableView, QVBoxLayout, QWidget

from desktop.core import urls
from desktop.core.app_config import AppConfig
from desktop.core.session import ConnectionFacts
from desktop.core.state import StateDiff
from desktop.ui.models.workers import WorkersModel
from desktop.ui.panels.common import fill_table, heading, muted, read_only_table
from desktop.ui.widgets.facts import FactsView


def worker_command(app_module: str, queue: str) -> str:
    return f"celery -A {app_module} worker -Q {queue} -l INFO -E"


class WorkersPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Workers"))
        seen = QGroupBox("Workers seen on the broker (live, from their events)")
        seen_box = QVBoxLayout(seen)
        self.model = WorkersModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 260)
        self.table.setColumnWidth(4, 150)
        self.table.setMinimumHeight(70)
        seen_box.addWidget(self.table)
        self.seen_note = muted(
            "Workers appear as soon as they send an event; the panel asks every worker to "
            "send events (enable_events), so workers started without -E show up too."
        )
        seen_box.addWidget(self.seen_note)
        layout.addWidget(seen, 1)
        self._liveness = QTimer(self)
        self._liveness.setInterval(5000)
        self._liveness.timeout.connect(self.model.refresh_liveness)
        self._liveness.start()
        connection = QGroupBox("Connection for workers of this profile")
        self.facts = FactsView()
        QVBoxLayout(connection).addWidget(self.facts)
        layout.addWidget(connection)
        commands = QGroupBox("One worker per queue")
        box = QVBoxLayout(commands)
        self.note = muted(
            "Workers read the broker from CELERY_BROKER and the result backend from "
            "CELERY_BACKEND, so no password appears on their command line."
        )
        box.addWidget(self.note)
        self.commands = read_only_table(["Queue", "x-max-priority", "Command"])
        box.addWidget(self.commands)
        layout.addWidget(commands, 1)

    def apply_diff(self, diff: StateDiff) -> None:
        if diff.workers_changed:
            self.model.apply_diff(diff)

    def show_facts(self, facts: ConnectionFacts) -> None:
        profile = facts.profile
        rows = [
            ("Profile", f"{profile.name} ({profile.broker_kind})"),
            ("Broker", facts.endpoints.broker_url if facts.endpoints else profile.broker_url),
            (
                "Result backend",
                (facts.endpoints.result_backend if facts.endpoints else profile.result_backend)
                or "none (results and chords unavailable)",
            ),
            ("Server", facts.report.server or facts.report.message),
            ("App module", profile.app_module),
            ("Working directory", profile.workdir or "(the panel's own)"),
            ("Python", profile.python or "(the panel's own interpreter)"),
        ]
        if profile.django_settings:
            rows.append(("DJANGO_SETTINGS_MODULE", profile.django_settings))
        if facts.embedded is not None and facts.embedded.running:
            rows.append(
                (
                    "Embedded broker",
                    f"redis-server pid {facts.embedded.pid} on 127.0.0.1:{facts.embedded.port}",
                )
            )
        self.facts.set_facts([(k, urls.mask(v)) for k, v in rows])
        fill_table(
            self.commands,
            [
                (
                    q.name,
                    str(q.max_priority or "—"),
                    worker_command(profile.app_module, q.name),
                )
                for q in profile.queues
            ],
        )

    def show_app_config(self, config: AppConfig | None, error: str) -> None:
        del config, error  # the queues come from the profile, already filled from the app
