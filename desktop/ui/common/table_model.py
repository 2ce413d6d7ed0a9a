"""A table model from a column spec: the rows a screen shows, and per column how a row shows.

Why: every screen's table repeated rowCount, columnCount and headerData over its own row list,
and the Queues screen filled QTableWidgets item by item. Here a screen says only what its
columns show (the text, a tooltip, a colour); counting, headers and the roles Qt asks for are
written once.

`set_rows` replaces the rows in place, as a QTableWidget's setRowCount and setItem did: rows
kept are repainted, extra ones added or removed at the end, so a selection survives a refresh
that leaves the rows where they were (a model reset would clear it every poll).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

Index = QModelIndex | QPersistentModelIndex
R = TypeVar("R")


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its title and how a row shows in it.

    `text` gives the value shown (None shows as nothing); `tip` the tooltip (none by default,
    or the text itself in a model made with `text_tips`, so a cut-off cell can still be read);
    `colour` a foreground colour name, "" for the theme's own."""

    title: str
    text: Callable[[R], Any]
    tip: Callable[[R], Any] | None = None
    colour: Callable[[R], str] | None = None


class TableModel(QAbstractTableModel, Generic[R]):
    """Rows of one type under a column spec; a subclass adds how its rows change."""

    def __init__(
        self,
        columns: Sequence[Column[R]],
        parent: QObject | None = None,
        *,
        text_tips: bool = False,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.text_tips = text_tips
        self._rows: list[R] = []

    def rows(self) -> list[R]:
        return list(self._rows)

    def row(self, position: int) -> R | None:
        return self._rows[position] if 0 <= position < len(self._rows) else None

    def set_rows(self, rows: Sequence[R]) -> None:
        """Show `rows`: those at a kept position repainted, the rest added or removed at the
        end (see the module's docstring: a selection stays where it was)."""
        before, after = len(self._rows), len(rows)
        if after < before:
            self.beginRemoveRows(QModelIndex(), after, before - 1)
            del self._rows[after:]
            self.endRemoveRows()
        elif after > before:
            self.beginInsertRows(QModelIndex(), before, after - 1)
            self._rows.extend(rows[before:])
            self.endInsertRows()
        self._rows[: min(before, after)] = rows[: min(before, after)]
        self.repaint(0, min(before, after) - 1)

    def repaint(self, first: int = 0, last: int | None = None) -> None:
        """The rows first..last (default: all) changed in place: the view asks them again."""
        last = len(self._rows) - 1 if last is None else last
        if 0 <= first <= last:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.columns) - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row, column = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _shown(column.text(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = _shown(column.tip(row)) if column.tip is not None else ""
            if not tip and self.text_tips:
                tip = _shown(column.text(row))
            return tip or None
        if role == Qt.ItemDataRole.ForegroundRole and column.colour is not None:
            colour = column.colour(row)
            return QColor(colour) if colour else None
        return None


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def read_only_view(model: QAbstractTableModel) -> QTableView:
    """A table view that selects whole rows and is never edited, sized to its contents."""
    view = QTableView()
    view.setModel(model)
    make_read_only(view)
    return view


def make_read_only(view: QTableView) -> None:
    """The look every read-only table shares (panel_parts.read_only_table uses it too)."""
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    view.setAlternatingRowColors(True)
