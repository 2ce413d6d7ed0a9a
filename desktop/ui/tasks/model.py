"""The tasks table: journal pages loaded on demand, live diffs applied per batch.

A million journaled tasks never sit in memory: rows come from SQL a page at a time
(`canFetchMore`/`fetchMore`), filters and sorting run in SQL, and each event batch becomes at
most one `beginInsertRows` at the top and one `dataChanged` over the changed range, plus a
removal for each run of rows that stopped matching the filter and an insertion for each known
task that started matching it.

Every read runs off the GUI thread (`Jobs.blocking`) on the model's own read-only connection
(`JournalReader`: in WAL it never waits for the recorder's write lock); a newer reload cancels
an older one, and a page is read by keyset (after the sort key and id of the last row read),
never by OFFSET. Diffs that arrive while a reload is reading are held and applied on top of
the rows it read, so none is lost between the read and the reset.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import StateDiff
from desktop.core.monitor.task_query import TaskQuery
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.table_model import contiguous_runs
from desktop.ui.tasks.cells import (
    COLUMNS,
    PAGE_SORT_MARK,
    PAGE_SORT_TIP,
    PAGE_SORTED,
    cell_texts,
    state_qcolour,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# Live rows as the model takes them: the task ids in order, the new ones, their rows.
Live = tuple[list[str], set[str], Mapping[str, TaskRecord]]

Index = QModelIndex | QPersistentModelIndex
PAGE_SIZE = 500
COUNT_AFTER_S = 0.1  # a few frames: the new rows painted before the count's scan starts
LIVE_ORDERS = ("sent", "received", "updated")
# The roles this model answers, as the ints a view asks by (an int compares with an int
# faster than with an enum member: a paint asks seven roles of each of ~150 cells).
_ROLES = frozenset(
    int(role)
    for role in (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.UserRole,
    )
)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_STATE_COLUMN = [key for key, _title in COLUMNS].index("state")


class TasksModel(QAbstractTableModel):
    # New tasks that arrived while the table is sorted by something else than time (newest
    # first): they cannot be placed without a reload, so the screen offers one.
    pending_changed = Signal(int)
    # A reload or a page finished reading (the rows are in the table, the count is known).
    loaded = Signal()

    def __init__(self, journal: Journal | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.pending = 0
        self.query = TaskQuery()
        self.jobs = Jobs(self)
        self.slot = JournalSlot(self.jobs, "the tasks table")
        self.slot.set_journal(journal)
        self._rows: list[TaskRecord] = []
        # id -> sequence number; row index = seq - _first_seq. Inserting k rows at the top
        # lowers _first_seq by k, so no other entry changes: O(k), not O(rows), per batch.
        self._seq: dict[str, int] = {}
        self._first_seq = 0
        self._total = 0
        self._more = False  # the last page read was full: there may be more after it
        self._after: tuple[Any, str] | None = None  # keyset of the last row read from SQL
        self._held: list[Live] | None = None  # live rows arriving while a reload reads
        self._page_sort: tuple[str, bool] | None = None  # a column sorted in the loaded rows
        # What each row's cells say, made once per record (off the GUI thread for a page read,
        # on it for a live row when first painted): a view asks for every cell on each paint,
        # and formatting times and shortening text each time cost a paint 3 ms of its ~17.
        self._texts: dict[str, tuple[TaskRecord, tuple[str, ...]]] = {}
        self.reload()

    # -- loading ---------------------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        self.slot.set_journal(journal)
        self.reload()

    @property
    def journal(self) -> Journal | None:
        return self.slot.journal

    def set_query(self, query: TaskQuery) -> None:
        self.query = query
        self.reload()

    @property
    def loading(self) -> bool:
        """A reload or a page is being read."""
        return self.jobs.running("load") or self.jobs.running("more")

    async def reader(self) -> HistoryReader | None:
        """This model's read-only connection to the journal (JournalSlot)."""
        return await self.slot.reader()

    def reload(self) -> None:
        """Read the first page (and then the count) again, off the GUI thread."""
        self.jobs.cancel("more")
        self._held = []
        self.jobs.run("load", self._load(self.query))

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the job pool; once more if a superseded reload interrupted it (the
        connection is shared: `_load` interrupts its own scan when a newer one replaces it)."""
        try:
            return await Jobs.blocking(fn, *args)
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            return await Jobs.blocking(fn, *args)

    async def _load(self, query: TaskQuery) -> None:
        reader = await self.reader()
        try:
            await self._load_from(reader, query)
        except asyncio.CancelledError:
            # Superseded: stop its scan (a search counting 1M rows); never on the recorder's
            # own connection (the fallback), whose statement may be a batch being written.
            if reader is not None and not isinstance(reader, Journal):
                reader.interrupt()
            raise

    @staticmethod
    def _page(
        reader: HistoryReader, query: TaskQuery, after: tuple[Any, str] | None
    ) -> tuple[list[TaskRecord], dict[str, tuple[TaskRecord, tuple[str, ...]]]]:
        """A page and what its cells say, on a job thread."""
        rows = reader.page(query, 0, PAGE_SIZE, after=after)
        return rows, {row["id"]: (row, cell_texts(row)) for row in rows}

    async def _load_from(self, reader: HistoryReader | None, query: TaskQuery) -> None:
        rows, texts = await Jobs.blocking(self._page, reader, query, None) if reader else ([], {})
        held, self._held = self._held or [], None
        self._texts = texts
        self.beginResetModel()
        self._rows = []
        self._seq = {}
        self._first_seq = 0
        self._total = len(rows)
        self._more = len(rows) == PAGE_SIZE
        self._after = query.key(rows[-1]) if rows else None
        self._append(rows)
        if self._page_sort is not None:
            self._rows.sort(key=self._page_sort_key, reverse=self._page_sort[1])
            self._renumber()
        self.endResetModel()
        if self.pending:
            self.pending = 0
            self.pending_changed.emit(0)
        for live in held:
            self._apply(*live)
        if reader is not None and self._more:
            # A count reads every matching row (a search: a scan of the table): after the
            # rows are shown, never before them, and after they are painted: the scan keeps
            # another core busy, and on a 2-CPU machine the table's paint beside it was seen
            # to take twice as long (bench/gui_journal.py --explain).
            await asyncio.sleep(COUNT_AFTER_S)
            total = await Jobs.blocking(reader.count, query)
            self._total = max(total, len(self._rows))
        self.loaded.emit()

    @property
    def live_order(self) -> bool:
        """Newest first by a time column: new tasks belong at the top, where they go live."""
        return (
            self._page_sort is None and self.query.descending and self.query.order_by in LIVE_ORDERS
        )

    def _append(self, rows: list[TaskRecord]) -> None:
        for row in rows:
            self._seq[row["id"]] = self._first_seq + len(self._rows)
            self._rows.append(row)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return (
            not parent.isValid()
            and self._more
            and self._page_sort is None
            and self._held is None
            and not self.jobs.running("more")
        )

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self.journal is None or not self.canFetchMore():
            return
        self.jobs.run("more", self._fetch_more(self.query, self._after))

    async def _fetch_more(self, query: TaskQuery, after: tuple[Any, str] | None) -> None:
        reader = await self.reader()
        if reader is None:
            return
        page, texts = await self.read(self._page, reader, query, after)
        self._texts.update(texts)
        self._more = len(page) == PAGE_SIZE
        if page:
            self._after = query.key(page[-1])
        page = [r for r in page if r["id"] not in self._seq]  # a live row already placed
        if page:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
            self._append(page)
            self._total = max(self._total, len(self._rows))
            self.endInsertRows()
        if not self._more:
            self._total = len(self._rows)
        self.loaded.emit()

    @property
    def total(self) -> int:
        return self._total

    # -- live updates ----------------------------------------------------------------------
    def apply_diff(self, diff: StateDiff) -> None:
        """Each task as the journal holds it after the batch (`diff.journaled`), so a live row
        carries what a page read from SQL carries. The query's own rule decides membership,
        tested again on every changed row: a loaded row that stops matching leaves, a task
        that starts matching joins (one received in an earlier batch that fails now joins a
        FAILURE filter). While a reload reads, the diff waits for its rows."""
        self._apply(
            [task.id for task in (*diff.tasks_added, *diff.tasks_changed)],
            {task.id for task in diff.tasks_added},
            diff.journaled,
        )

    def apply_rows(self, rows: Mapping[str, TaskRecord]) -> None:
        """Rows a recorder stored in the shared history, read by id off the GUI thread (its
        notification named them), taken as a diff's rows are: a task not shown yet joins
        where the query's order puts it (a recorder's batch may hold old tasks reconciled as
        well as new ones, so none is put at the top for being unseen)."""
        self._apply(list(rows), set(), rows)

    def _apply(self, ids: list[str], added: set[str], journaled: Mapping[str, TaskRecord]) -> None:
        if self._held is not None:
            self._held.append((ids, added, journaled))
            return
        changed: list[int] = []
        leaving: list[int] = []
        fresh: list[TaskRecord] = []  # new tasks: newest first, at the top
        joining: list[TaskRecord] = []  # known tasks that match the query now
        for task_id in ids:
            row = journaled.get(task_id)
            if row is None:  # not journaled: nothing a reload would show either
                continue
            position = self.position(task_id)
            wanted = self.query.matches(row)
            if position is not None:
                if wanted:
                    self._rows[position] = row
                    changed.append(position)
                else:
                    leaving.append(position)
            elif wanted:
                (fresh if task_id in added else joining).append(row)
        self._changed(changed)
        if leaving:
            self._remove(leaving)
        if (fresh or joining) and not self.live_order:
            self.pending += len(fresh) + len(joining)
            self.pending_changed.emit(self.pending)
            return
        if joining:
            self._place(joining)
        if fresh:
            fresh.reverse()  # newest first, like the journal's default order
            self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
            self._rows[0:0] = fresh
            self._first_seq -= len(fresh)
            for offset, row in enumerate(fresh):
                self._seq[row["id"]] = self._first_seq + offset
            self._total += len(fresh)
            self.endInsertRows()

    def update_rows(self, rows: dict[str, TaskRecord]) -> None:
        """Rows the journal learned more about (a priority read off the broker), in place."""
        changed = []
        for task_id, row in rows.items():
            position = self.position(task_id)
            if position is not None and 0 <= position < len(self._rows):
                self._rows[position] = row
                changed.append(position)
        self._changed(changed)

    def _changed(self, positions: list[int]) -> None:
        """One signal over the span of the changed rows: a view repaints what it shows of it."""
        if positions:
            last = len(COLUMNS) - 1
            self.dataChanged.emit(self.index(min(positions), 0), self.index(max(positions), last))

    def position(self, task_id: str) -> int | None:
        seq = self._seq.get(task_id)
        return None if seq is None else seq - self._first_seq

    def _remove(self, positions: list[int]) -> None:
        """Rows that no longer match, removed bottom up, one contiguous run at a time."""
        for first, last in reversed(contiguous_runs(positions)):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self._total -= last - first + 1
            self.endRemoveRows()
        self._renumber()

    def _place(self, rows: list[TaskRecord]) -> None:
        """Known tasks that now match, each where the query's order puts it. One that sorts
        past the loaded rows is left to the page that reaches it (`fetchMore`)."""
        column = self.query.order_by

        def key(row: TaskRecord) -> tuple[bool, float, str]:
            value = row.get(column)  # NULL sorts lowest in SQLite: last when descending
            return (value is not None, value if isinstance(value, int | float) else 0.0, row["id"])

        for row in rows:
            wanted = key(row)
            at = next((i for i, r in enumerate(self._rows) if key(r) < wanted), len(self._rows))
            if at == len(self._rows) and self._more:
                continue
            self.beginInsertRows(QModelIndex(), at, at)
            self._rows.insert(at, row)
            self._total += 1
            self.endInsertRows()
        self._renumber()

    def _renumber(self) -> None:
        self._first_seq = 0
        self._seq = {row["id"]: i for i, row in enumerate(self._rows)}

    # -- Qt model API ----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        key, title = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return title + PAGE_SORT_MARK if key in PAGE_SORTED else title
        if role == Qt.ItemDataRole.ToolTipRole and key in PAGE_SORTED:
            return PAGE_SORT_TIP
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # A view asks a dozen roles per cell on each paint (font, alignment, size hint...):
        # those this model has nothing for leave first, or painting 40 rows costs 30 ms.
        if role not in _ROLES or not index.isValid():
            return None
        return self._cell(index.row(), index.column(), role)

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """What a view's paint asks of each cell, every role in one call: one call into Python
        a cell instead of seven, so a paint waits for the GIL 130 times, not 900, while a job
        thread turns the next page into rows (bench/gui_journal.py, sorting). The cell's text
        (the role every paint asks first) is answered without `_cell`'s general path."""
        every: Iterable[QModelRoleData] = (
            [roleDataSpan]
            if isinstance(roleDataSpan, QModelRoleData)
            else cast(Iterable[QModelRoleData], roleDataSpan)  # iterable; the stubs omit it
        )
        if not index.isValid():
            for asked in every:
                asked.clearData()
            return
        position, column = index.row(), index.column()
        for asked in every:
            role = asked.role()
            if role == _DISPLAY:
                asked.setData(self._text(position, column))
            elif role in _ROLES and (value := self._cell(position, column, role)) is not None:
                asked.setData(value)
            else:
                asked.clearData()

    def _text(self, position: int, column: int) -> str:
        """What the cell says: made once per record (off the GUI thread for a page read)."""
        row = self._rows[position]
        known = self._texts.get(row["id"])
        if known is None or known[0] is not row:  # a live row, or one changed since
            known = self._texts[row["id"]] = (row, cell_texts(row))
        return known[1][column]

    def _cell(self, position: int, column: int, role: int) -> Any:
        """One role of one cell: the one rule `data` and `multiData` both answer by."""
        if role == _DISPLAY:
            return self._text(position, column)
        row = self._rows[position]
        key = COLUMNS[column][0]
        if role == Qt.ItemDataRole.ForegroundRole and column == _STATE_COLUMN:
            return state_qcolour(str(row.get("state")))
        if role == Qt.ItemDataRole.ToolTipRole and key in ("args", "kwargs", "result"):
            value = (
                row.get("exception") if key == "result" and row.get("exception") else row.get(key)
            )
            return None if value is None else str(value)[:2000]
        if role == Qt.ItemDataRole.UserRole:
            return row["id"]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """By an indexed column: in SQL, from the first page. By one without an index: the
        loaded rows only (PAGE_SORTED), with no more pages read under that order."""
        key = COLUMNS[column][0]
        descending = order == Qt.SortOrder.DescendingOrder
        if key in PAGE_SORTED:
            self._page_sort = (key, descending)
            self.layoutAboutToBeChanged.emit()
            self._rows.sort(key=self._page_sort_key, reverse=descending)
            self._renumber()
            self.layoutChanged.emit()
            return
        self._page_sort = None
        self.set_query(replace(self.query, order_by=key, descending=descending))

    def _page_sort_key(self, row: TaskRecord) -> tuple[bool, str]:
        """As SQLite orders text: NULL lowest."""
        assert self._page_sort is not None
        value = row.get(self._page_sort[0])
        return value is not None, "" if value is None else str(value)

    def row(self, task_id: str) -> TaskRecord | None:
        """The loaded row of this task, if the table holds it."""
        position = self.position(task_id)
        return self._rows[position] if position is not None else None

    def task_id(self, row: int) -> str | None:
        return self._rows[row]["id"] if 0 <= row < len(self._rows) else None
