"""Every profile's local workers in one list: the ones a profile switch hides are still
processes on this machine, using its CPU and consuming from some broker.

Read from each profile's workers directory on the job pool (`supervisor.all_supervisors`, as
quit reads them), refreshed every few seconds while open; a selected worker can be stopped
warmly or killed after a confirmation, through the supervisor of its own profile, whichever
profile the window shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.local.local_worker import LocalWorker
from desktop.core.local.supervisor import all_supervisors
from desktop.ui.common.accessible import explain, explain_labelled
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.table_model import Column, TableModel, read_only_view

REFRESH_MS = 3000


@dataclass(frozen=True)
class ProfileWorker:
    """A local worker (or a profile's local beat) and the directory it is kept in; `home` is
    the profile's workers directory (named by its profile), the beat's being one below."""

    profile: str
    worker: LocalWorker
    directory: Path
    home: Path


def read_all(root: Path) -> list[ProfileWorker]:
    """Every local worker of every profile under `root`, running ones first."""
    found = [
        ProfileWorker(supervisor.home.name, worker, supervisor.directory, supervisor.home)
        for supervisor in all_supervisors(root)
        for worker in supervisor.workers()
    ]
    return sorted(found, key=lambda p: (not p.worker.running, p.profile, p.worker.name))


def _uptime(item: ProfileWorker) -> str:
    seconds = item.worker.uptime_s(time.time())
    return "" if seconds is None else f"{seconds:.0f} s"


COLUMNS = [
    Column("Profile", lambda p: p.profile),
    Column("Worker", lambda p: p.worker.nodename),
    Column("State", lambda p: p.worker.state),
    Column("PID", lambda p: p.worker.pid),
    Column("Up", _uptime),
    Column("Queues", lambda p: ", ".join(p.worker.spec.queues)),  # last: it takes what is left
]


class AllLocalWorkersDialog(QDialog):
    def __init__(self, root: Path, active_directory: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("All local workers")
        self.resize(760, 360)
        self.root = root
        self.active_directory = active_directory
        self.jobs = Jobs(self)
        layout = QVBoxLayout(self)
        self.summary = QLabel("Reading…")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.model: TableModel[ProfileWorker] = TableModel(COLUMNS, text_tips=True)
        self.table = read_only_view(self.model)
        explain(self.table, "Every profile's workers started on this machine: select one to "
                "stop or kill it", "All local workers")  # fmt: skip
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Warm shutdown: running tasks finish first")
        self.stop_button.clicked.connect(lambda: self._signal("stop"))
        self.kill_button = QPushButton("Kill…")
        self.kill_button.setToolTip("SIGKILL now: running tasks are lost (acks_late redelivers)")
        self.kill_button.clicked.connect(lambda: self._signal("kill"))
        for button in (self.stop_button, self.kill_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        explain_labelled(close, {})
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()
        self._update_buttons()

    def refresh(self) -> None:
        if not self.jobs.running("read"):
            self.jobs.run("read", self._read())

    async def _read(self) -> None:
        try:
            found = await Jobs.blocking(read_all, self.root)
        except OSError as exc:
            self.summary.setText(f"Could not read the local workers: {exc}")
            return
        self.model.set_rows(found)
        self.table.resizeColumnsToContents()
        running = [p for p in found if p.worker.running]
        elsewhere = [p for p in running if p.home != self.active_directory]
        self.summary.setText(
            f"{len(running)} running on this machine, {len(elsewhere)} of them of other "
            f"profiles; {len(found) - len(running)} stopped. Stop and Kill act through the "
            "worker's own profile, whichever profile the window shows."
        )
        self._update_buttons()

    def selected(self) -> ProfileWorker | None:
        index = self.table.currentIndex()
        return self.model.row(index.row()) if index.isValid() else None

    def _update_buttons(self) -> None:
        chosen = self.selected()
        live = chosen is not None and chosen.worker.running
        self.stop_button.setEnabled(live)
        self.kill_button.setEnabled(live)

    def _signal(self, how: str) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        if how == "kill" and not self.confirm_kill(chosen):
            return
        self.jobs.run(f"{how} {chosen.worker.name}", self._act(how, chosen))

    def confirm_kill(self, chosen: ProfileWorker) -> bool:
        answer = QMessageBox.warning(
            self,
            "Kill a local worker",
            f"Kill {chosen.worker.nodename} of profile '{chosen.profile}' now? Its running "
            "tasks are lost unless acks_late brings them back.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    async def _act(self, how: str, chosen: ProfileWorker) -> None:
        try:
            await Jobs.blocking(_signal, self.root, chosen, how)
        except Exception as exc:  # the supervisor says what went wrong (gone, not ours)
            self.summary.setText(f"{how} {chosen.worker.nodename}: {exc}")
            return
        self.refresh()


def _signal(root: Path, chosen: ProfileWorker, how: str) -> None:
    """Stop or kill through the supervisor of the worker's own profile directory."""
    supervisor = next((s for s in all_supervisors(root) if s.directory == chosen.directory), None)
    if supervisor is None:
        raise LookupError(f"the workers directory of profile '{chosen.profile}' is gone")
    if how == "kill":
        supervisor.kill(chosen.worker.name)
    else:
        supervisor.stop(chosen.worker.name)
