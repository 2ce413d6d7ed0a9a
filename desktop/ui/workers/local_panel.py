"""The workers screen's "local workers" part: start, stop, restart and kill, with live logs."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QMenu,
    QMessageBox,
    QSpinBox,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.local.local_worker import (
    CRASHED,
    DEFAULT_GRACE_S,
    ONLINE,
    STOPPED,
    STOPPING,
    UNRESPONSIVE,
    LocalWorker,
)
from desktop.core.local.worker_spec import WorkerSpec, presets, suggested_name
from desktop.core.monitor.state import WorkerRow
from desktop.ui.common.accessible import explain
from desktop.ui.common.log_view import LogView
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.session.session import Session
from desktop.ui.workers.all_local_dialog import AllLocalWorkersDialog
from desktop.ui.workers.local_model import LocalWorkersModel
from desktop.ui.workers.worker_dialog import WorkerDialog


class LocalWorkersPart(QWidget):
    def __init__(
        self,
        session: Session,
        counters: Callable[[str], WorkerRow | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model = LocalWorkersModel(counters, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QToolBar("Local worker commands")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.actions_by_name: dict[str, QAction] = {}
        add = explain(bar.addAction("Add worker…"), "Start a new worker here for chosen queues")
        add.triggered.connect(lambda: self.add_worker())
        self.actions_by_name["add"] = add
        self.presets_button = QToolButton()
        self.presets_button.setText("Presets")
        explain(self.presets_button, "Start ready-made sets of workers for the app's queues")
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.presets_menu = QMenu(self.presets_button)
        self.presets_menu.aboutToShow.connect(self._fill_presets)
        self.presets_button.setMenu(self.presets_menu)
        bar.addWidget(self.presets_button)
        bar.addSeparator()
        for key, label, handler, tip in (
            ("start", "Start", self.start_selected, "Start the selected worker again"),
            ("stop", "Stop", self.stop_selected, "Stop the selected worker once its tasks end"),
            (
                "restart",
                "Restart",
                self.restart_selected,
                "Stop the selected worker, then start it",
            ),
            ("kill", "Kill…", self.kill_selected, "Kill the selected worker now (asks first)"),
            ("forget", "Remove", self.forget_selected, "Take the stopped worker off this list"),
        ):
            action = explain(bar.addAction(label), tip)
            action.triggered.connect(handler)
            self.actions_by_name[key] = action
        bar.addSeparator()
        for key, label, handler, tip in (
            ("stop_all", "Stop all", self.stop_all, "Stop every worker of this list"),
            ("restart_all", "Restart all", self.restart_all, "Restart every worker of this list"),
            ("kill_all", "Kill all…", self.kill_all, "Kill every worker of this list (asks first)"),
        ):
            action = explain(bar.addAction(label), tip)
            action.triggered.connect(handler)
            self.actions_by_name[key] = action
        bar.addSeparator()
        self.grace = QSpinBox()
        self.grace.setRange(1, 3600)
        self.grace.setValue(int(DEFAULT_GRACE_S))
        self.grace.setPrefix("grace ")
        self.grace.setSuffix(" s")
        explain(
            self.grace,
            "How long a warm stop may take (running tasks finish) before the panel offers Kill",
            "Grace period",
        )
        bar.addWidget(self.grace)
        bar.addSeparator()
        everyone = bar.addAction("All local workers…")
        everyone.setToolTip("Every profile's local workers on this machine, to stop or kill")
        everyone.triggered.connect(lambda: self.show_all_local_workers())
        self.actions_by_name["all"] = everyone
        layout.addWidget(bar)
        # Other profiles' workers run on this machine too, out of this list: said, not hidden.
        self.elsewhere = QLabel()
        self.elsewhere.setProperty("role", "warning")
        self.elsewhere.setVisible(False)
        self.elsewhere.linkActivated.connect(lambda _link: self.show_all_local_workers())
        layout.addWidget(self.elsewhere)
        self.message = muted("")
        self.message.setAccessibleName("Local worker message")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        split = remembered_splitter(Qt.Orientation.Vertical, "local-workers-split")
        self.table = QTableView()
        self.table.setObjectName("local-workers")  # its header is remembered
        explain(self.table, "This profile's workers started here: select one for its log",
                "Local workers")  # fmt: skip
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        for column, width in enumerate((170, 150, 90, 60, 150, 230, 50, 70)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._selection_changed())
        split.addWidget(self.table)
        self.log = LogView()
        split.addWidget(self.log)
        split.setSizes([140, 260])
        layout.addWidget(split, 1)
        self.empty_hint = QLabel(
            "No local workers yet: Add worker… or pick a preset. They run as real "
            "`celery worker` processes of this profile and keep running if the panel closes."
        )
        self.empty_hint.setProperty("role", "muted")
        self.empty_hint.setWordWrap(True)
        layout.addWidget(self.empty_hint)
        self._warned_overdue: set[tuple[str, float]] = set()
        session.local_workers_changed.connect(self.show_workers)
        session.local_workers_elsewhere.connect(self.show_elsewhere)
        session.local_worker_message.connect(self.show_message)
        self._update_actions()

    # -- data ---------------------------------------------------------------------------------
    def show_all_local_workers(self) -> AllLocalWorkersDialog:
        host = self.session.workers_host
        active = host.supervisor.directory if host.supervisor is not None else None
        dialog = AllLocalWorkersDialog(host.workers_root, active, self)
        dialog.open()
        return dialog

    def show_elsewhere(self, count: int) -> None:
        """How many local workers of other profiles run (the host counts them as it polls)."""
        self.elsewhere.setVisible(count > 0)
        self.elsewhere.setText(
            f"{count} local worker{'s' if count != 1 else ''} of other profiles "
            f"{'run' if count != 1 else 'runs'} on this machine too: "
            "<a href='all'>All local workers…</a>"
        )

    def show_workers(self, workers: list[LocalWorker]) -> None:
        self._announce_changes(workers)
        selected = self.selected()
        self.model.set_workers(workers)
        self.empty_hint.setVisible(not workers)
        if selected is not None:
            row = self.model.row_of(selected.name)
            if row is not None and self.table.currentIndex().row() != row:
                self.table.selectRow(row)
        elif workers and not self.table.currentIndex().isValid():
            self.table.selectRow(0)
        self._warn_overdue(workers)
        self._update_actions()
        self._selection_changed()

    def _announce_changes(self, workers: list[LocalWorker]) -> None:
        """Say when a worker comes online, stops or crashes, so the line under the tool bar
        never keeps saying 'starting…' about a worker that is long online."""
        before = {w.name: w.state for w in self.model.workers()}
        news = []
        errors = False
        for worker in workers:
            was = before.get(worker.name)
            if was is None or was == worker.state:
                continue
            if worker.state == ONLINE and worker.started is not None:
                news.append(f"{worker.nodename} online after {worker.since - worker.started:.1f} s")
            elif worker.state == STOPPED:
                news.append(f"{worker.nodename} stopped")
            elif worker.state == CRASHED:
                errors = True
                news.append(f"{worker.nodename} crashed: {worker.detail[:300]}")
            elif worker.state == UNRESPONSIVE:
                errors = True
                news.append(f"{worker.nodename} is unresponsive: {worker.detail[:300]}")
        if news:
            self.show_message("; ".join(news), errors)

    def _warn_overdue(self, workers: list[LocalWorker]) -> None:
        now = time.time()
        for worker in workers:
            key = (worker.name, worker.since)
            overdue = worker.state == STOPPING and now - worker.since > self.grace.value()
            if overdue and key not in self._warned_overdue:
                self._warned_overdue.add(key)
                self.show_message(
                    f"{worker.nodename} is still finishing its running task after "
                    f"{self.grace.value()} s; Kill… stops it now (the task is lost, or "
                    "redelivered with acks_late).",
                    True,
                )

    def show_message(self, text: str, error: bool) -> None:
        self.message.setProperty("role", "error" if error else "muted")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)

    def selected(self) -> LocalWorker | None:
        index = self.table.currentIndex()
        return self.model.worker(index.row()) if index.isValid() else None

    def select(self, name: str) -> None:
        """The local worker named `name` chosen (its log shown), when it is listed."""
        row = self.model.row_of(name)
        if row is not None:
            self.table.selectRow(row)

    def _selection_changed(self) -> None:
        worker = self.selected()
        if worker is None:
            self.log.set_source(None)
        else:
            self.log.set_source(worker.log_path, f"Log of {worker.nodename}: {worker.log_path}")
        self._update_actions()

    def _update_actions(self) -> None:
        worker = self.selected()
        running = worker is not None and worker.running
        self.actions_by_name["start"].setEnabled(worker is not None and not running)
        for key in ("stop", "restart", "kill"):
            self.actions_by_name[key].setEnabled(running)
        self.actions_by_name["forget"].setEnabled(worker is not None and not running)
        any_running = any(w.running for w in self.model.workers())
        for key in ("stop_all", "restart_all", "kill_all"):
            self.actions_by_name[key].setEnabled(any_running)
        has_profile = self.session.profile is not None
        self.actions_by_name["add"].setEnabled(has_profile)
        self.presets_button.setEnabled(has_profile)

    # -- commands -----------------------------------------------------------------------------
    def taken_names(self) -> set[str]:
        return {w.name for w in self.model.workers() if w.running}

    def add_worker(self, spec: WorkerSpec | None = None) -> WorkerDialog | None:
        profile, config = self.session.profile, self.session.app_config
        if profile is None:
            return None
        if config is None:
            self.show_message("The app's configuration is still being read: try again.", True)
            return None
        if spec is None:
            first = config.default_queue
            spec = WorkerSpec(name=suggested_name([first], self.taken_names()), queues=[first])
        dialog = WorkerDialog(profile, config, self.taken_names(), spec, self)
        dialog.accepted.connect(lambda: self.session.start_local_worker(dialog.spec()))
        dialog.open()
        return dialog

    def _fill_presets(self) -> None:
        self.presets_menu.clear()
        config = self.session.app_config
        if config is None:
            self.presets_menu.addAction("Reading the app's configuration…").setEnabled(False)
            return
        found = presets(config.queue_names())
        if not found:
            self.presets_menu.addAction("The app has no queues").setEnabled(False)
        for label, specs in found.items():
            action = self.presets_menu.addAction(label)
            action.triggered.connect(lambda _=False, s=specs: self.start_preset(s))

    def start_preset(self, specs: list[WorkerSpec]) -> None:
        taken = self.taken_names()
        started = []
        for spec in specs:
            if spec.name in taken:
                self.show_message(f"{spec.nodename} already runs: left as it is", False)
                continue
            self.session.start_local_worker(spec)
            started.append(spec.nodename)
        if started:
            self.show_message(f"starting {', '.join(started)}…", False)

    def start_selected(self) -> None:
        worker = self.selected()
        if worker is not None and not worker.running:
            self.session.start_local_worker(worker.spec)

    def stop_selected(self) -> None:
        worker = self.selected()
        if worker is not None and worker.running:
            self.show_message(
                f"stopping {worker.nodename}: it finishes its running tasks first", False
            )
            self.session.stop_local_worker(worker.name)

    def restart_selected(self) -> None:
        worker = self.selected()
        if worker is not None:
            self.show_message(f"restarting {worker.nodename}…", False)
            self.session.restart_local_worker(worker.name, float(self.grace.value()))

    def _confirm_kill(self, nodes: list[str]) -> bool:
        answer = QMessageBox.warning(
            self,
            "Kill worker" + ("s" if len(nodes) > 1 else ""),
            f"Kill {', '.join(nodes)} now with SIGKILL?\n\nTasks they are running are lost, "
            "or given to another worker later if acks_late is on.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def kill_selected(self, confirmed: bool = False) -> None:
        worker = self.selected()
        if worker is None or not worker.running:
            return
        if confirmed or self._confirm_kill([worker.nodename]):
            self.session.kill_local_worker(worker.name)

    def forget_selected(self) -> None:
        worker = self.selected()
        if worker is not None and not worker.running:
            self.session.forget_local_worker(worker.name)

    def stop_all(self) -> None:
        for worker in self.model.workers():
            if worker.running:
                self.session.stop_local_worker(worker.name)
        self.show_message("stopping every local worker; running tasks finish first", False)

    def restart_all(self) -> None:
        for worker in self.model.workers():
            if worker.running:
                self.session.restart_local_worker(worker.name, float(self.grace.value()))

    def kill_all(self, confirmed: bool = False) -> None:
        running = [w for w in self.model.workers() if w.running]
        if running and (confirmed or self._confirm_kill([w.nodename for w in running])):
            for worker in running:
                self.session.kill_local_worker(worker.name)
