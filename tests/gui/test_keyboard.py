"""The window driven by the keyboard alone: screens by number, search, refresh, the command
palette and the sheet of shortcuts, with key events as a person presses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QTableWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.services import Services
from desktop.ui.shell.command_palette import CommandPalette, fuzzy_score
from desktop.ui.shell.main_window import MainWindow
from tests.support import shut_down

REPO_ROOT = Path(__file__).resolve().parents[2]
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def window(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.chdir(REPO_ROOT)
    services = Services.open()
    session, shown = build_window(services)
    qtbot.addWidget(shown)
    shown.show()
    session.start()
    try:
        qtbot.waitUntil(lambda: session.state == "connected", timeout=10000)
        shown.activateWindow()
        qtbot.waitUntil(shown.isActiveWindow, timeout=5000)
        yield shown
    finally:
        shown.close()
        shut_down(qtbot, session)
        services.embedded.stop()


def _modal() -> QDialog:
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, QDialog), dialog
    return dialog


def test_screens_search_refresh_palette_and_sheet_by_keys(qtbot: QtBot, window: MainWindow) -> None:
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
    sheet.reject()


def test_the_palette_lists_the_windows_own_actions_fuzzily() -> None:
    assert fuzzy_score("rcn", "Reconnect") is not None
    assert fuzzy_score("xyz", "Reconnect") is None
    # Letters close together and near the start rank first.
    assert fuzzy_score("rec", "Reconnect") < fuzzy_score("rec", "Run every cycle")  # type: ignore[operator]
