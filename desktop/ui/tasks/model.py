"""The tasks table: journal pages loaded on demand, live diffs applied per batch.

A million journaled tasks never sit in memory: rows come from SQL a page at a time
(`canFetchMore`/`fetchMore`), filters and sorting run in SQL, and each event batch becomes at
most one `beginInsertRows` at the top and one `dataChanged` over the changed range, plus a
removal for each run of rows that stopped matching the filter and an insertion for each known
task that started matching it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.journal import Journal, TaskQuery
from desktop.core.monitor.state import StateDiff
from desktop.ui.common.theme import TASK_STATE_COLOURS

Index = QModelIndex | QPersistentModelIndex
PAGE_SIZE = 500
CELL_LIMIT = 200  # characters shown in a cell; the detail pane shows the whole value

COLUMNS: list[tuple[str, str]] = [
    ("id", "Task id"),
    ("name", "Name"),
    ("state", "State"),
    ("queue", "Queue"),
    ("priority", "Priority"),
    ("worker", "Worker"),
    ("args", "Args"),
    ("kwargs", "Kwargs"),
    ("result", "Result / exception"),
    ("sent", "Sent"),
    ("received", "Received"),
    ("started", "Started"),
    ("runtime", "Runtime"),
    ("retries", "Retries"),
    ("parent_id", "Parent"),
    ("root_id", "Root"),
]
SORT_KEYS = {"result": "result", "queue": "queue"}
STATE_COLOURS = TASK_STATE_COLOURS


def format_time(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return time.strftime("%H:%M:%S", time.localtime(value)) + f".{int(value * 1000) % 1000:03d}"


def shorten(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"


def display(row: TaskRecord, key: str) -> str:
    value = row.get(key)
    if key in ("sent", "received", "started"):
        return format_time(value)
    if key == "runtime":
        return f"{value:.3f} s" if isinstance(value, int | float) else ""
    if key == "result":
        return shorten(row.get("exception") or value)
    if key == "queue":
        return shorten(value or row.get("routing_key"))
    return shorten(value)


LIVE_ORDERS = ("sent", "received", "updated")


class TasksModel(QAbstractTableModel):
    # New tasks that arrived while the table is sorted by something else than time (newest
    # first): they cannot be placed without a reload, so the screen offers one.
    pending_changed = Signal(int)

    def __init__(self, journal: Journal | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.pending = 0
        self.journal = journal
        self.query = TaskQuery()
        self._rows: list[TaskRecord] = []
        # id -> sequence number; row index = seq - _first_seq. Inserting k rows at the top
        # lowers _first_seq by k, so no other entry changes: O(k), not O(rows), per batch.
        self._seq: dict[str, int] = {}
        self._first_seq = 0
        self._total = 0
        self.reload()

    # -- loading ---------------------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        self.journal = journal
        self.reload()

    def set_query(self, query: TaskQuery) -> None:
        self.query = query
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._seq = {}
        self._first_seq = 0
        self._total = self.journal.count(self.query) if self.journal else 0
        if self.journal:
            self._append(self.journal.page(self.query, 0, PAGE_SIZE))
        self.endResetModel()
        if self.pending:
            self.pending = 0
            self.pending_changed.emit(0)

    @property
    def live_order(self) -> bool:
        """Newest first by a time column: new tasks belong at the top, where they go live."""
        return self.query.descending and self.query.order_by in LIVE_ORDERS

    def _append(self, rows: list[TaskRecord]) -> None:
        for row in rows:
            self._seq[row["id"]] = self._first_seq + len(self._rows)
            self._rows.append(row)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self.journal is None:
            return
        page = self.journal.page(self.query, len(self._rows), PAGE_SIZE)
        page = [r for r in page if r["id"] not in self._seq]
        if not page:
            self._total = len(self._rows)
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        self._append(page)
        self.endInsertRows()

    @property
    def total(self) -> int:
        return self._total

    # -- live updates ----------------------------------------------------------------------
    def apply_diff(self, diff: StateDiff) -> None:
        """Each task as the journal holds it after the batch (`diff.journaled`), so a live row
        carries what a page read from SQL carries. The query's own rule decides membership: a
        loaded row that stops matching leaves, a task that starts matching joins."""
        changed: list[int] = []
        leaving: list[int] = []
        fresh: list[TaskRecord] = []  # new tasks: newest first, at the top
        joining: list[TaskRecord] = []  # known tasks that match the query now
        added = {task.id for task in diff.tasks_added}
        for task in (*diff.tasks_added, *diff.tasks_changed):
            row = diff.journaled.get(task.id)
            if row is None:  # not journaled: nothing a reload would show either
                continue
            position = self.position(task.id)
            wanted = self.query.matches(row)
            if position is not None:
                if wanted:
                    self._rows[position] = row
                    changed.append(position)
                else:
                    leaving.append(position)
            elif wanted:
                (fresh if task.id in added else joining).append(row)
        if changed:
            last = len(COLUMNS) - 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))
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
        if changed:
            last = len(COLUMNS) - 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))

    def position(self, task_id: str) -> int | None:
        seq = self._seq.get(task_id)
        return None if seq is None else seq - self._first_seq

    def _remove(self, positions: list[int]) -> None:
        """Rows that no longer match, removed bottom up, one contiguous run at a time."""
        runs: list[list[int]] = []
        for position in sorted(positions, reverse=True):
            if runs and runs[-1][0] == position + 1:
                runs[-1][0] = position
            else:
                runs.append([position, position])
        for first, last in runs:
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
            if at == len(self._rows) and self.canFetchMore():
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
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return display(row, key)
        if role == Qt.ItemDataRole.ForegroundRole and key == "state":
            return QColor(STATE_COLOURS.get(str(row.get("state")), "#111827"))
        if role == Qt.ItemDataRole.ToolTipRole and key in ("args", "kwargs", "result"):
            value = (
                row.get("exception") if key == "result" and row.get("exception") else row.get(key)
            )
            return None if value is None else str(value)[:2000]
        if role == Qt.ItemDataRole.UserRole:
            return row["id"]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][0]
        self.set_query(
            replace(
                self.query,
                order_by=SORT_KEYS.get(key, key),
                descending=order == Qt.SortOrder.DescendingOrder,
            )
        )

    def task_id(self, row: int) -> str | None:
        return self._rows[row]["id"] if 0 <= row < len(self._rows) else None
