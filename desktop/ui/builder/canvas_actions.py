"""What a person does on the builder's canvas: drag and drop, the keys, the context menu's
actions, each one an undoable edit of the model."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import QScrollArea

from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.model import TaskNode
from desktop.ui.builder.canvas_layout import MARGIN, CanvasLayout
from desktop.ui.builder.canvas_model import NODE_MIME, label

READABLE_ZOOM = 0.65


class CanvasActions(CanvasLayout):
    """Turns drops, keys and the context menu into the model's undoable edits."""

    message = Signal(str)  # a refused edit, a hint
    replace_requested = Signal(object)  # Position of a task: choose another task for it

    # set by CanvasView.__init__
    scroller: QScrollArea | None
    _drop_line: QRectF | None

    def drop(self, data: QMimeData, point: QPointF, action: Qt.DropAction) -> bool:
        parent, index, _line = self.drop_place(point)
        return self.drop_at(data, parent, index, action)

    def drop_at(
        self, data: QMimeData, parent: Position | None, index: int, action: Qt.DropAction
    ) -> bool:
        """The one way a node lands on the canvas (drop, paste, Enter in the palette): the
        model does the edit, and the node is selected where it ended up."""
        target = QModelIndex() if parent is None else self.model.index_of(parent)
        if not self.model.dropMimeData(data, action, index, 0, target):
            return False
        if self.model.placed is not None:
            self.select(self.model.placed)
        return True

    # -- drag and drop --------------------------------------------------------------------------
    def _accepts(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> bool:
        return event.mimeData().hasFormat(NODE_MIME)

    def _action(self, event: QDragMoveEvent | QDropEvent) -> Qt.DropAction:
        copying = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if event.source() is self and not copying:
            return Qt.DropAction.MoveAction
        return Qt.DropAction.CopyAction

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.setDropAction(self._action(event))
            event.accept()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if not self._accepts(event):
            return
        event.setDropAction(self._action(event))
        event.accept()
        self._drop_line = self.drop_place(self.to_canvas(event.position()))[2]
        self.update()

    def dragLeaveEvent(self, event: Any) -> None:
        self._drop_line = None
        self.update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._drop_line = None
        if not self._accepts(event):
            return
        action = self._action(event)
        if self.drop(event.mimeData(), self.to_canvas(event.position()), action):
            # Accepting as a copy stops a view that started the drag from deleting anything:
            # the model has already moved the node.
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        self.update()

    # -- keys -------------------------------------------------------------------------------------
    def _make_actions(self) -> dict[str, QAction]:
        table: list[tuple[str, str, list[Any], Any]] = [
            ("delete", "Delete", ["Del", "Backspace"], self.delete),
            ("duplicate", "Duplicate", ["Ctrl+D"], self.duplicate),
            ("cut", "Cut", [QKeySequence.StandardKey.Cut], self.cut),
            ("copy", "Copy", [QKeySequence.StandardKey.Copy], self.copy),
            ("paste", "Paste", [QKeySequence.StandardKey.Paste], self.paste),
            ("chain", "Wrap in chain", ["Ctrl+L"], lambda: self.wrap("chain")),
            ("group", "Wrap in group", ["Ctrl+G"], lambda: self.wrap("group")),
            ("unwrap", "Unwrap", ["Ctrl+Shift+G"], self.unwrap),
            ("earlier", "Move earlier", ["Ctrl+Left", "Ctrl+Up"], lambda: self.shift(-1)),
            ("later", "Move later", ["Ctrl+Right", "Ctrl+Down"], lambda: self.shift(1)),
            ("out", "Move out of its container", ["Ctrl+Shift+Left"], self.move_out),
            # Not the method itself: triggered(bool) would hand it False as the position.
            ("immutable", "Switch s() / si()", ["Ctrl+I"], lambda: self.toggle_immutable()),
            ("replace", "Replace task…", ["F2"], self.request_replace),
            ("zoom_in", "Zoom in", ["Ctrl++", "Ctrl+="], lambda: self.set_zoom(self.zoom * 1.25)),
            ("zoom_out", "Zoom out", ["Ctrl+-"], lambda: self.set_zoom(self.zoom / 1.25)),
            ("zoom_reset", "Actual size", ["Ctrl+0"], lambda: self.set_zoom(1.0)),
            ("zoom_fit", "Fit the canvas in view", ["Ctrl+9"], self.zoom_to_fit),
        ]
        actions = {}
        for name, text, keys, slot in table:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            actions[name] = action
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        return actions

    def keyPressEvent(self, event: QKeyEvent) -> None:
        order = canvas_edit.positions(self.model.root)
        if not order:
            return super().keyPressEvent(event)
        current = self.selected
        key = event.key()
        if current is None and key in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
            Qt.Key.Key_Up,
            Qt.Key.Key_Down,
        ):
            self.select(order[0])
            return
        if current is None:
            return super().keyPressEvent(event)
        at = order.index(current) if current in order else 0
        if key == Qt.Key.Key_Right:
            self.select(order[min(at + 1, len(order) - 1)])
        elif key == Qt.Key.Key_Left:
            self.select(order[max(at - 1, 0)])
        elif key == Qt.Key.Key_Up and current:
            self.select(current[:-1])
        elif key == Qt.Key.Key_Down and canvas_edit.children(self.model.node(current)):
            self.select((*current, 0))
        elif key == Qt.Key.Key_Escape:
            self.select(None)
        else:
            return super().keyPressEvent(event)
        self._scroll_to_selected()

    def _scroll_to_selected(self) -> None:
        rect = self.rect_of(self.selected) if self.selected is not None else None
        if rect is not None and self.scroller is not None:
            centre = rect.center() * self.zoom
            self.scroller.ensureVisible(int(centre.x()), int(centre.y()), 120, 60)

    def zoom_to_fit(self) -> None:
        """The whole canvas in view, or, when that would be too small to read, its width."""
        if self.box is None or self.scroller is None:
            return
        room = self.scroller.viewport().size()
        wide = (self.box.rect.width() + 2 * MARGIN) or 1
        tall = (self.box.rect.height() + 2 * MARGIN) or 1
        whole = min(room.width() / wide, room.height() / tall, 1.0)
        if whole < READABLE_ZOOM:  # too small to read: fit the width, scroll down
            whole = max(min(room.width() / wide, 1.0), READABLE_ZOOM)
        self.set_zoom(whole)

    # -- edits ------------------------------------------------------------------------------------
    def _edit(self, text: str, change: Any, select: Position | None = None) -> bool:
        if self.model.try_edit(text, change):
            if select is not None:
                self.select(select)
            return True
        return False

    def delete(self) -> None:
        if self.selected is None:
            return
        at = self.selected
        name = label(self.model.node(at))
        if self._edit(f"delete {name}", lambda: canvas_edit.remove(self.model.root, at)):
            self.select(at[:-1] if at else None)

    def duplicate(self) -> None:
        if self.selected is None:
            return
        at = self.selected
        try:
            root, copy_at = canvas_edit.duplicate(self.model.root, at)
        except EditError as exc:
            self.message.emit(str(exc))
            return
        self._edit(f"duplicate {label(self.model.node(at))}", lambda: root, copy_at)

    def copy(self) -> None:
        if self.selected is not None:
            data = self.model.mimeData([self.model.index_of(self.selected)])
            QGuiApplication.clipboard().setMimeData(data)

    def cut(self) -> None:
        self.copy()
        self.delete()

    def paste(self) -> None:
        data = QGuiApplication.clipboard().mimeData()
        if data is None or not data.hasFormat(NODE_MIME):
            self.message.emit("nothing to paste: copy or cut a node first")
            return
        copied = QMimeData()
        copied.setData(NODE_MIME, data.data(NODE_MIME))  # a paste is a copy, never a move
        parent, index = self.paste_place()
        self.drop_at(copied, parent, index, Qt.DropAction.CopyAction)

    def paste_place(self) -> tuple[Position | None, int]:
        """Into a selected container at its end, after a selected task, else onto the canvas."""
        at = self.selected
        if at is None or self.model.root is None:
            return None, self.model._end_of(None)
        node = self.model.node(at)
        if canvas_edit.is_container(node):
            return at, len(canvas_edit.children(node))
        if not at:
            return None, 1
        return at[:-1], at[-1] + 1

    def wrap(self, kind: str) -> None:
        if self.selected is not None:
            at = self.selected
            self._edit(f"wrap in {kind}", lambda: canvas_edit.wrap(self.model.root, at, kind), at)

    def unwrap(self) -> None:
        if self.selected is not None:
            at = self.selected
            self._edit("unwrap", lambda: canvas_edit.unwrap(self.model.root, at), at or None)

    def shift(self, step: int) -> None:
        at = self.selected
        if not at:
            return
        parent, index = at[:-1], at[-1]
        count = len(canvas_edit.children(self.model.node(parent)))
        to = index + step
        if not 0 <= to < count:
            return
        # move() places before `index` counting the node itself, so a step right skips one more
        place = to + 1 if step > 0 else to
        if self._edit("move", lambda: canvas_edit.move(self.model.root, at, parent, place)):
            self.select(self.model.placed)

    def move_out(self) -> None:
        """Out of its container, right after it: the keyboard's drag out of a frame."""
        at = self.selected
        if not at or len(at) < 1:
            return
        container = at[:-1]
        if not container:
            self.message.emit("the node is already on the canvas itself")
            return
        grand, spot = container[:-1], container[-1]
        if self._edit("move out", lambda: canvas_edit.move(self.model.root, at, grand, spot + 1)):
            self.select(self.model.placed)

    def toggle_immutable(self, position: Position | None = None) -> None:
        at = self.selected if position is None else position
        if at is None:
            return
        node = self.model.node(at)
        if not isinstance(node, TaskNode):
            self.message.emit("s() and si() are set on a task, not a container")
            return
        changed = TaskNode(node.task, node.args, node.kwargs, not node.immutable, node.options)
        text = "si()" if changed.immutable else "s()"
        self._edit(text, lambda: canvas_edit.replace(self.model.root, at, changed))

    def request_replace(self) -> None:
        """F2 or the menu on a task: whoever knows the app's tasks offers the choice."""
        if self.task_at(self.selected) is None:
            self.message.emit("select a task to replace it with another")
            return
        self.replace_requested.emit(self.selected)
