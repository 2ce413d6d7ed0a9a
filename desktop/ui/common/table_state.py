"""Tables remember what the person made of them, and say which columns they can show.

Every table with an object name keeps its header (column widths, order, hidden columns and
sort) in the window's settings under `tables/<object name>`, saved on quit and restored on
start; a header saved by a version with other columns is ignored, not half applied. A table
with more columns than fit offers them in its header's context menu (right-click), with its
default set one click away.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QPoint, QSettings, Qt
from PySide6.QtWidgets import QMenu, QTableView, QWidget

SETTINGS_GROUP = "tables"


def _named_tables(root: QWidget) -> list[QTableView]:
    return [t for t in root.findChildren(QTableView) if t.objectName()]


def save_tables(root: QWidget, settings: QSettings) -> None:
    for table in _named_tables(root):
        header = table.horizontalHeader()
        settings.setValue(f"{SETTINGS_GROUP}/{table.objectName()}", header.saveState())
        settings.setValue(f"{SETTINGS_GROUP}/{table.objectName()}/columns", header.count())


def restore_tables(root: QWidget, settings: QSettings) -> None:
    for table in _named_tables(root):
        key = f"{SETTINGS_GROUP}/{table.objectName()}"
        state, columns = settings.value(key), settings.value(f"{key}/columns")
        header = table.horizontalHeader()
        if isinstance(state, QByteArray) and str(columns) == str(header.count()):
            header.restoreState(state)


CELL_PADDING = 14  # each side's margin and the grid line, as Qt's own sizeHintForColumn adds


def width_for(table: QTableView, column: int, sample: str) -> int:
    """Room for `sample` in the table's font, and never less than the column's title."""
    text = table.fontMetrics().horizontalAdvance(sample) + CELL_PADDING
    return max(text, table.horizontalHeader().sectionSizeHint(column))


def show_columns(table: QTableView, keys: Sequence[str], shown: Sequence[str]) -> None:
    """Show the columns whose key (in `keys`' order) is in `shown`, hide the others."""
    for index, key in enumerate(keys):
        table.setColumnHidden(index, key not in shown)


def offer_columns(
    table: QTableView, keys: Sequence[str], titles: Sequence[str], defaults: Sequence[str]
) -> None:
    """A right-click on the header lists every column to show or hide, and the defaults."""
    header = table.horizontalHeader()
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def menu_at(point: QPoint) -> None:
        menu = column_menu(table, keys, titles, defaults)
        menu.exec(header.mapToGlobal(point))

    header.customContextMenuRequested.connect(menu_at)


def column_menu(
    table: QTableView, keys: Sequence[str], titles: Sequence[str], defaults: Sequence[str]
) -> QMenu:
    menu = QMenu(table)
    for index, title in enumerate(titles):
        action = menu.addAction(title.rstrip(" *"))
        action.setCheckable(True)
        action.setChecked(not table.isColumnHidden(index))
        # The last column shown stays: a table with none cannot be given any back.
        action.toggled.connect(
            lambda on, column=index: table.setColumnHidden(
                column, not on and _shown_count(table) > 1
            )
        )
    menu.addSeparator()
    menu.addAction("Default columns", lambda: show_columns(table, keys, defaults))
    return menu


def _shown_count(table: QTableView) -> int:
    header = table.horizontalHeader()
    return sum(not header.isSectionHidden(i) for i in range(header.count()))
