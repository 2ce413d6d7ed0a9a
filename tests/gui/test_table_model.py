"""The shared table model: a column spec gives headers, text, tooltips and colours, and new rows
replace the old in place, so a selection survives a refresh that keeps its row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from desktop.ui.common.table_model import Column, TableModel, read_only_view

COLUMNS: list[Column[tuple[str, int | None]]] = [
    Column("Name", lambda row: row[0], colour=lambda row: "#c8393b" if row[1] is None else ""),
    Column("Count", lambda row: row[1], tip=lambda row: "unknown" if row[1] is None else ""),
]


def _shown(model: TableModel[tuple[str, int | None]], role: Qt.ItemDataRole) -> list[list[object]]:
    return [
        [model.index(r, c).data(role) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def test_the_column_spec_says_what_each_cell_shows(qtbot: QtBot) -> None:
    model = TableModel(COLUMNS, text_tips=True)
    model.set_rows([("a", 1), ("b", None)])
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(2)]
    assert headers == ["Name", "Count"]
    assert _shown(model, Qt.ItemDataRole.DisplayRole) == [["a", "1"], ["b", ""]]
    assert _shown(model, Qt.ItemDataRole.ToolTipRole) == [["a", "1"], ["b", "unknown"]]
    colours = _shown(model, Qt.ItemDataRole.ForegroundRole)
    assert colours[0] == [None, None] and colours[1][0] == QColor("#c8393b")
    plain = TableModel(COLUMNS)
    plain.set_rows([("a", 1)])
    assert _shown(plain, Qt.ItemDataRole.ToolTipRole) == [[None, None]]


def test_new_rows_replace_the_old_in_place_and_the_selection_stays(qtbot: QtBot) -> None:
    model = TableModel(COLUMNS)
    view = read_only_view(model)
    qtbot.addWidget(view)
    model.set_rows([("a", 1), ("b", 2), ("c", 3)])
    view.selectRow(1)
    model.set_rows([("a", 1), ("b", 5), ("c", 3), ("d", 4)])
    assert [i.row() for i in view.selectionModel().selectedRows()] == [1]
    assert _shown(model, Qt.ItemDataRole.DisplayRole)[1:] == [["b", "5"], ["c", "3"], ["d", "4"]]
    model.set_rows([("a", 0)])
    assert model.rowCount() == 1 and model.row(0) == ("a", 0) and model.row(1) is None
    assert view.selectionModel().selectedRows() == []
    model.set_rows([])
    assert model.rows() == []


def test_rows_added_to_a_table_on_show_widen_its_columns_to_them(qtbot: QtBot) -> None:
    """Qt's ResizeToContents left every column as narrow as its title for rows added after
    the table was shown ("w…" for each task name on the Queues screen)."""
    columns: list[Column[tuple[str, str]]] = [
        Column("Task", lambda row: row[0]),
        Column("Id", lambda row: row[1]),
        Column("Retries", lambda row: ""),
    ]
    model: TableModel[tuple[str, str]] = TableModel(columns)
    view = read_only_view(model)
    qtbot.addWidget(view)
    view.resize(540, 300)
    view.show()
    qtbot.waitExposed(view)
    model.set_rows([("workers.tasks.sleep", "0a1b2c3d-4e5f-6789-abcd-ef0123456789")] * 3)
    header = view.horizontalHeader()
    qtbot.waitUntil(lambda: header.sectionSize(0) >= view.sizeHintForColumn(0), timeout=2000)
    assert header.sectionSize(0) > header.sectionSizeFromContents(0).width()  # not the title's


def test_columns_wider_than_the_table_are_cut_not_scrolled_and_no_title_is_cut(
    qtbot: QtBot,
) -> None:
    """Issue 17: no horizontal scroll bar at 1280x800. The widest columns are cut to one
    width, never below a title; short columns keep their whole text; widened again, the
    table gives the columns their whole text back."""
    columns: list[Column[tuple[str, str, str]]] = [
        Column("Started", lambda row: row[0]),
        Column("Exception", lambda row: row[1]),
        Column("Arguments", lambda row: row[2]),
    ]
    model: TableModel[tuple[str, str, str]] = TableModel(columns, text_tips=True)
    view = read_only_view(model)
    qtbot.addWidget(view)
    view.resize(420, 200)
    view.show()
    qtbot.waitExposed(view)
    model.set_rows(
        [("07:42:05", "ValueError('bad input " + "x" * 80 + "')", "[" + "1, " * 60 + "]")]
    )
    header, bar = view.horizontalHeader(), view.horizontalScrollBar()

    def fitted() -> bool:
        total = sum(header.sectionSize(c) for c in range(3))
        measured = header.sectionSize(1) > header.sectionSizeHint(1)  # the rows, not the titles
        return measured and total <= view.viewport().width() and not bar.isVisible()

    qtbot.waitUntil(fitted, timeout=2000)
    for column in range(3):
        assert header.sectionSize(column) >= header.sectionSizeHint(column)  # whole titles
    assert header.sectionSize(0) >= view.sizeHintForColumn(0)  # the time whole, not "07:4…"
    view.resize(3000, 200)  # room for everything: nothing cut
    qtbot.waitUntil(lambda: header.sectionSize(1) >= view.sizeHintForColumn(1), timeout=2000)
