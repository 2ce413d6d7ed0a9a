"""Workers: every worker seen on the broker, with remote control, and this profile's set-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig, TaskInfo
from desktop.core.broker import control
from desktop.core.monitor.state import StateDiff
from desktop.core.opening import ConnectionFacts
from desktop.core.settings import urls
from desktop.ui.common.accessible import explain
from desktop.ui.common.facts import FactsView
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import fill_table, heading, muted, read_only_table
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.session.session import Session
from desktop.ui.workers.local_panel import LocalWorkersPart
from desktop.ui.workers.model import HEARTBEAT_COLUMN, WorkersModel, drift_explained

INSPECT = "inspect"


def worker_command_line(app_module: str, queue: str) -> str:
    return f"celery -A {app_module} worker -Q {queue} -l INFO -E"


class WorkersPanel(QWidget):
    facts_read = Signal(object)  # every inspect's replies: {node: pool, concurrency, queues}

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Workers"))
        seen = QGroupBox("Workers seen on the broker (live, from their events)")
        seen_box = QVBoxLayout(seen)
        self.model = WorkersModel(self)
        # Said above the table, not only on the row: a wrong clock misdates every event
        # of that worker, on every screen.
        self.clock_warning = QLabel()
        self.clock_warning.setProperty("role", "warning")
        self.clock_warning.setWordWrap(True)
        self.clock_warning.setAccessibleName("Clock drift warning")
        self.clock_warning.hide()
        seen_box.addWidget(self.clock_warning)
        self.model.modelReset.connect(self._show_clock_warning)
        self.table = QTableView()
        self.table.setObjectName("workers")  # its header is remembered
        explain(self.table, "Workers seen through their events: select one for its commands")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Widths that fit a 1280 px window with no horizontal scroll bar; Queues takes the rest.
        widths = {0: 190, 1: 70, 2: 55, 3: 75, 4: 125, 5: 110, 7: 70, 8: 90}
        widths[HEARTBEAT_COLUMN] = 160  # room for "· clock 120 s behind"
        for column, width in widths.items():
            self.table.setColumnWidth(column, width)
        self.table.setMinimumHeight(70)
        seen_box.addWidget(self.table)
        # A tool bar, not a row of buttons: on a narrow window the rest folds into a » menu.
        buttons = QToolBar("Worker commands")
        buttons.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.buttons: dict[str, QAction] = {}
        for command, label, tip in (
            ("refresh", "Refresh", "Ask every worker again for its state (F5)"),
            ("pool_grow", "Pool +1", "One more process in the selected worker's pool"),
            ("pool_shrink", "Pool -1", "One process fewer in the selected worker's pool"),
            ("autoscale", "Autoscale…", "Set the selected worker's least and most processes"),
            ("add_consumer", "Add queue…", "Make the selected worker consume one more queue"),
            ("cancel_consumer", "Cancel queue…", "Make the selected worker stop consuming a queue"),
            ("rate_limit", "Rate limit…", "Limit how often the selected worker runs a task"),
            ("time_limit", "Time limits…", "Set a task's soft and hard time limits on the worker"),
            ("shutdown", "Shut down…", "Shut the selected worker down (asks first)"),
        ):
            action = explain(buttons.addAction(label), tip)
            action.triggered.connect(lambda _=False, c=command: self.run_command(c))
            self.buttons[command] = action
        # Commands and their reply share a row; until the first reply it explains the table.
        command_row = QHBoxLayout()
        command_row.addWidget(buttons)
        self.reply = muted(
            "Workers appear as soon as they send an event; the panel asks every worker to "
            "send events (enable_events), so workers started without -E show up too."
        )
        self.reply.setAccessibleName("Worker command reply")
        self.reply.setWordWrap(True)
        command_row.addWidget(self.reply, 1)
        seen_box.addLayout(command_row)
        split = remembered_splitter(Qt.Orientation.Vertical, "workers-split")
        split.addWidget(seen)
        self._liveness = QTimer(self)
        self._liveness.setInterval(5000)
        self._liveness.timeout.connect(self.model.refresh_liveness)
        self._liveness.start()
        self._inspect_timer = QTimer(self)
        self._inspect_timer.setInterval(10_000)
        self._inspect_timer.timeout.connect(self._auto_inspect)
        self._inspect_timer.start()
        self._jobs = Jobs(self)
        self.local = LocalWorkersPart(session, self.model.by_hostname)
        connection = QGroupBox("Connection for workers of this profile")
        self.facts = FactsView()
        QVBoxLayout(connection).addWidget(self.facts)
        elsewhere = QWidget()
        profile_row = QHBoxLayout(elsewhere)
        profile_row.addWidget(connection, 1)
        commands = QGroupBox("One worker per queue, on any machine")
        box = QVBoxLayout(commands)
        self.note = muted(
            "Workers read the broker from CELERY_BROKER and the result backend from "
            "CELERY_BACKEND, so no password appears on their command line."
        )
        box.addWidget(self.note)
        self.commands = read_only_table(["Queue", "x-max-priority", "Command"])
        explain(self.commands, "The command to start a worker for each queue on another machine")
        box.addWidget(self.commands)
        profile_row.addWidget(commands, 1)
        self.parts = QTabWidget()
        self.parts.addTab(self.local, "Local workers")
        self.parts.addTab(elsewhere, "Connection and commands for other machines")
        split.addWidget(self.parts)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([230, 470])
        # The splitter's own minimum, not the sum of its parts': a small window still fits,
        # and a person drags the handle to give either half more room.
        split.setMinimumHeight(300)
        layout.addWidget(split, 1)

    # -- inspect and control ------------------------------------------------------------------
    def selected_node(self) -> str | None:
        index = self.table.currentIndex()
        worker = self.model.worker(index.row()) if index.isValid() else None
        return worker.hostname if worker else None

    def select_worker(self, hostname: str) -> bool:
        """Select the worker's row (an alert about it); False when it has none."""
        for position, worker in enumerate(self.model.rows()):
            if worker.hostname == hostname:
                self.table.selectRow(position)
                self.table.scrollTo(self.model.index(position, 0))
                return True
        return False

    def show_local_worker(self, name: str) -> None:
        """Another screen's door (the Overview): the Local workers tab on this one."""
        self.parts.setCurrentWidget(self.local)
        self.local.select(name)

    def _auto_inspect(self) -> None:
        """Not before the app is read: its control exchange is where its workers listen."""
        ready = self.session.state == "connected" and self.session.app_config is not None
        if self.isVisible() and ready:
            self.inspect()

    def inspect(self) -> None:
        """Ask every worker for its pool, queues and what it holds. Asked while one is on its
        way (a refresh right after a new worker showed up): once more after it, since the one
        on its way may have left before the worker listened."""
        self._jobs.run_again(INSPECT, self._inspect)

    async def _inspect(self) -> None:
        try:
            facts = await self.session.with_app(control.inspect_workers)
        except Exception as exc:  # a broker's or a worker's error, shown
            self.reply.setText(f"inspect failed: {exc}")
            return
        self.model.set_facts(facts)
        self.facts_read.emit(facts)

    def _task_info(self, name: str) -> TaskInfo | None:
        config = self.session.app_config
        return next((t for t in config.tasks if t.name == name), None) if config else None

    def _pick_task(self, title: str, prefer: Callable[[TaskInfo], bool]) -> str | None:
        """One of the app's tasks (the Builder palette's list), the first that `prefer`s
        chosen; a name the app does not list can still be typed (a worker's own task)."""
        config = self.session.app_config
        tasks = config.tasks if config is not None else []
        first = next((i for i, info in enumerate(tasks) if prefer(info)), 0)
        name, ok = QInputDialog.getItem(
            self,
            title,
            f"Task ({len(tasks)} in the app; or type another's name):",
            [info.name for info in tasks],
            first,
            True,
        )
        return name.strip() if ok and name.strip() else None

    def _ask(self, command: str, node: str) -> dict[str, Any] | None:
        """The arguments a command needs, asked in a small dialog; None when cancelled."""

        def text(title: str, label: str, default: str = "") -> str | None:
            value, ok = QInputDialog.getText(self, title, label, text=default)
            return value if ok else None

        if command in ("add_consumer", "cancel_consumer"):
            config = self.session.app_config
            known = config.queue_names() if config else []
            verb = "consume" if command == "add_consumer" else "stop consuming"
            queue, ok = QInputDialog.getItem(
                self,
                "Queue",
                f"Queue for {node} to {verb}:",
                known,
                0,
                True,
            )
            return {"queue": queue} if ok else None
        if command == "autoscale":
            high, ok = QInputDialog.getInt(
                self, "Autoscale", f"Most processes for {node}:", 4, 1, 512
            )
            if not ok:
                return None
            low, ok = QInputDialog.getInt(self, "Autoscale", "Fewest processes:", 1, 0, high)
            return {"max": high, "min": low} if ok else None
        if command == "rate_limit":
            task = self._pick_task("Rate limit", lambda info: info.rate_limit is not None)
            if not task:
                return None
            info = self._task_info(task)
            own = info.rate_limit if info is not None else None
            said = f"the app sets {own}; " if own else ""
            rate = text(
                "Rate limit", f"Rate for {task} ({said}e.g. 10/m, 1/s, 0 = none):", own or "10/m"
            )
            return {"task": task, "rate": rate} if rate else None
        if command == "time_limit":
            task = self._pick_task("Time limits", lambda _info: False)
            if not task:
                return None
            soft, ok = QInputDialog.getInt(self, "Time limits", "Soft limit (s):", 30, 1, 86400)
            if not ok:
                return None
            hard, ok = QInputDialog.getInt(
                self, "Time limits", "Hard limit (s):", soft + 10, soft, 86400
            )
            return {"task": task, "soft": soft, "hard": hard} if ok else None
        if command == "shutdown":
            answer = QMessageBox.question(
                self,
                "Shut down worker",
                f"Shut down {node}? It finishes its running tasks first (warm shutdown).",
            )
            return {} if answer == QMessageBox.StandardButton.Yes else None
        return {}

    def run_command(self, command: str, arguments: dict[str, Any] | None = None) -> None:
        if command == "refresh":
            self.inspect()
            return
        node = self.selected_node()
        if node is None:
            self.reply.setText("Select a worker first.")
            return
        if arguments is None:
            arguments = self._ask(command, node)
            if arguments is None:
                return
        self.reply.setText(f"Sending {command} to {node}…")

        def done(text: str) -> None:
            self.reply.setText(text)
            self.inspect()

        self.session.control_audited(
            command,
            node,
            arguments,
            lambda app: control.worker_command(app, command, node, **arguments),
            done,
            lambda exc: self.reply.setText(f"{command} failed: {exc}"),
        )

    def apply_diff(self, diff: StateDiff) -> None:
        for worker in diff.workers_changed:
            if worker.online:
                self.session.note_worker_online(worker.hostname)
        if diff.workers_changed:
            before = self.model.rowCount()
            self.model.apply_diff(diff)
            self._show_clock_warning()
            if self.model.rowCount() > before:
                self.inspect()  # a new worker: learn its pool and queues now, not in 10 s

    def _show_clock_warning(self) -> None:
        drifted = self.model.drifted()
        if drifted:
            shown = drifted[:3]
            more = f" (and {len(drifted) - len(shown)} more)" if len(drifted) > len(shown) else ""
            lines = [drift_explained(w.hostname, w.clock_offset or 0.0) for w in shown]
            self.clock_warning.setText("⚠ Clock drift. " + " ".join(lines) + more)
        self.clock_warning.setVisible(bool(drifted))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.session.state == "connected":
            self.inspect()

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

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        """A `celery worker` command per queue of the app, as a person would start it."""
        del error
        app_module = self.session.profile.app_module if self.session.profile else config.main
        fill_table(
            self.commands,
            [
                (q.name, str(q.max_priority or "—"), worker_command_line(app_module, q.name))
                for q in config.queues
            ],
        )
        self._auto_inspect()
