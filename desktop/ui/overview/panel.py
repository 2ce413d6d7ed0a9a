"""Overview: the cluster at a glance, the first tab and the one shown on a first start.

The broker (kind, version, latency, memory or totals), the workers online with how busy
they are, every queue with what waits, for how long and who consumes it (red with a ⚠ when
messages wait and nobody does), tasks per second succeeded and failed with a sparkline of
the last 15 minutes, the last failures' causes, and the local workers. Each row or line is a
door: a click opens its own screen on it (the shell connects the `open_*` signals).

Nothing here polls. What it shows comes from what already flows: the session's diffs (rates
through the Charts' engine `Rates`, workers' heartbeats), the Queues screen's reads (its
`snapshot_read`, which it keeps doing while this screen shows: `watching`; each read also
carries the broker server's facts), the Workers screen's `inspect` replies (pool sizes and
consumed queues; asked once when this screen shows: `wants_worker_facts`), the session's
local workers, and the connection's facts. The last failures are grouped by the Failures
screen's rule (monitor/failures.py) on this screen's own journal connection, on the job
pool, when a failure arrives (at most every FAILURES_EVERY_S) and when shown. A one-second
timer only repaints (rates move on, heartbeats age) and only while shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import TaskRecord
from desktop.core.broker.queues import Snapshot
from desktop.core.broker.server_info import ServerInfo
from desktop.core.local.local_worker import LocalWorker
from desktop.core.monitor.failures import FailureGroup, failure_groups, unresolved
from desktop.core.monitor.glance import QueueGlance, concurrency_of, queue_glances
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import FAILED_STATES
from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import StateDiff, WorkerRow, worker_online
from desktop.core.opening import ConnectionFacts
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.panel_parts import heading, muted
from desktop.ui.common.states import STATE_SYMBOLS, state_role
from desktop.ui.common.table_model import TableModel, make_read_only
from desktop.ui.overview.app_hint import AppHint
from desktop.ui.overview.broker_box import BrokerBox
from desktop.ui.overview.first_run import FirstRunGuide
from desktop.ui.overview.rate_line import RateLine
from desktop.ui.overview.tables import (
    FAILURE_COLUMNS,
    LOCAL_COLUMNS,
    QUEUE_COLUMNS,
    WORKER_COLUMNS,
    WorkerLine,
)
from desktop.ui.session.session import Session

WINDOW_S = 900  # the sparklines' 15 minutes
SLICE_S = 30  # one sparkline point per half minute
RATE_NOW_S = 60  # "per second" is the mean over the last minute
FAILURES_SINCE_S = 86400.0  # the Failures screen's default period: a click lands in it
FAILURES_SHOWN = 6
FAILURES_EVERY_S = 2.0
# The newest failures grouped for the glance: grouping costs ~80 us a failure (its message
# normalised), 2 s for a day of 26,000 on a busy cluster, a stutter of the window each time
# (bench/gui_journal.py idle 5 -> 70 ms); the Failures screen counts them all.
FAILURES_GROUPED = 2_000
FAILURES_TITLE = "Last failures (24 hours), by cause"
NO_FAILURES = f"{STATE_SYMBOLS['succeeded']} No failed task in the last 24 hours."
UNREADABLE = "The shared history cannot be read now (the status bar says why)."
FITTED_ROWS = (1, 8)  # a small table shows this many rows at least, and scrolls past the most


class FittedTable(QTableView):
    """A small table as tall as its rows (FITTED_ROWS at least and at most): the box around
    it holds no empty grey area, and the room left goes to the sparklines."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        rows = min(max(self.model().rowCount(), FITTED_ROWS[0]), FITTED_ROWS[1])
        height = (
            self.horizontalHeader().height() + rows * self.verticalHeader().defaultSectionSize()
        )
        return QSize(hint.width(), height + 2 * self.frameWidth() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())


class OverviewPanel(QWidget):
    watching = Signal(bool)  # shown or hidden: the Queues screen reads the broker meanwhile
    wants_worker_facts = Signal()  # pool sizes and consumed queues: the Workers screen asks
    open_queue = Signal(str)
    open_failure = Signal(str)  # a cause's fingerprint
    open_worker = Signal(str)  # a node name
    open_local_worker = Signal(str)  # a local worker's name
    open_tasks = Signal(str)  # a query in the search language
    edit_profile = Signal(object)  # profile fields to fill in the editor (AppHint)

    def __init__(
        self, session: Session, settings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self.slot = JournalSlot(self.jobs, "the overview")
        self.rates = Rates(window_s=WINDOW_S)
        self.workers: dict[str, WorkerRow] = {}
        self.worker_facts: dict[str, dict[str, Any]] = {}
        self.snapshot: Snapshot | None = None
        self.server: ServerInfo | None = None  # the last read that asked the server
        self.facts: ConnectionFacts | None = None
        self._failures_dirty = True

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Overview"))
        self.guide = FirstRunGuide(session, settings)
        self.guide.open_tasks.connect(lambda: self.open_tasks.emit(""))
        self.guide.open_queues.connect(self._open_default_queue)
        layout.addWidget(self.guide)
        self.app_hint = AppHint(session)
        self.app_hint.edit_profile.connect(self.edit_profile.emit)
        layout.addWidget(self.app_hint)
        columns = QHBoxLayout()
        columns.setSpacing(10)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.setSpacing(8)
        right.setSpacing(8)
        columns.addLayout(left, 2)
        columns.addLayout(right, 3)
        layout.addLayout(columns, 1)

        self.broker = BrokerBox()
        left.addWidget(self.broker)
        rates_box = QGroupBox("Tasks per second — last 15 minutes")
        rates_column = QVBoxLayout(rates_box)
        rates_column.setSpacing(2)
        self.succeeded = RateLine(
            STATE_SYMBOLS["succeeded"], "Succeeded", state_role("SUCCESS"),
            "Tasks that succeeded, from the live events. Click: the Tasks screen, "
            "state:SUCCESS",
        )  # fmt: skip
        self.failed = RateLine(
            STATE_SYMBOLS["failed"], "Failed", state_role("FAILURE"),
            "Tasks that failed, from the live events. Click: the Tasks screen, state:FAILURE",
        )  # fmt: skip
        self.succeeded.clicked.connect(lambda: self.open_tasks.emit("state:SUCCESS"))
        self.failed.clicked.connect(lambda: self.open_tasks.emit("state:FAILURE"))
        rates_column.addWidget(self.succeeded)
        rates_column.addWidget(self.failed)
        self.rates_note = muted("Per second over the last minute; counted since the panel opened.")
        rates_column.addWidget(self.rates_note)
        right.addWidget(rates_box)

        self.worker_rows: TableModel[WorkerLine] = TableModel(WORKER_COLUMNS, self)
        self.worker_view, box, self.workers_empty = self._table_box(
            "Workers", self.worker_rows,
            "No worker seen yet. Start one on the Workers screen (Local workers: a preset "
            "starts the tutorial's), or run `celery -A APP worker -E` anywhere.",
            lambda line: self.open_worker.emit(line.row.hostname),
        )  # fmt: skip
        self.workers_box = box
        left.addWidget(box)
        self.queue_rows: TableModel[QueueGlance] = TableModel(QUEUE_COLUMNS, self)
        self.queue_view, box, self.queues_empty = self._table_box(
            "Queues", self.queue_rows, "Reading the queues…",
            lambda glance: self.open_queue.emit(glance.queue),
        )  # fmt: skip
        self.queues_box = box
        right.addWidget(box)
        self.failure_rows: TableModel[FailureGroup] = TableModel(FAILURE_COLUMNS, self)
        self.failure_view, box, self.failures_empty = self._table_box(
            FAILURES_TITLE, self.failure_rows,
            NO_FAILURES,
            lambda group: self.open_failure.emit(group.fingerprint),
        )  # fmt: skip
        self.failures_box = box
        right.addWidget(box)
        self.local_rows: TableModel[LocalWorker] = TableModel(LOCAL_COLUMNS, self)
        self.local_view, box, self.local_empty = self._table_box(
            "Local workers", self.local_rows,
            "None started from this panel for this profile. The Workers screen starts them "
            "(one click for the tutorial's presets).",
            lambda worker: self.open_local_worker.emit(worker.name),
        )  # fmt: skip
        self.local_box = box
        left.addWidget(box)
        # Every box is as tall as what it holds; the room left stays below them.
        left.addStretch(1)
        right.addStretch(1)

        self._repaint = QTimer(self)
        self._repaint.setInterval(1000)
        self._repaint.timeout.connect(self._tick)
        self._failures_soon = QTimer(self)
        self._failures_soon.setSingleShot(True)
        self._failures_soon.setInterval(int(FAILURES_EVERY_S * 1000))
        self._failures_soon.timeout.connect(self.refresh_failures)
        session.journal_changed.connect(self.set_journal)
        session.local_workers_changed.connect(self.show_local_workers)
        session.reconciled.connect(lambda _count: self.refresh_failures())
        session.history_rows.connect(self.apply_rows)  # a shared history's recorders
        session.history_reload.connect(self.refresh_failures)
        self.set_journal(session.journal)
        self.show_local_workers(session.local_workers)
        self._show_rates()

    def _table_box(
        self,
        title: str,
        model: TableModel[Any],
        empty: str,
        opened: Callable[[Any], None],
    ) -> tuple[QTableView, QGroupBox, QLabel]:
        """A titled small table whose rows open their screen, with a sentence in its place
        while it has no row (an empty grey table says nothing). The first column (the name,
        the cause) takes the width the others leave."""
        box = QGroupBox(title)
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        column = QVBoxLayout(box)
        view = FittedTable()
        view.setModel(model)
        make_read_only(view)
        header = view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        view.verticalHeader().setDefaultSectionSize(22)
        view.setCursor(Qt.CursorShape.PointingHandCursor)
        explain(view, f"{title}: click a row to open it on its screen", title)

        def open_row(index: QModelIndex) -> None:
            row = model.row(index.row())
            if row is not None:
                opened(row)

        view.clicked.connect(open_row)
        view.activated.connect(open_row)
        hint = muted(empty)
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        column.addWidget(view)
        column.addWidget(hint)
        model.modelReset.connect(lambda: self._empty_or_not(view, hint))
        model.rowsInserted.connect(lambda *_: self._empty_or_not(view, hint))
        model.rowsRemoved.connect(lambda *_: self._empty_or_not(view, hint))
        self._empty_or_not(view, hint)
        return view, box, hint

    @staticmethod
    def _empty_or_not(view: QTableView, hint: QLabel) -> None:
        empty = view.model().rowCount() == 0
        view.setVisible(not empty)
        hint.setVisible(empty)
        view.updateGeometry()  # its height follows its rows

    def _open_default_queue(self) -> None:
        """The queue the tutorial's examples mostly go to: the app's default (`tasks`)."""
        config = self.session.app_config
        self.open_queue.emit(config.default_queue if config is not None else "")

    # -- inputs -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Another profile: nothing of the previous one stays."""
        self.rates = Rates(window_s=WINDOW_S)
        self.workers, self.worker_facts, self.snapshot, self.facts = {}, {}, None, None
        self.server = None
        for rows in (self.worker_rows, self.queue_rows, self.failure_rows, self.local_rows):
            rows.set_rows([])
        self.broker.clear()
        self.app_hint.setVisible(False)  # the new profile's app is read next
        self.queues_empty.setText("Reading the queues…")
        self._show_rates()

    def apply_diff(self, diff: StateDiff) -> None:
        self.rates.add(diff)
        if diff.tasks_added and not self.guide.isHidden():  # shown, even on a hidden tab
            self.guide.tasks_seen()
        if diff.workers_changed:
            for worker in diff.workers_changed:
                self.workers[worker.hostname] = worker
            self._show_workers()
            self._show_queues()
        self._failed_live(row.state for row in (*diff.tasks_added, *diff.tasks_changed))

    def apply_rows(self, rows: Mapping[str, TaskRecord]) -> None:
        """Rows a recorder stored in the shared history: failures grouped again soon."""
        self._failed_live(row.get("state") for row in rows.values())

    def _failed_live(self, states: Iterable[str | None]) -> None:
        if any(state in FAILED_STATES for state in states):
            self._failures_dirty = True
            if self.isVisible() and not self._failures_soon.isActive():
                self._failures_soon.start()

    def show_facts(self, facts: ConnectionFacts) -> None:
        self.facts = facts
        self.broker.show_broker(facts, self.server, self._glances())

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        self.app_hint.show_app_config(config, error)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """A read of the queues (the Queues screen's `snapshot_read`)."""
        self.snapshot = snapshot
        if snapshot.server is not None:
            self.server = snapshot.server
        self._show_queues()

    def show_worker_facts(self, facts: dict[str, dict[str, Any]]) -> None:
        """The workers' `inspect` replies (pool, concurrency, consumed queues)."""
        self.worker_facts = dict(facts)
        self._show_workers()
        self._show_queues()

    def show_local_workers(self, workers: list[LocalWorker]) -> None:
        self.local_rows.set_rows(list(workers))

    def set_journal(self, journal: Journal | None) -> None:
        self.slot.set_journal(journal)
        self.failure_rows.set_rows([])
        self.refresh_failures()

    # -- shown ----------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.watching.emit(True)
        self.wants_worker_facts.emit()
        self._repaint.start()
        self._tick()
        if self._failures_dirty:
            self.refresh_failures()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.watching.emit(False)
        self._repaint.stop()

    def _tick(self) -> None:
        self._show_rates()
        self._show_workers()  # heartbeats age: a silent worker goes offline
        self.local_rows.repaint()  # uptimes
        self.failure_rows.repaint()  # "3 min ago"

    # -- what is shown ------------------------------------------------------------------------
    def _show_rates(self) -> None:
        now = time.time()
        heard = sum(
            self.rates.per_second("state", key, RATE_NOW_S, now) for key in self.rates.keys("state")
        )
        self.broker.show_events(heard)
        for line, key in ((self.succeeded, "succeeded"), (self.failed, "failed")):
            line.show_rate(
                self.rates.per_second("state", key, RATE_NOW_S, now),
                self.rates.total("state", key),
                "15 min",
                self.rates.binned("state", key, SLICE_S, now),
            )

    def _online(self) -> list[str]:
        now = time.time()
        return [name for name, row in self.workers.items() if worker_online(row, now)]

    def _show_workers(self) -> None:
        online = set(self._online())
        lines = [
            WorkerLine(row, row.hostname in online, concurrency_of(self.worker_facts.get(name, {})))
            for name, row in sorted(self.workers.items(), key=lambda i: (i[0] not in online, i[0]))
        ]
        self.worker_rows.set_rows(lines)
        count = len(online)
        self.workers_box.setTitle(
            f"Workers — {count} online"
            + (f", {len(lines) - count} offline" if len(lines) > count else "")
        )

    def _glances(self) -> list[QueueGlance]:
        taken = self.snapshot
        if taken is None:
            return []
        consumed = {
            node: list(facts.get("queues") or []) for node, facts in self.worker_facts.items()
        }
        return queue_glances(taken.counts, taken.oldest, consumed, self._online())

    def _show_queues(self) -> None:
        glances = self._glances()
        self.queue_rows.set_rows(glances)
        if self.snapshot is not None and not glances:
            self.queues_empty.setText("The app declares no queue.")
        alarming = sum(1 for g in glances if g.unconsumed)
        title = "Queues"
        if alarming:
            title += f" — {STATE_SYMBOLS['warning']} {alarming} waiting with nobody consuming"
        self.queues_box.setTitle(title)
        if self.facts is not None:
            self.broker.show_broker(self.facts, self.server, glances)

    # -- the last failures ----------------------------------------------------------------------
    def refresh_failures(self) -> None:
        """Group the last day's failures again, off the GUI thread (only while shown)."""
        self._failures_dirty = True
        if self.isVisible():
            self.jobs.run_again("failures", self._read_failures)

    async def _read_failures(self) -> None:
        reader = await self.slot.reader()
        if reader is None:
            if self.slot.shared:  # never "no failed task" for a history it cannot read
                self.failure_rows.set_rows([])
                self.failures_empty.setText(UNREADABLE)
            return
        self.failures_empty.setText(NO_FAILURES)
        self._failures_dirty = False
        marks = self.slot.marks(reader)
        groups, read = await Jobs.blocking(last_failures, reader, time.time(), marks)
        self.failure_rows.set_rows(groups)
        self.failures_box.setTitle(
            f"{FAILURES_TITLE}: the newest {FAILURES_GROUPED:,}" if read >= FAILURES_GROUPED
            else FAILURES_TITLE
        )  # fmt: skip


def last_failures(
    reader: HistoryReader, now: float, marks: HistoryReader | None = None
) -> tuple[list[FailureGroup], int]:
    """The causes of the last day's newest failures (FAILURES_GROUPED), the most recent
    first, those marked resolved (in `marks`: JournalSlot.marks) left out (until they fail
    again): the Failures screen's grouping, on the job pool; and how many failures were
    grouped."""
    groups = failure_groups(reader, now - FAILURES_SINCE_S, newest=FAILURES_GROUPED)
    read = sum(group.count for group in groups)
    shown, _hidden = unresolved(groups, (marks or reader).resolved_failures())
    shown.sort(key=lambda g: -g.last)
    return shown[:FAILURES_SHOWN], read
