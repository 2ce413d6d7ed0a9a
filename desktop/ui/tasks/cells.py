"""What the tasks table paints: each loaded row's cells as Qt's own items, in step with the
TasksModel (the same rows in the same order) by following its signals.

Why: a view asks its model seven roles per cell on every paint. Through a Python `data()`
that is some 1,200 calls for the 17 rows on show, and one repaint of the table took 17-20 ms
on a 2-core machine, more than a frame, however fast the journal reads were; from Qt's item
model it takes 8 ms (bench/gui_journal.py). So the cells are made once, when rows arrive,
and a page's cells are made off the GUI thread with the page (`TasksModel.make_cells`).

TasksModel keeps every rule (filters, pages, live diffs, sorting, what a cell says, its
tooltip); this model only holds what it shows. Sorting, paging and tooltips go back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QHelpEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QTableView, QToolTip

from desktop.core.base.task_record import TaskRecord
from desktop.ui.common.jobs import Jobs
from desktop.ui.tasks.model import (
    COLUMNS,
    PAGE_SORT_MARK,
    PAGE_SORT_TIP,
    PAGE_SORTED,
    STATE_COLOURS,
    TasksModel,
    display,
)

Index = QModelIndex | QPersistentModelIndex
ID_ROLE = Qt.ItemDataRole.UserRole  # on a row's first cell: its task id
STATE_COLUMN = next(i for i, (key, _title) in enumerate(COLUMNS) if key == "state")
_STATE_BRUSHES = {state: QBrush(QColor(colour)) for state, colour in STATE_COLOURS.items()}
_OTHER_STATE_BRUSH = QBrush(QColor("#111827"))


def make_cells(row: TaskRecord) -> list[QStandardItem]:
    """A row's cells, as the table shows them. Safe off the GUI thread: an item belongs to no
    thread until it joins a model."""
    cells = [QStandardItem(display(row, key)) for key, _title in COLUMNS]
    cells[0].setData(row["id"], ID_ROLE)
    cells[STATE_COLUMN].setForeground(_state_brush(row))
    return cells


def _state_brush(row: TaskRecord) -> QBrush:
    return _STATE_BRUSHES.get(str(row.get("state")), _OTHER_STATE_BRUSH)


class TaskCells(QStandardItemModel):
    """The table's model: the TasksModel's rows as items (see the module's docstring)."""

    def __init__(self, source: TasksModel) -> None:
        super().__init__(0, len(COLUMNS), source)
        self.source = source
        for column, (key, title) in enumerate(COLUMNS):
            header = QStandardItem(title + PAGE_SORT_MARK if key in PAGE_SORTED else title)
            if key in PAGE_SORTED:
                header.setToolTip(PAGE_SORT_TIP)
            self.setHorizontalHeaderItem(column, header)
        source.make_cells = make_cells
        # Each task's record as its row shows it, by identity: the source puts a new record in
        # place of a changed one, so a change signal over a span updates only those rows.
        self._shown: dict[str, TaskRecord] = {}
        # Connected before any screen connects to the source: a slot of the screen that
        # reads this model (selecting a row again after a reload) finds it up to date.
        source.modelReset.connect(self._refill)
        source.rowsInserted.connect(self._inserted)
        source.rowsRemoved.connect(self._removed)
        source.dataChanged.connect(self._changed)
        self._refill()

    def _record(self, position: int) -> TaskRecord:
        row = self.source.row_at(position)
        assert row is not None, "the source holds the row it just said it has"
        self._shown[row["id"]] = row
        return row

    def _refill(self) -> None:
        """A reset, as the source's was: the view forgets its selection silently (removing
        the rows one signal at a time would say the current row went away, and the screen
        would drop the task it is about to select again). Row signals are held inside it.

        A row whose record is unchanged keeps its cells (a sort of the loaded rows moves
        them all); the page's new cells were made off the GUI thread; the old rows left over
        are deleted on the job pool (see `Jobs.release`)."""
        old: dict[str, list[QStandardItem]] = {}
        self.beginResetModel()
        self.blockSignals(True)
        try:
            for position in reversed(range(self.rowCount())):
                cells = self.takeRow(position)
                old[cells[0].data(ID_ROLE)] = cells
            shown, self._shown = self._shown, {}
            for position in range(self.source.rowCount()):
                row = self._record(position)
                made = self.source.take_cells(row["id"])
                if made is None and shown.get(row["id"]) is row:
                    made = old.pop(row["id"], None)
                self.appendRow(made or make_cells(row))
        finally:
            self.blockSignals(False)
            self.endResetModel()
            Jobs.release(list(old.values()))

    def _inserted(self, parent: Index, first: int, last: int) -> None:
        for position in range(first, last + 1):
            row = self._record(position)
            self.insertRow(position, self.source.take_cells(row["id"]) or make_cells(row))

    def _removed(self, parent: Index, first: int, last: int) -> None:
        for position in range(first, last + 1):
            self._shown.pop(self.item(position, 0).data(ID_ROLE), None)
        self.removeRows(first, last - first + 1)

    def _changed(self, top_left: Index, bottom_right: Index, _roles: Sequence[int] = ()) -> None:
        for position in range(top_left.row(), bottom_right.row() + 1):
            row = self.source.row_at(position)
            if row is None or self._shown.get(row["id"]) is row:
                continue
            self._shown[row["id"]] = row
            for column, cell in enumerate(make_cells(row)):
                mine = self.item(position, column)
                if mine.text() != cell.text():
                    mine.setText(cell.text())
            state = self.item(position, STATE_COLUMN)
            brush = _state_brush(row)
            if state.foreground() != brush:
                state.setForeground(brush)

    # -- what the view asks of its model, answered by the source -------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.source.sort(column, order)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return self.source.canFetchMore(parent)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        self.source.fetchMore(parent)


class CellTips(QObject):
    """A cell's tooltip asked of the TasksModel when the pointer rests on it, not stored in
    every item (a long argument list is up to 2,000 characters)."""

    def __init__(self, view: QTableView, source: TasksModel) -> None:
        super().__init__(view)
        self.view, self.source = view, source
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ToolTip or not isinstance(event, QHelpEvent):
            return False
        at = self.view.indexAt(event.pos())
        tip: Any = None
        if at.isValid():
            tip = self.source.data(
                self.source.index(at.row(), at.column()), Qt.ItemDataRole.ToolTipRole
            )
        if tip:
            QToolTip.showText(event.globalPos(), str(tip), self.view.viewport())
        else:
            QToolTip.hideText()
        return True
