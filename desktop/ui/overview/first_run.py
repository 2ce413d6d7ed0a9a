"""The guided first run on the Overview: three steps that really do the work, one click each.

1. Start the tutorial's workers: the Workers screen's presets ("queue1 + queue2 workers" and
   the priority demo's worker on `tasks`), started as real local workers by the session.
2. Run the tutorial's examples: the group, the chain with s() and si(), and the priority
   demo, read from the shipped canvas library and sent as the Builder sends (journaled and
   audited: `Session.send_canvas`).
3. See them: the Tasks screen and the Queues screen.

Shown on the embedded broker while the profile's journal has no task (a person who already
ran something needs no guide; tasks run another way while it shows hide it too), until
dismissed; the dismissal is remembered in the window's settings, so it never comes back.
Each step says what it did, or why it could not.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.core.canvas import library
from desktop.core.local.local_worker import ONLINE, LocalWorker
from desktop.core.local.worker_spec import WorkerSpec, presets
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.task_query import TaskQuery
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.states import STATE_SYMBOLS
from desktop.ui.common.theme import set_tone
from desktop.ui.session.session import Session

DISMISSED = "overview/first_run_dismissed"
PRESETS = ("queue1 + queue2", "priority demo")  # the tutorial's set-ups, by their labels
EXAMPLES = ("group-of-four-demos.json", "chain-s-and-si.json", "priority-demo.json")


class FirstRunGuide(QGroupBox):
    open_tasks = Signal()
    open_queues = Signal()

    def __init__(
        self, session: Session, settings: QSettings | None, parent: QWidget | None = None
    ) -> None:
        super().__init__("Getting started — three clicks", parent)
        self.session = session
        self.settings = settings
        self.jobs = Jobs(self)
        self.wanted: list[str] = []  # the local workers step 1 started, by name
        self.used = False  # a step was clicked: the guide stays until dismissed
        column = QVBoxLayout(self)
        column.setSpacing(4)
        column.addWidget(
            muted(
                "This profile runs on the panel's own Redis and nothing has run yet. Each step "
                "does the work for real."
            )
        )
        self.start_button, self.start_said = self._step(
            column, "1. Start the tutorial's workers", self.start_workers
        )
        self.run_button, self.run_said = self._step(
            column, "2. Run the tutorial's examples", self.run_examples
        )
        self.run_said.setText("a group, a chain with s() and si(), the priority demo")
        row = QHBoxLayout()
        self.tasks_button = QPushButton("3. See them in Tasks")
        self.tasks_button.clicked.connect(self.open_tasks.emit)
        self.queues_button = QPushButton("…and in Queues")
        self.queues_button.clicked.connect(self.open_queues.emit)
        row.addWidget(self.tasks_button)
        row.addWidget(self.queues_button)
        row.addStretch(1)
        self.dismiss_button = QPushButton("Dismiss this guide")
        self.dismiss_button.setToolTip("Hide it for good; the Workers screen's presets and the "
                                       "Builder's examples stay where they are")  # fmt: skip
        self.dismiss_button.clicked.connect(self.dismiss)
        row.addWidget(self.dismiss_button)
        column.addLayout(row)
        for button, tip in (
            (
                self.start_button,
                "Start local workers for the tutorial's queues, as its preset does",
            ),
            (self.run_button, "Send the tutorial's examples to those workers"),
            (self.tasks_button, "Open the Tasks screen to see the examples run"),
            (self.queues_button, "Open the Queues screen to see what waits in each queue"),
            (self.dismiss_button, self.dismiss_button.toolTip()),
        ):
            explain(button, tip)
        self.setVisible(False)
        session.local_workers_changed.connect(self.show_workers)
        session.journal_changed.connect(self.consider)

    @staticmethod
    def _step(
        column: QVBoxLayout, title: str, action: Callable[[], None]
    ) -> tuple[QPushButton, QLabel]:
        row = QHBoxLayout()
        button = QPushButton(title)
        button.clicked.connect(action)
        said = muted()
        said.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(button)
        row.addWidget(said, 1)
        column.addLayout(row)
        return button, said

    # -- when it shows --------------------------------------------------------------------------
    def dismissed(self) -> bool:
        return self.settings is not None and self.settings.value(DISMISSED) in (True, "true")

    def dismiss(self) -> None:
        if self.settings is not None:
            self.settings.setValue(DISMISSED, True)
        self.setVisible(False)

    def consider(self, journal: Journal | None) -> None:
        """A profile's journal opened: the guide shows on the embedded broker while no task
        was ever journaled (counted on the job pool), unless dismissed."""
        profile = self.session.profile
        if journal is None or profile is None or not profile.is_embedded or self.dismissed():
            self.setVisible(False)
            return
        self.jobs.run("count", self._count(journal))

    def tasks_seen(self) -> None:
        """Tasks ran that the guide did not send (the Builder, the CLI, a worker elsewhere):
        the person found their way, and the guide goes (it would not show next time)."""
        if not self.used:
            self.setVisible(False)

    async def _count(self, journal: Journal) -> None:
        tasks = await Jobs.blocking(journal.count, TaskQuery())
        if journal is self.session.journal:
            self.setVisible(tasks == 0 and not self.dismissed())

    # -- step 1 -------------------------------------------------------------------------------
    def specs(self) -> list[WorkerSpec]:
        config = self.session.app_config
        found = presets(config.queue_names()) if config is not None else {}
        return [
            spec for label, specs in found.items() if label.startswith(PRESETS) for spec in specs
        ]

    def start_workers(self) -> None:
        specs = self.specs()
        if not specs:
            config = self.session.app_config
            self._say(
                self.start_said,
                "The app is still being read: try again in a moment."
                if config is None
                else "The app has no queue1, queue2 or tasks queue: not the tutorial's app?"
                if config.imported
                else "The app is not imported (see above): its workers cannot start.",
            )
            return
        self.used = True
        running = {w.name for w in self.session.local_workers if w.running}
        self.wanted = [spec.name for spec in specs]
        for spec in specs:
            if spec.name not in running:
                self.session.start_local_worker(spec)
        self.start_button.setEnabled(False)
        self._say(self.start_said, f"starting {', '.join(self.wanted)}…", error=False)

    def show_workers(self, workers: list[LocalWorker]) -> None:
        if not self.wanted:
            return
        states = {w.name: w.state for w in workers}
        online = [name for name in self.wanted if states.get(name) == ONLINE]
        failed = [w for w in workers if w.name in self.wanted and not w.running]
        if len(online) == len(self.wanted):
            self._say(self.start_said, f"{STATE_SYMBOLS['succeeded']} {len(online)} workers "
                      "online: " + ", ".join(online), error=False)  # fmt: skip
        elif failed:
            self.start_button.setEnabled(True)
            self._say(self.start_said, f"{STATE_SYMBOLS['crashed']} {failed[0].name} "
                      f"{failed[0].state}: {failed[0].detail}")  # fmt: skip
        else:
            self._say(self.start_said, f"{len(online)} of {len(self.wanted)} online…", error=False)

    # -- step 2 -------------------------------------------------------------------------------
    def run_examples(self) -> None:
        self.used = True
        self.run_button.setEnabled(False)
        self._say(self.run_said, "sending…", error=False)
        self.jobs.run("examples", self._send_examples())

    async def _send_examples(self) -> None:
        sent = 0
        try:
            for name in EXAMPLES:
                drawn = await Jobs.blocking(library.read, library.EXAMPLES_DIR / name)
                done = await self.session.send_canvas(drawn)
                sent += len(done.nodes)
        except Exception as exc:
            self.run_button.setEnabled(True)
            self._say(self.run_said, f"{STATE_SYMBOLS['crashed']} not sent: {exc}")
            return
        self._say(self.run_said, f"{STATE_SYMBOLS['succeeded']} sent {len(EXAMPLES)} examples, "
                  f"{sent} tasks: watch them below, then open them", error=False)  # fmt: skip

    @staticmethod
    def _say(label: QLabel, text: str, error: bool = True) -> None:
        label.setText(text)
        set_tone(label, "error" if error else "")
