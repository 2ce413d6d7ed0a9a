"""The window driven by the keyboard alone: screens by number, search, refresh, the command
palette and the sheet of shortcuts, with key events as a person presses them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QTableWidget
from pytestqt.qtbot import QtBot

from desktop.ui.shell.command_palette import CommandPalette, fuzzy_score
from desktop.ui.shell.main_window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier


def _modal() -> QDialog:
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, QDialog), dialog
    return dialog


def test_screens_search_refresh_palette_and_sheet_by_keys(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    window = connected_window
    tabs = window.tabs
    qtbot.keyClick(window, Qt.Key(Qt.Key.Key_1 + tabs.indexOf(window.workers)), CTRL)
    assert tabs.currentWidget() is window.workers
    qtbot.keyClick(window, Qt.Key.Key_F, CTRL)  # the Workers screen: its worker log's search
    qtbot.waitUntil(window.workers.local.log.search.hasFocus, timeout=2000)

    tasks_at = tabs.indexOf(window.tasks)
    qtbot.keyClick(window, Qt.Key(Qt.Key.Key_1 + tasks_at), CTRL)
    assert tabs.currentWidget() is window.tasks

    qtbot.keyClick(window, Qt.Key.Key_F, CTRL)
    qtbot.waitUntil(window.tasks.search.hasFocus, timeout=2000)
    qtbot.keyClicks(window.tasks.search, "state:FAILURE")
    assert window.tasks.search.text() == "state:FAILURE"

    reloads: list[int] = []
    window.tasks.model.loaded.connect(lambda: reloads.append(1))
    window.tasks.search.clearFocus()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: bool(reloads), timeout=5000)

    qtbot.keyClick(window, Qt.Key.Key_K, CTRL)
    qtbot.waitUntil(
        lambda: isinstance(QApplication.activeModalWidget(), CommandPalette), timeout=3000
    )
    palette = _modal()
    assert isinstance(palette, CommandPalette)
    qtbot.keyClicks(palette.typed, "goqueu")
    assert palette.listed.currentItem().text().startswith("Go to Queues")
    qtbot.keyClick(palette.typed, Qt.Key.Key_Return)
    assert tabs.currentWidget() is window.queues and not palette.isVisible()

    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QDialog), timeout=3000)
    sheet = _modal()
    table = sheet.findChild(QTableWidget)
    assert table is not None
    keys = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert {"Ctrl+1", "Ctrl+F", "F5", "Ctrl+K", "F1", "Ctrl+Shift+R"} <= keys
    # The Builder's own (issue 17, item 5): panes, the task search's Enter, send, s()/si().
    assert {"F6", "Shift+F6", "Return", "Down", "Ctrl+Shift+N", "Ctrl+Return", "Ctrl+I"} <= keys
    does = {table.item(r, 1).text() for r in range(table.rowCount())}
    assert {"Builder: Wrap in group", "Builder: New canvas", "Reconnect"} <= does  # by screen
    sheet.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=3000)
    qtbot.keyClick(table, Qt.Key.Key_Tab)  # out of the table (no trap), on to Close
    focused = QApplication.focusWidget()
    assert isinstance(focused, QPushButton) and focused.text() == "Close", focused
    sheet.reject()


def test_the_palette_lists_the_windows_own_actions_fuzzily() -> None:
    assert fuzzy_score("rcn", "Reconnect") is not None
    assert fuzzy_score("xyz", "Reconnect") is None
    # Letters close together and near the start rank first.
    assert fuzzy_score("rec", "Reconnect") < fuzzy_score("rec", "Run every cycle")  # type: ignore[operator]
