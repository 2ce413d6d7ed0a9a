"""A table model from a column spec: the rows a screen shows, and per column how a row shows.

Why: every screen's table repeated rowCount, columnCount and headerData over its own row list,
and the Queues screen filled QTableWidgets item by item. Here a screen says only what its
columns show (the text, a tooltip, a colour); counting, headers and the roles Qt asks for are
written once.

`set_rows` replaces the rows in place, as a QTableWidget's setRowCount and setItem did: extra
rows are added or removed at the end, so a selection survives a refresh that leaves the rows
where they were (a model reset would clear it every poll); of the rows kept only those that
differ from before are repainted. A poll that changes nothing costs the view nothing: each
changed row makes a table sized to its contents measure its rows again, and the Queues screen
measuring 200 unchanged rows every poll stalled the window about 100 ms. A column whose text
depends on something other than its row (the clock) is repainted by calling `repaint`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

Index = QModelIndex | QPersistentModelIndex
SIZED_BY_VISIBLE_ROWS = 0  # QHeaderView.resizeContentsPrecision: 0 = the visible area only
R = TypeVar("R")


def contiguous_runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Positions as (first, last) runs of consecutive rows, in order: one signal per run, not
    one over the whole span between the first and the last (which repaints and, in a table
    sized to its contents, measures every row between)."""
    runs: list[tuple[int, int]] = []
    for position in sorted(set(positions)):
        if runs and runs[-1][1] == position - 1:
            runs[-1] = (runs[-1][0], position)
        else:
            runs.append((position, position))
    return runs


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
        """Show `rows`: those at a kept position repainted where they differ, the rest added
        or removed at the end (see the module's docstring: a selection stays where it was)."""
        before, after = len(self._rows), len(rows)
        if after < before:
            self.beginRemoveRows(QModelIndex(), after, before - 1)
            del self._rows[after:]
            self.endRemoveRows()
        elif after > before:
            self.beginInsertRows(QModelIndex(), before, after - 1)
            self._rows.extend(rows[before:])
            self.endInsertRows()
        changed = [p for p in range(min(before, after)) if self._rows[p] != rows[p]]
        for position in changed:
            self._rows[position] = rows[position]
        for first, last in contiguous_runs(changed):
            self.repaint(first, last)

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
    # Sized to the rows on show, not to every row held: measuring each cell of a few hundred
    # rows (Qt's default looks at 1,000) took the GUI thread ~100 ms on every change.
    view.horizontalHeader().setResizeContentsPrecision(SIZED_BY_VISIBLE_ROWS)
    view.horizontalHeader().setStretchLastSection(True)
    view.setAlternatingRowColors(True)
    # One line a row: a cut cell ends in … (its tooltip has it whole); wrapped at a hyphen,
    # ids made rows of two heights.
    view.setWordWrap(False)
    view.setTabKeyNavigation(False)  # Tab leaves the table (no trap); the arrows move in it
    _SizedToRows(view)


class _SizedToRows(QObject):
    """Qt's ResizeToContents measured nothing for rows added to a table already shown (and a
    table filled while its screen was hidden measured none): every column stayed as narrow
    as its title, "w…" for each task name. So the columns are measured again, once per turn of
    the event loop, when rows come or go, when the table is shown and when it is resized; only
    the rows on show are measured (SIZED_BY_VISIBLE_ROWS), so a big table costs no more than
    a small one.

    A table whose columns together are wider than it gets no horizontal scroll bar: the widest
    columns are cut to one width (the header's maximum section size), as much as it takes and
    never below the widest title, so no title is cut; a cut cell ends in … and its tooltip
    has it whole (issue 17: no horizontal scroll bar at 1280x800)."""

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self.view = view
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(0)
        self.soon.timeout.connect(self._measure)
        model = view.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self.soon.start)
        view.installEventFilter(self)
        self.viewport = view.viewport()
        self.viewport.installEventFilter(self)
        self._width = -1  # the viewport's width the columns were last fitted to

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # On show: after the show is laid out (at the event no row is on show); on a resize
        # that changed the width the columns were fitted to.
        resized = watched is self.viewport and event.type() == QEvent.Type.Resize
        if event.type() == QEvent.Type.Show or (resized and self.viewport.width() != self._width):
            self.soon.start()
        return False

    def _measure(self) -> None:
        """Only the columns sized by their contents: a width a screen or person chose stays."""
        header = self.view.horizontalHeader()
        header.setMaximumSectionSize(UNCAPPED)
        auto = [
            c
            for c in range(header.count())
            if header.sectionResizeMode(c) == QHeaderView.ResizeMode.ResizeToContents
        ]
        for column in auto:
            self.view.resizeColumnToContents(column)
        self._width = room = self.view.viewport().width()
        shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
        if not auto or not shown or room <= 0:
            return
        last = shown[-1] if header.stretchLastSection() else None
        natural = {
            c: max(self.view.sizeHintForColumn(c), header.sectionSizeHint(c))
            if c in auto or c == last
            else header.sectionSize(c)
            for c in shown
        }
        if sum(natural.values()) <= room:
            return
        floor = max(header.sectionSizeHint(c) for c in shown)  # no title is ever cut
        cap = max(floor, widest_fitting(list(natural.values()), room))
        header.setMaximumSectionSize(cap)
        if last is not None and header.sectionSize(last) > cap:
            # The stretched last column kept the width it was measured at: it gets what is left.
            left = room - sum(header.sectionSize(c) for c in shown if c != last)
            header.resizeSection(last, min(cap, max(left, floor)))


UNCAPPED = 1048575  # QHeaderView's default maximum section size


def widest_fitting(widths: list[int], room: int) -> int:
    """The largest cap such that the widths, each cut to it, sum to at most `room`."""
    low, high = 0, max(widths)
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(w, middle) for w in widths) <= room:
            low = middle
        else:
            high = middle - 1
    return low


class _EnterActivates(QObject):
    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self.view = view

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return False
        index = self.view.currentIndex()
        if index.isValid():
            self.view.activated.emit(index)
        return True


def enter_activates_only(view: QAbstractItemView) -> None:
    """Enter on a view in a dialog opens its current line (`activated`) and nothing more. A
    view acts on Enter and then lets the key on to its dialog, whose QDialog presses a default
    button found among all its descendants: Save or Close, or the OK of the form the line
    just opened, which then closed at once."""
    view.installEventFilter(_EnterActivates(view))
