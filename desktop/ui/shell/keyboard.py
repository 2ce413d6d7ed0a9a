"""The window's keyboard: what a desktop app's users reach for without looking.

Ctrl+1..9 open the screens in tab order, Ctrl+F goes to the shown screen's search box, F5
refreshes the shown screen, Ctrl+K opens the command palette (every action by name), F1 the
sheet of shortcuts. Each screen says what its search box and its refresh are (`ScreenKeys.add`);
a screen that has none just does nothing on that key. Every shortcut lives here, so the sheet
lists exactly what is bound.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.common.accessible import KEYBOARD_ONLY, explain, explain_labelled, no_tab_traps
from desktop.ui.shell.command_palette import (
    Command,
    CommandPalette,
    window_commands,
)


@dataclass
class _Keys:
    refresh: Callable[[], None] | None = None
    search: QWidget | None = None


@dataclass
class ScreenKeys:
    """The shortcuts of one window, bound to `window` (every screen shares them)."""

    window: QWidget
    tabs: QTabWidget
    _screens: dict[int, _Keys] = field(default_factory=dict)
    sheet: list[tuple[str, str]] = field(default_factory=list)  # (keys, what they do)

    def add(
        self,
        screen: QWidget,
        *,
        refresh: Callable[[], None] | None = None,
        search: QWidget | None = None,
    ) -> None:
        self._screens[id(screen)] = _Keys(refresh, search)

    def install(self) -> None:
        for number in range(1, min(self.tabs.count(), 9) + 1):
            self._bind(
                f"Ctrl+{number}",
                f"open screen {number} ({self._title(number - 1)})",
                functools.partial(self._open, number - 1),
            )
        self._bind("Ctrl+F", "search on the shown screen", self.search)
        self._bind("F5", "refresh the shown screen", self.refresh)
        self._bind("Ctrl+K", "command palette: every action by name", self.palette)
        self._bind("F1", "this sheet of shortcuts", self.show_sheet)
        no_tab_traps(self.window)

    def _title(self, index: int) -> str:
        return self.tabs.tabText(index) if index < self.tabs.count() else "none"

    def _bind(self, keys: str, what: str, handler: Callable[[], object]) -> None:
        action = QAction(what, self.window)
        action.setProperty(KEYBOARD_ONLY, True)  # not a command of its own in the palette
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: handler())
        self.window.addAction(action)
        self.sheet.append((keys, what))

    def _open(self, index: int) -> None:
        if index < self.tabs.count():
            self.tabs.setCurrentIndex(index)

    def _current(self) -> _Keys:
        return self._screens.get(id(self.tabs.currentWidget()), _Keys())

    def search(self) -> None:
        box = self._current().search
        if box is not None:
            box.setFocus(Qt.FocusReason.ShortcutFocusReason)
            select_all = getattr(box, "selectAll", None)
            if callable(select_all):
                select_all()

    def refresh(self) -> None:
        refresh = self._current().refresh
        if refresh is not None:
            refresh()

    def commands(self) -> list[Command]:
        """Every screen to go to and every enabled action of the window, by name."""
        found = [
            Command(
                f"Go to {self.tabs.tabText(i)}",
                "screen",
                functools.partial(self._open, i),
                self.tabs.tabIcon(i),
            )
            for i in range(self.tabs.count())
        ]
        return found + window_commands(self.window)

    def palette(self) -> CommandPalette:
        palette = CommandPalette(self.commands(), self.window)
        palette.open()
        return palette

    def _screen_of(self, action: QAction) -> str:
        """ "Builder: " for an action of the Builder screen (its keys work there only)."""
        owner = action.parent()
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if (
                page is not None
                and isinstance(owner, QWidget)
                and (owner is page or page.isAncestorOf(owner))
            ):
                return f"{self.tabs.tabText(index)}: "
        return ""

    def show_sheet(self) -> QDialog:
        dialog = QDialog(self.window)
        dialog.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(dialog)
        bound = self.sheet + [
            (action.shortcut().toString(), self._screen_of(action) + action.text().replace("&", ""))
            for action in self.window.findChildren(QAction)
            if not action.shortcut().isEmpty() and action.text()
            and (action.shortcut().toString(), action.text()) not in self.sheet
        ]  # fmt: skip
        table = QTableWidget(len(bound), 2)
        table.setHorizontalHeaderLabels(["Keys", "Does"])
        for row, (keys, what) in enumerate(bound):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(what))
        table.verticalHeader().setVisible(False)
        explain(table, "Every keyboard shortcut of the window and what it does", "Shortcuts")
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setTabKeyNavigation(False)  # Tab goes on to Close
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(table)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(dialog.reject)
        explain_labelled(close, {})
        layout.addWidget(close)
        dialog.resize(520, 420)
        dialog.open()
        return dialog
