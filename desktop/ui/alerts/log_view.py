"""The alerts log: what fired and resolved for the profile, newest first, from the log file the
window and `celery-desk record` both append to (core/monitor/alert_log.py), read on the job
pool. Enter or a double click on a line goes to the screen it points to, the same way a click
on the desktop notification does (the window does the going: `go_to`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.monitor.alert_log import read_log
from desktop.ui.alerts.views import LogLine
from desktop.ui.common.accessible import explain, explain_labelled
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.states import state_colour, with_symbol
from desktop.ui.common.table_model import (
    Column,
    TableModel,
    enter_activates_only,
    read_only_view,
)

if TYPE_CHECKING:
    from desktop.ui.session.alerts_host import AlertsHost

LOG_LINES_SHOWN = 1_000  # the log file's last lines; older ones stay in the file
MESSAGE_COLUMN = 3  # stretched; the others as wide as LOG_WIDTHS
LOG_WIDTHS = (140, 65, 120, 0, 210)

LOG_COLUMNS: list[Column[LogLine]] = [
    Column("Time", LogLine.when),
    Column(
        "State",
        lambda line: with_symbol(line.state),
        colour=lambda line: state_colour(line.state),
    ),
    Column("Rule", lambda line: line.rule),
    Column("What was seen", lambda line: line.message),
    Column("View", LogLine.view),
]


class AlertsLogDialog(QDialog):
    go_to = Signal(str, object)  # kind, target: the window shows that alert's screen
    rules_asked = Signal()  # the Rules… button: the window opens the rules dialog

    def __init__(self, alerts: AlertsHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alerts = alerts
        self.jobs = Jobs(self)
        self.setWindowTitle("Alerts log")
        self.resize(900, 420)
        layout = QVBoxLayout(self)
        self.where = muted()
        layout.addWidget(self.where)
        self.model: TableModel[LogLine] = TableModel(LOG_COLUMNS, self, text_tips=True)
        self.table = read_only_view(self.model)
        explain(self.table, "Every alert raised: Enter or a double click shows its screen",
                "Alerts")  # fmt: skip
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(MESSAGE_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate(LOG_WIDTHS):
            if column != MESSAGE_COLUMN:
                self.table.setColumnWidth(column, width)
        # Enter, and a double click (or one click where the platform opens items so)
        self.table.activated.connect(self._activated)
        enter_activates_only(self.table)  # and leaves the log open
        layout.addWidget(self.table, 1)
        self.status = muted()
        self.status.setAccessibleName("Alerts log status")
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.view_button = QPushButton("Go to view")
        self.view_button.setToolTip("Show the screen this alert points to (or press Enter)")
        self.rules_button = QPushButton("Rules…")
        self.refresh_button = QPushButton("Refresh")
        for button in (self.view_button, self.rules_button, self.refresh_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        self.view_button.clicked.connect(lambda: self._activated(self.table.currentIndex()))
        self.rules_button.clicked.connect(self.rules_asked.emit)
        self.refresh_button.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        explain_labelled(buttons, {"Rules": "The rules that raise these alerts",
                                   "Refresh": "Read the alerts log again"})  # fmt: skip
        layout.addWidget(buttons)
        alerts.fired.connect(self._fired)  # a bound method: let go with the dialog
        self.refresh()

    def _fired(self, _alert: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the log again (the profile's: it may have been switched meanwhile)."""
        path = self.alerts.log_file()
        self.where.setText(f"From {path}" if path else "No profile is open.")
        if path is not None:
            self.jobs.run("read", self._read(path))

    async def _read(self, path: Path) -> None:
        entries = await Jobs.blocking(read_log, path, LOG_LINES_SHOWN)
        lines = [LogLine.of(entry) for entry in reversed(entries)]
        self.model.set_rows(lines)
        firing = sum(1 for line in lines if line.firing)
        self.status.setText(
            f"{len(lines)} line{'s' if len(lines) != 1 else ''}, {firing} fired; "
            "Enter or a double click shows the screen an alert points to."
            if lines
            else "No alert yet. Alert rules… says what fires one."
        )
        if lines and not self.table.currentIndex().isValid():
            self.table.selectRow(0)

    def _activated(self, index: QModelIndex) -> None:
        line = self.model.row(index.row()) if index.isValid() else None
        if line is not None:
            self.go_to.emit(line.kind, line.target)
