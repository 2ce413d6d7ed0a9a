"""Ctrl+K: every action of the window by name, fuzzy matched as the person types.

The commands are the window's own QActions (tool bars and menus, enabled ones only) and a
"Go to" per screen, so nothing is listed that a click could not do; the match is the one
editors use: the typed letters in order, anywhere in the name, closer together and nearer the
start ranking higher. Enter runs the first (or the selected) command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.common.accessible import KEYBOARD_ONLY, explain


@dataclass(frozen=True)
class Command:
    name: str
    where: str  # the screen or bar it belongs to, shown beside it
    run: Callable[[], object]
    icon: QIcon | None = None  # the action's or the screen's, shown beside the name


def fuzzy_score(typed: str, name: str) -> int | None:
    """None when the typed letters are not all in `name` in order (case ignored); else lower
    is better: gaps between the letters, and how far in the first one is."""
    if not typed:
        return 0
    text, wanted = name.lower(), typed.lower().replace(" ", "")
    position, first, gaps = -1, None, 0
    for letter in wanted:
        found = text.find(letter, position + 1)
        if found < 0:
            return None
        if first is None:
            first = found
        elif found > position + 1:
            gaps += found - position - 1
        position = found
    return gaps * 2 + (first or 0)


def window_commands(window: QWidget) -> list[Command]:
    """Every enabled, named action under `window` (its tool bars, menus, screens)."""
    found: list[Command] = []
    seen: set[str] = set()
    for action in window.findChildren(QAction):
        name = action.text().replace("&", "").strip()
        if not name or not action.isEnabled() or action.isSeparator() or name in seen:
            continue
        if action.menu() is not None or action.property(KEYBOARD_ONLY):
            continue  # a sub-menu's title, or a shortcut of the keyboard's own
        parent = action.parent()
        where = parent.windowTitle() if isinstance(parent, QWidget) else ""
        if isinstance(parent, QToolBar) and action is parent.toggleViewAction():
            continue  # "show this tool bar", not a command
        seen.add(name)
        found.append(Command(name, where, action.trigger, action.icon()))
    return found


class CommandPalette(QDialog):
    def __init__(self, commands: list[Command], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Command palette")
        self.commands = commands
        self.resize(520, 380)
        layout = QVBoxLayout(self)
        self.typed = QLineEdit()
        self.typed.setPlaceholderText("Type a command: retry, purge, go to queues…")
        self.typed.setAccessibleName("Command")
        self.typed.textChanged.connect(self._filter)
        self.typed.installEventFilter(self)
        layout.addWidget(self.typed)
        self.listed = QListWidget()
        explain(self.listed, "The commands that match: Enter or a double click runs one",
                "Commands")  # fmt: skip
        self.listed.itemActivated.connect(self._run_item)
        layout.addWidget(self.listed)
        self._filter("")

    def matches(self, typed: str) -> list[Command]:
        scored = [(fuzzy_score(typed, c.name), i, c) for i, c in enumerate(self.commands)]
        return [c for score, _i, c in sorted((s for s in scored if s[0] is not None),
                                             key=lambda s: (s[0], s[1]))]  # fmt: skip

    def _filter(self, typed: str) -> None:
        self.listed.clear()
        for command in self.matches(typed):
            item = QListWidgetItem(
                f"{command.name}   ·  {command.where}" if command.where else command.name
            )
            item.setToolTip(command.where)
            if command.icon is not None and not command.icon.isNull():
                item.setIcon(command.icon)
            item.setData(Qt.ItemDataRole.UserRole, self.commands.index(command))
            self.listed.addItem(item)
        if self.listed.count():
            self.listed.setCurrentRow(0)

    def run_selected(self) -> bool:
        item = self.listed.currentItem()
        if item is None:
            return False
        self._run_item(item)
        return True

    def _run_item(self, item: QListWidgetItem) -> None:
        command = self.commands[int(item.data(Qt.ItemDataRole.UserRole))]
        self.accept()
        command.run()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Up and Down move in the list while typing; Enter runs the selected command."""
        if not (
            watched is self.typed
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
        ):
            return False
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            row = min(max(self.listed.currentRow() + step, 0), self.listed.count() - 1)
            self.listed.setCurrentRow(row)
            return True
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.run_selected()
            return True
        return False
