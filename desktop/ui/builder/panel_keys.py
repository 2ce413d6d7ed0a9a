"""The Builder without a mouse: F6 and Shift+F6 go round its panes (task search, task list,
canvas, node editor), Enter in the task search puts the first task found on the canvas and
Down goes from the search into the list. Each is a QAction with its shortcut, so the window's
sheet of shortcuts (F1) lists it; none is a command of the palette (Ctrl+K), since each acts on
where the focus is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit, QTreeView, QWidget

from desktop.ui.builder.canvas_view import CanvasView
from desktop.ui.builder.node_editor import NodeEditor
from desktop.ui.builder.palette import NameRole
from desktop.ui.common.accessible import KEYBOARD_ONLY


def first_task(proxy: QSortFilterProxyModel, parent: Any = None) -> QModelIndex:
    """The first entry the palette shows that puts a node on the canvas (depth first)."""
    parent = parent if parent is not None else QModelIndex()
    for row in range(proxy.rowCount(parent)):
        index = proxy.index(row, 0, parent)
        if index.data(NameRole):
            return index
        found = first_task(proxy, index)
        if found.isValid():
            return found
    return QModelIndex()


class PanelKeys(QWidget):
    """The Builder's own keys; BuilderPanel calls `install_keys` once its panes exist."""

    # set by BuilderPanel.__init__
    search: QLineEdit
    tree: QTreeView
    proxy: QSortFilterProxyModel
    view: CanvasView
    editor: NodeEditor
    add_from_palette: Callable[[Any], None]
    _rebuild_editor: QTimer  # the editor shows the selected node on its next tick
    _show_selected: Callable[[Any], None]

    def install_keys(self) -> None:
        self.key_actions = {
            "next_pane": self._key(self, "Next pane (task search, task list, canvas, node "
                                   "editor)", ["F6"], lambda: self.focus_pane(1)),
            "previous_pane": self._key(self, "Previous pane", ["Shift+F6"],
                                       lambda: self.focus_pane(-1)),
            "add_first": self._key(self.search, "In the task search: put the first task found on "
                                   "the canvas", ["Return", "Enter"], self.add_first_found),
            "to_list": self._key(self.search, "In the task search: go down into the task list",
                                 ["Down"], self.focus_first_found),
        }  # fmt: skip

    @staticmethod
    def _key(on: QWidget, what: str, keys: list[str], slot: Callable[[], None]) -> QAction:
        action = QAction(what, on)
        action.setProperty(KEYBOARD_ONLY, True)
        action.setShortcuts([QKeySequence(k) for k in keys])
        context = Qt.ShortcutContext  # the search box's keys only while it has the focus
        own = isinstance(on, QLineEdit)
        action.setShortcutContext(
            context.WidgetShortcut if own else context.WidgetWithChildrenShortcut
        )
        action.triggered.connect(lambda _checked=False: slot())
        on.addAction(action)
        return action

    def panes(self) -> list[QWidget]:
        return [self.search, self.tree, self.view, self.editor]

    def focus_pane(self, step: int) -> None:
        """The next (or previous) pane after the one holding the focus; the editor's first
        field when it is the editor's turn (or the canvas again when nothing is selected)."""
        panes = self.panes()
        focused = QApplication.focusWidget()
        at = next(
            (i for i, pane in enumerate(panes) if focused is not None
             and (focused is pane or pane.isAncestorOf(focused))),
            -1 if step > 0 else 0,
        )  # fmt: skip
        for offset in range(1, len(panes) + 1):
            pane = panes[(at + step * offset) % len(panes)]
            if pane is self.editor:
                if self._rebuild_editor.isActive():  # F6 right after Enter: the new node's
                    self._rebuild_editor.stop()
                    self._show_selected(self.view.selected)
                if self.editor.focus_first_field():
                    return
                continue
            if pane is self.tree and not self.tree.currentIndex().isValid():
                self.tree.setCurrentIndex(first_task(self.proxy))
            pane.setFocus(Qt.FocusReason.TabFocusReason)
            return

    def add_first_found(self) -> None:
        index = first_task(self.proxy)
        if index.isValid():
            self.tree.setCurrentIndex(index)
            self.add_from_palette(index)

    def focus_first_found(self) -> None:
        index = first_task(self.proxy)
        if index.isValid():
            self.tree.setCurrentIndex(index)
        self.tree.setFocus(Qt.FocusReason.TabFocusReason)
