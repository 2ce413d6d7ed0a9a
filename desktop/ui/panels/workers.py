"""Workers: the connection this profile gives workers, and the command each queue's worker runs."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from desktop.core import urls
from desktop.core.app_config import AppConfig
from desktop.core.session import ConnectionFacts
from desktop.ui.panels.common import fill_table, heading, muted, read_only_table
from desktop.ui.widgets.facts import FactsView


def worker_command(app_module: str, queue: str) -> str:
    return f"celery -A {app_module} worker -Q {queue} -l INFO -E"


class WorkersPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Workers"))
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
