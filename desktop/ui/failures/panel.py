"""Failures: the journal's failed (and, when asked, retried and revoked) tasks grouped by cause,
each group with its trend, an example traceback and its tasks, and what a person does about a
cause: retry it, retry what is selected, open one in the Builder to edit its arguments,
revoke what still waits, mark it resolved, copy it as a report.

The groups are read off the GUI thread (the screen's own read-only connection) when the
screen is shown, when a filter changes, and while shown whenever a live batch brings a failed
task (at most every REFRESH_S). The actions live in actions.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.failures import (
    FailureGroup,
    failure_groups,
    occurrences,
    unresolved,
)
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import FAILED_STATES
from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.state import StateDiff
from desktop.core.monitor.task_search import SEARCH_HELP, Search, parse
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.panel_parts import heading, muted, show_steadily
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.common.table_model import make_read_only
from desktop.ui.failures.actions import FailureActions
from desktop.ui.failures.groups import (
    CAUSE_COLUMN,
    GROUP_WIDTHS,
    SPARK_BUCKETS,
    TREND_COLUMN,
    GroupLine,
    GroupsModel,
    MemberLine,
    SparklineDelegate,
    members_model,
)
from desktop.ui.session.session import Session

# The periods a person picks from: (label, seconds back; None for all of the journal).
PERIODS: list[tuple[str, float | None]] = [
    ("Last hour", 3600.0),
    ("Last 24 hours", 86400.0),
    ("Last 7 days", 7 * 86400.0),
    ("Last 30 days", 30 * 86400.0),
    ("All", None),
]
STATE_LABELS = {"FAILURE": "Failed", "RETRY": "Retrying", "REVOKED": "Revoked"}
REFRESH_S = 2.0
MEMBERS_SHOWN = 500  # tasks of a group listed below it; the actions still take the whole group


class FailuresPanel(QWidget):
    open_in_builder = Signal(str, bool)  # task id, its whole workflow

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self.slot = JournalSlot(self.jobs, "the failures screen")
        self.config: EffectiveConfig | None = None
        self.search: Search | None = None
        self._dirty = True  # the groups shown may be stale: read again when next shown
        self._wanted: str | None = None  # a cause to choose once read (show_cause)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Failures"))
        layout.addWidget(
            muted(
                "Failed tasks grouped by cause (numbers, ids, paths and addresses left out of "
                "the exception). Pick a cause to see its tasks and deal with it at once."
            )
        )

        filters = QHBoxLayout()
        self.period = QComboBox()
        explain(self.period, "Count the failures of this period only", "Period")
        for label, seconds in PERIODS:
            self.period.addItem(label, seconds)
        self.period.setCurrentIndex(1)
        filters.addWidget(self.period)
        self.state_boxes: dict[str, QCheckBox] = {}
        for state in FAILED_STATES:
            box = QCheckBox(STATE_LABELS[state])
            box.setChecked(state == "FAILURE")
            box.setToolTip(f"Tasks in state {state}")
            box.toggled.connect(lambda _on: self.refresh())
            self.state_boxes[state] = box
            filters.addWidget(box)
        self.show_resolved = QCheckBox("Show resolved")
        self.show_resolved.setToolTip("Causes marked resolved that have not failed since")
        self.show_resolved.toggled.connect(lambda _on: self.refresh())
        filters.addWidget(self.show_resolved)
        self.filter_box = QLineEdit()
        self.filter_box.setPlaceholderText("Narrow: name:proj.* queue:emails worker:w1* words")
        self.filter_box.setToolTip(SEARCH_HELP)
        self.filter_box.setAccessibleName("Narrow the failures")
        filters.addWidget(self.filter_box, 1)
        self.summary = QLabel()
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        filters.addWidget(self.summary)
        layout.addLayout(filters)
        self.filter_error = QLabel()
        self.filter_error.setProperty("role", "error")
        self.filter_error.setVisible(False)
        layout.addWidget(self.filter_error)

        self.groups = GroupsModel(self)
        self.groups_view = QTableView()
        self.groups_view.setObjectName("failure-causes")  # its header is remembered
        explain(self.groups_view, "Failures grouped by cause: select one for its tasks", "Causes")
        self.groups_view.setModel(self.groups)
        make_read_only(self.groups_view)
        self.groups_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.groups_view.setItemDelegateForColumn(TREND_COLUMN, SparklineDelegate(self))
        header = self.groups_view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(CAUSE_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column, width in GROUP_WIDTHS.items():
            self.groups_view.setColumnWidth(column, width)
        self.groups_view.verticalHeader().setDefaultSectionSize(24)
        self.groups_view.selectionModel().currentRowChanged.connect(lambda *_: self._show_group())

        below = QWidget()
        lower = QVBoxLayout(below)
        lower.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.retry_group_button = QPushButton("Retry all")
        self.retry_group_button.setToolTip("Send every task of this cause again, as it was sent")
        self.retry_selected_button = QPushButton("Retry selected")
        self.edit_button = QPushButton("Retry with edited args…")
        self.edit_button.setToolTip("Open the selected task (or the example) in the Builder")
        self.revoke_button = QPushButton("Revoke waiting")
        self.revoke_button.setToolTip("Revoke the tasks of this cause still waiting to run again")
        self.resolve_button = QPushButton("Mark resolved")
        self.copy_button = QPushButton("Copy report")
        self.copy_button.setToolTip("The cause, counts, example and task ids as Markdown")
        explain(self.retry_selected_button, "Send the tasks selected below again, as sent")
        explain(self.resolve_button, "A resolved cause is hidden until it fails again")
        self.group_buttons = (
            self.retry_group_button,
            self.retry_selected_button,
            self.edit_button,
            self.revoke_button,
            self.resolve_button,
            self.copy_button,
        )
        for button in self.group_buttons:
            button.setEnabled(False)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(220)
        buttons.addWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        explain(self.cancel_button, "Stop the retry or revoke under way", "Cancel the action")
        buttons.addWidget(self.cancel_button)
        self.action_status = muted()
        self.action_status.setWordWrap(False)
        buttons.addWidget(self.action_status)
        lower.addLayout(buttons)

        details = remembered_splitter(Qt.Orientation.Horizontal, "failure-details")
        self.members = members_model(self)
        self.members_view = QTableView()
        self.members_view.setObjectName("failure-tasks")
        explain(self.members_view, "The tasks of the selected cause: select some to retry them",
                "Failed tasks")  # fmt: skip
        self.members_view.setModel(self.members)
        make_read_only(self.members_view)
        self.members_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.members_view.verticalHeader().setDefaultSectionSize(22)
        # Sized to their contents and fitted to the table's width (make_read_only): fixed
        # widths were wider than the pane at 1280 px, behind a horizontal scroll bar.
        self.members_view.selectionModel().selectionChanged.connect(lambda *_: self._sync())
        self.example = QPlainTextEdit()
        self.example.setReadOnly(True)
        self.example.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.example.setPlaceholderText("The newest failure's traceback")
        self.example.setAccessibleName("Example traceback")
        font = self.example.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.example.setFont(font)
        details.addWidget(self.members_view)
        details.addWidget(self.example)
        details.setSizes([640, 460])
        lower.addWidget(details, 1)

        splitter = remembered_splitter(Qt.Orientation.Vertical, "failures-split")
        splitter.addWidget(self.groups_view)
        splitter.addWidget(below)
        splitter.setSizes([300, 360])
        layout.addWidget(splitter, 1)

        self.group: FailureGroup | None = None
        self.example_row: TaskRecord | None = None
        self.failure_actions = FailureActions(self)
        self._filter_delay = QTimer(self)
        self._filter_delay.setSingleShot(True)
        self._filter_delay.setInterval(250)
        self._filter_delay.timeout.connect(self._apply_filter)
        self.filter_box.textChanged.connect(lambda _: self._filter_delay.start())
        self.period.currentIndexChanged.connect(lambda _: self.refresh())
        self._live = QTimer(self)
        self._live.setSingleShot(True)
        self._live.setInterval(int(REFRESH_S * 1000))
        self._live.timeout.connect(self.refresh)
        session.journal_changed.connect(self.set_journal)
        session.diff_ready.connect(self.apply_diff)
        session.history_rows.connect(self.apply_rows)
        session.history_reload.connect(self.refresh)
        session.reconciled.connect(lambda _count: self.refresh())
        self.set_journal(session.journal)

    # -- what is read -------------------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        self.slot.set_journal(journal)
        self.groups.set_rows([])
        self.members.set_rows([])
        self.group = None
        self._show_group()
        self.refresh()

    def show_app_config(self, config: EffectiveConfig, _error: str) -> None:
        self.config = config

    def apply_diff(self, diff: StateDiff) -> None:
        """A live batch with a failed task: read the groups again soon (once per REFRESH_S)."""
        self._failed_live(row.state for row in (*diff.tasks_added, *diff.tasks_changed))

    def apply_rows(self, rows: Mapping[str, TaskRecord]) -> None:
        """Rows a recorder stored in the shared history: the same, by their states."""
        self._failed_live(row.get("state") for row in rows.values())

    def _failed_live(self, states: Iterable[str | None]) -> None:
        if any(state in FAILED_STATES for state in states) and not self._live.isActive():
            self._live.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def show_cause(self, fingerprint: str, since_s: float = 86400.0) -> None:
        """Another screen's door (the Overview's last failures): this cause chosen once the
        groups are read, over a period at least `since_s` long, with nothing narrowing."""
        self._wanted = fingerprint
        if self.filter_box.text():
            self.filter_box.setText("")
            self._filter_delay.stop()
            self.search = None
            self.filter_error.setVisible(False)
        seconds = self.period.currentData()
        if seconds is not None and float(seconds) < since_s:
            fits = [i for i, (_l, s) in enumerate(PERIODS) if s is None or s >= since_s]
            self.period.blockSignals(True)
            self.period.setCurrentIndex(fits[0])
            self.period.blockSignals(False)
        self.refresh()

    def chosen_states(self) -> tuple[str, ...]:
        return tuple(s for s, box in self.state_boxes.items() if box.isChecked()) or ("FAILURE",)

    def _apply_filter(self) -> None:
        text = self.filter_box.text().strip()
        try:
            self.search = parse(text) if text else None
        except SearchSyntaxError as exc:
            self.filter_error.setText(str(exc))
            self.filter_error.setVisible(True)
            return
        self.filter_error.setVisible(False)
        self.refresh()

    def narrow(self, text: str) -> None:
        """Show the failures of these tasks (an alert's query; "" for every task) now, not
        after the typing delay."""
        self.filter_box.setText(text)
        self._filter_delay.stop()
        self._apply_filter()

    def refresh(self) -> None:
        """Read the groups again off the GUI thread (only while shown; else when next shown)."""
        self._dirty = True
        if self.isVisible():
            self.jobs.run_again("groups", self._read_groups)

    async def _read_groups(self) -> None:
        reader = await self.slot.reader()
        if reader is None:
            show_steadily(self.summary, "no journal")
            return
        self._dirty = False
        seconds = self.period.currentData()
        now = time.time()
        since = None if seconds is None else now - float(seconds)
        lines, hidden = await Jobs.blocking(
            _group_lines, reader, since, now, self.chosen_states(), self.search,
            self.show_resolved.isChecked(), self.slot.marks(reader),
        )  # fmt: skip
        chosen = self._wanted or (self.group.fingerprint if self.group else None)
        self._wanted = None
        self.groups.set_rows(lines)
        failures = sum(line.group.count for line in lines)
        said = f"{failures} failure{'s' if failures != 1 else ''} in {len(lines)} cause"
        said += "s" if len(lines) != 1 else ""
        if hidden:
            said += f" · {hidden} resolved hidden"
        show_steadily(self.summary, said)
        fingerprints = [line.group.fingerprint for line in lines]
        if chosen in fingerprints:
            self.groups_view.selectRow(fingerprints.index(chosen))
            self._show_group()
        elif lines:
            self.groups_view.selectRow(0)
        else:
            self.group = None
            self._show_group()

    def current_line(self) -> GroupLine | None:
        index = self.groups_view.selectionModel().currentIndex()
        return self.groups.row(index.row()) if index.isValid() else None

    def _show_group(self) -> None:
        line = self.current_line()
        self.group = line.group if line else None
        if self.group is None:
            self.members.set_rows([])
            self.example.clear()
            self.example_row = None
            self._sync()
            return
        self.resolve_button.setText("Unresolve" if line and line.resolved else "Mark resolved")
        self.jobs.run("members", self._read_members(self.group))
        self._sync()

    async def _read_members(self, group: FailureGroup) -> None:
        reader = await self.slot.reader()
        if reader is None:
            return
        members, example = await Jobs.blocking(_members_of, reader, group)
        if self.group is not group:
            return
        self.members.set_rows(members)
        self.example_row = example
        shown: dict[str, Any] = dict(example) if example else {}
        traceback = shown.get("traceback") or group.example_exception
        self.example.setPlainText(
            f"{group.example_id}  {shown.get('name') or ''}\n"
            f"args: {shown.get('args') or '()'}  kwargs: {shown.get('kwargs') or '{}'}\n\n"
            f"{traceback}"
        )
        self._sync()

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.members_view.selectionModel().selectedRows()})
        return [line.row["id"] for line in map(self.members.row, rows) if line is not None]

    def _sync(self) -> None:
        """Buttons enabled for what is chosen, and none while a bulk action runs."""
        busy = self.failure_actions.busy
        has_group = self.group is not None and not busy
        for button in self.group_buttons:
            button.setEnabled(has_group)
        self.retry_selected_button.setEnabled(has_group and bool(self.selected_ids()))
        count = len(self.selected_ids())
        self.retry_selected_button.setText(
            f"Retry selected ({count})" if count else "Retry selected"
        )
        if self.group is not None:
            self.retry_group_button.setText(f"Retry all {self.group.count}")


def _group_lines(
    reader: HistoryReader,
    since: float | None,
    now: float,
    states: tuple[str, ...],
    search: Search | None,
    with_resolved: bool,
    marks: HistoryReader,
) -> tuple[list[GroupLine], int]:
    """The groups to show with their sparklines, and how many resolved ones (in `marks`:
    JournalSlot.marks) are hidden. On the job pool: one read of the failed rows, grouped in
    Python."""
    groups = failure_groups(reader, since, states, search)
    resolved = marks.resolved_failures()
    shown, hidden = unresolved(groups, resolved)
    start = since if since is not None else min((g.first for g in groups), default=now)
    lines = [GroupLine(g, tuple(occurrences(g.times, start, now, SPARK_BUCKETS))) for g in shown]
    if with_resolved:
        lines += [
            GroupLine(g, tuple(occurrences(g.times, start, now, SPARK_BUCKETS)), resolved=True)
            for g in hidden
        ]
        return lines, 0
    return lines, len(hidden)


def _members_of(
    reader: HistoryReader, group: FailureGroup
) -> tuple[list[MemberLine], TaskRecord | None]:
    """The first MEMBERS_SHOWN tasks of a group (newest first) with what retried them, and
    the example's row."""
    ids = group.ids[:MEMBERS_SHOWN]
    rows = reader.rows(ids)
    retried = reader.retried_as(ids)
    members = [MemberLine(rows[i], tuple(retried.get(i, ()))) for i in ids if i in rows]
    return members, rows.get(group.example_id) or reader.get(group.example_id)
