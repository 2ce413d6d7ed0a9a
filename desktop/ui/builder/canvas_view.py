"""The builder's canvas: chains read left to right and groups top to bottom, as Celery's own
notation does; every node is a box a person can drag, and every mouse action has a key.

The layout is recomputed from the model's tree after each edit and painted by hand (boxes,
frames, arrows): at the tens of nodes a canvas holds that is cheaper and simpler than a
QGraphicsScene, and hit-testing is a walk over the same boxes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QApplication, QScrollArea, QToolTip, QWidget

from desktop.core.base.task_states import FINISHED_STATES as FINISHED
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.checks import ERROR, Problem
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.model import ChainNode, ChordNode, GroupNode, Node, TaskNode
from desktop.ui.builder.canvas_model import NODE_MIME, CanvasModel, label
from desktop.ui.common.theme import ERROR_COLOUR, MUTED_COLOUR, TASK_STATE_COLOURS, WARNING_COLOUR

TASK_W, TASK_H = 150, 58
PAD, HEAD = 8, 20
GAP_X, GAP_Y = 38, 8
MARGIN = 16
EMPTY_W, EMPTY_H = 150, 64
ZOOM_MIN, ZOOM_MAX = 0.4, 2.0
READABLE_ZOOM = 0.65
CHORD_IN_CHAIN = "group → chord"


@dataclass
class Box:
    position: Position
    node: Node
    rect: QRectF
    children: list[Box] = field(default_factory=list)
    # For a chord: the frame around its header, so the arrow to the body starts at one edge.
    header_rect: QRectF | None = None


@dataclass(frozen=True)
class NodeState:
    """What the event stream says about a sent task."""

    state: str
    task_id: str
    detail: str = ""  # result, error or worker, for the tooltip


def _size(node: Node) -> QSize:
    kids = canvas_edit.children(node)
    if isinstance(node, TaskNode):
        return QSize(TASK_W, TASK_H)
    if not kids:
        return QSize(EMPTY_W + 2 * PAD, EMPTY_H + HEAD + 2 * PAD)
    sizes = [_size(k) for k in kids]
    if isinstance(node, ChainNode):
        width = sum(s.width() for s in sizes) + GAP_X * (len(sizes) - 1)
        height = max(s.height() for s in sizes)
    elif isinstance(node, GroupNode):
        width = max(s.width() for s in sizes)
        height = sum(s.height() for s in sizes) + GAP_Y * (len(sizes) - 1)
    else:  # chord: the header stacked in a frame of its own, an arrow, then the body
        header = sizes[:-1]
        header_w = max(s.width() for s in header) + 2 * PAD
        header_h = sum(s.height() for s in header) + GAP_Y * (len(header) - 1) + 2 * PAD
        width = header_w + GAP_X + sizes[-1].width()
        height = max(header_h, sizes[-1].height())
    return QSize(width + 2 * PAD, height + HEAD + 2 * PAD)


def layout(node: Node, position: Position, x: float, y: float) -> Box:
    size = _size(node)
    box = Box(position, node, QRectF(x, y, size.width(), size.height()))
    kids = canvas_edit.children(node)
    if not kids:
        return box
    inner_x, inner_y = x + PAD, y + HEAD + PAD
    inner_h = size.height() - HEAD - 2 * PAD
    if isinstance(node, ChainNode):
        for index, kid in enumerate(kids):
            kid_size = _size(kid)
            top = inner_y + (inner_h - kid_size.height()) / 2
            box.children.append(layout(kid, (*position, index), inner_x, top))
            inner_x += kid_size.width() + GAP_X
    elif isinstance(node, GroupNode):
        for index, kid in enumerate(kids):
            box.children.append(layout(kid, (*position, index), inner_x, inner_y))
            inner_y += _size(kid).height() + GAP_Y
    else:
        header = kids[:-1]
        header_w = max(_size(k).width() for k in header) + 2 * PAD
        header_h = sum(_size(k).height() for k in header) + GAP_Y * (len(header) - 1) + 2 * PAD
        top = inner_y + (inner_h - header_h) / 2
        box.header_rect = QRectF(inner_x, top, header_w, header_h)
        row = top + PAD
        for index, kid in enumerate(header):
            box.children.append(layout(kid, (*position, index), inner_x + PAD, row))
            row += _size(kid).height() + GAP_Y
        body_size = _size(kids[-1])
        body_x = inner_x + header_w + GAP_X
        body_top = inner_y + (inner_h - body_size.height()) / 2
        box.children.append(layout(kids[-1], (*position, len(header)), body_x, body_top))
    return box


def _walk(box: Box) -> list[Box]:
    found = [box]
    for child in box.children:
        found += _walk(child)
    return found


def args_text(node: TaskNode) -> str:
    parts = [json.dumps(a, ensure_ascii=False) for a in node.args]
    parts += [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in node.kwargs.items()]
    return f"({', '.join(parts)})"


def options_text(options: dict[str, Any]) -> str:
    names = {"queue": "", "priority": "p", "countdown": "in ", "eta": "at ", "expires": "exp "}
    parts = []
    for key, prefix in names.items():
        if key in options:
            value = options[key]
            parts.append(f"{prefix}{value}{'s' if key == 'countdown' else ''}")
    return " · ".join(parts)


class CanvasView(QWidget):
    """Paints the model's tree and turns mouse and keys into the model's undoable edits."""

    selection_changed = Signal(object)  # Position | None
    message = Signal(str)  # a refused edit, a hint
    zoom_changed = Signal(float)
    replace_requested = Signal(object)  # Position of a task: choose another task for it

    def __init__(self, model: CanvasModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.selected: Position | None = None
        self.states: dict[Position, NodeState] = {}
        self.problems: dict[Position, list[Problem]] = {}
        self.box: Box | None = None
        self._press: tuple[QPoint, Position] | None = None
        self._drop_line: QRectF | None = None
        self.scroller: QScrollArea | None = None  # the panel's, to keep the selection in view
        self.zoom = 1.0
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Canvas")
        model.tree_changed.connect(self._relayout)
        model.edit_refused.connect(self.message)
        self.actions_by_name = self._make_actions()
        self._relayout()

    # -- layout -------------------------------------------------------------------------------
    def _relayout(self) -> None:
        root = self.model.root
        self.box = None if root is None else layout(root, (), MARGIN, MARGIN)
        size = QSize(520, 240) if self.box is None else self.box.rect.size().toSize()
        self.setMinimumSize(
            int((size.width() + 2 * MARGIN) * self.zoom),
            int((size.height() + 2 * MARGIN) * self.zoom),
        )
        if self.selected is not None:
            try:
                self.model.node(self.selected)
            except EditError:
                self.select(None)
        self._enable_for_selection()
        self.update()

    def boxes(self) -> list[Box]:
        return [] if self.box is None else _walk(self.box)

    def box_at(self, point: QPointF) -> Box | None:
        """The innermost node under the point."""
        hit = None
        for box in self.boxes():
            if box.rect.contains(point):
                hit = box  # children come after their parent: the last hit is the innermost
        return hit

    def rect_of(self, position: Position) -> QRectF | None:
        return next((b.rect for b in self.boxes() if b.position == position), None)

    def to_canvas(self, point: QPointF) -> QPointF:
        """A widget position in the layout's own coordinates, whatever the zoom."""
        return QPointF(point.x() / self.zoom, point.y() / self.zoom)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(ZOOM_MAX, max(ZOOM_MIN, round(zoom, 2)))
        self.zoom_changed.emit(self.zoom)
        self._relayout()

    def wheelEvent(self, event: Any) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            step = 1.1 if event.angleDelta().y() > 0 else 1 / 1.1
            self.set_zoom(self.zoom * step)
            event.accept()
        else:
            super().wheelEvent(event)

    # -- selection ------------------------------------------------------------------------------
    def select(self, position: Position | None) -> None:
        if position != self.selected:
            self.selected = position
            self.selection_changed.emit(position)
            self.update()
        self._enable_for_selection()

    def task_at(self, position: Position | None) -> TaskNode | None:
        """The task at `position`; None for a container, no position or one that is gone."""
        if position is None:
            return None
        try:
            node = self.model.node(position)
        except EditError:
            return None
        return node if isinstance(node, TaskNode) else None

    def _enable_for_selection(self) -> None:
        """Actions that only make sense on a task are greyed out in the menu otherwise."""
        self.actions_by_name["replace"].setEnabled(self.task_at(self.selected) is not None)

    # -- where a drop goes --------------------------------------------------------------------
    def drop_place(self, point: QPointF) -> tuple[Position | None, int, QRectF]:
        """(container position or None for the canvas, index before which, indicator line)."""
        box = self.box_at(point)
        if box is None or self.box is None:
            end = self.model._end_of(None)
            rect = self.box.rect if self.box else QRectF(MARGIN, MARGIN, TASK_W, TASK_H)
            return None, end, QRectF(rect.right() + 4, rect.top(), 3, rect.height())
        if isinstance(box.node, TaskNode):
            if not box.position:
                after = point.x() > box.rect.center().x()
                x = box.rect.right() + 4 if after else box.rect.left() - 7
                return None, int(after), QRectF(x, box.rect.top(), 3, box.rect.height())
            parent = self._box(box.position[:-1])
            vertical = not isinstance(parent.node, ChainNode)
            index = box.position[-1]
            after = (
                point.y() > box.rect.center().y() if vertical else point.x() > box.rect.center().x()
            )
            return parent.position, index + int(after), self._line(box.rect, vertical, after)
        vertical = not isinstance(box.node, ChainNode)
        kids = box.children[:-1] if isinstance(box.node, ChordNode) else box.children
        index = 0
        for kid in kids:
            centre = kid.rect.center()
            if (point.y() > centre.y()) if vertical else (point.x() > centre.x()):
                index += 1
        if not kids:
            inner = box.rect.adjusted(PAD, HEAD + PAD, -PAD, -PAD)
            return box.position, 0, inner
        edge = kids[min(index, len(kids) - 1)].rect
        return box.position, index, self._line(edge, vertical, index >= len(kids))

    @staticmethod
    def _line(rect: QRectF, vertical: bool, after: bool) -> QRectF:
        if vertical:
            y = rect.bottom() + 3 if after else rect.top() - 6
            return QRectF(rect.left(), y, rect.width(), 3)
        x = rect.right() + 4 if after else rect.left() - 7
        return QRectF(x, rect.top(), 3, rect.height())

    def _box(self, position: Position) -> Box:
        return next(b for b in self.boxes() if b.position == position)

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

    # -- mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        box = self.box_at(self.to_canvas(event.position()))
        self.select(box.position if box else None)
        self._press = (event.position().toPoint(), box.position) if box else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        start, position = self._press
        if (
            event.position().toPoint() - start
        ).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        drag = QDrag(self)
        drag.setMimeData(self.model.mimeData([self.model.index_of(position)]))
        drag.exec(Qt.DropAction.MoveAction | Qt.DropAction.CopyAction, Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """On a link's label: switch the step after it between s() and si()."""
        for position, rect, _text in self._link_labels():
            if rect.contains(self.to_canvas(event.position())):
                self.toggle_immutable(position)
                return
        super().mouseDoubleClickEvent(event)

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
            ("immutable", "Switch s() / si()", ["Ctrl+I"], self.toggle_immutable),
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

    # -- painting -------------------------------------------------------------------------------
    def _link_labels(self) -> list[tuple[Position, QRectF, str]]:
        """Each chain link's label ("s()", "si()", "chord") and the step it belongs to."""
        found = []
        for box in self.boxes():
            if isinstance(box.node, ChainNode):
                for left, right in zip(box.children, box.children[1:], strict=False):
                    text = self._link_text(left.node, right.node)
                    x = left.rect.right() + 2
                    y = (left.rect.center().y() + right.rect.center().y()) / 2 - 20
                    found.append((right.position, QRectF(x - 2, y, GAP_X, 16), text))
        return found

    @staticmethod
    def _link_text(left: Node, right: Node) -> str:
        if isinstance(left, GroupNode):
            return "chord"
        if isinstance(right, TaskNode):
            return "si()" if right.immutable else "s()"
        return ""

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        painter.scale(self.zoom, self.zoom)
        if self.box is None:
            painter.setPen(QColor(MUTED_COLOUR))
            painter.drawText(
                self.rect().adjusted(20, 20, -20, -20),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "Drag a task from the palette here, or select one there and press Enter.\n"
                "Tasks dropped after each other form a chain (left to right); drop a group "
                "to run tasks in parallel (top to bottom).",
            )
            return
        self._paint_box(painter, self.box, None)
        self._paint_links(painter)
        if self._drop_line is not None:
            painter.fillRect(self._drop_line, palette.color(QPalette.ColorRole.Highlight))

    def _paint_box(self, painter: QPainter, box: Box, parent: Box | None) -> None:
        if isinstance(box.node, TaskNode):
            self._paint_task(painter, box, parent)
        else:
            self._paint_container(painter, box, parent)
            for child in box.children:
                self._paint_box(painter, child, box)

    def _frame_pen(self, box: Box, base: QColor) -> QPen:
        problems = self.problems.get(box.position, [])
        if box.position == self.selected:
            return QPen(self.palette().color(QPalette.ColorRole.Highlight), 2.5)
        if any(p.level == ERROR for p in problems):
            return QPen(QColor(ERROR_COLOUR), 2)
        if problems:
            return QPen(QColor(WARNING_COLOUR), 2)
        return QPen(base, 1)

    def _paint_task(self, painter: QPainter, box: Box, parent: Box | None) -> None:
        node = box.node
        assert isinstance(node, TaskNode)
        rect = box.rect
        state = self.states.get(box.position)
        fill = QColor("#ffffff")
        if state is not None:
            fill = QColor(TASK_STATE_COLOURS.get(state.state, MUTED_COLOUR))
            fill.setAlpha(48)
        painter.setPen(self._frame_pen(box, QColor("#9ca3af")))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 6, 6)
        text_rect = rect.adjusted(8, 4, -8, -4)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        metrics = QFontMetrics(bold)
        name = node.task.rsplit(".", 1)[-1]
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(text_rect.width())),
        )
        painter.setFont(self.font())
        small = QFontMetrics(self.font())
        line = small.height()
        painter.drawText(
            text_rect.adjusted(0, line + 1, 0, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            small.elidedText(args_text(node), Qt.TextElideMode.ElideRight, int(text_rect.width())),
        )
        painter.setPen(QColor(MUTED_COLOUR))
        extra = options_text(node.options)
        if state is not None:
            painter.setPen(QColor(TASK_STATE_COLOURS.get(state.state, MUTED_COLOUR)))
            extra = state.state.lower() + (f" · {extra}" if extra else "")
        painter.drawText(
            text_rect.adjusted(0, 2 * line + 2, 0, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            small.elidedText(extra, Qt.TextElideMode.ElideRight, int(text_rect.width())),
        )
        self._paint_mark(painter, box)

    def _paint_mark(self, painter: QPainter, box: Box) -> None:
        problems = self.problems.get(box.position)
        if not problems:
            return
        colour = ERROR_COLOUR if any(p.level == ERROR for p in problems) else WARNING_COLOUR
        mark = QRectF(box.rect.right() - 18, box.rect.top() + 4, 14, 14)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(mark)
        painter.setPen(QColor("#ffffff"))
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, "!")
        painter.setFont(self.font())

    def _paint_container(self, painter: QPainter, box: Box, parent: Box | None) -> None:
        node = box.node
        depth = len(box.position)
        tint = {ChainNode: "#eef4ff", GroupNode: "#f0faf3", ChordNode: "#fdf6ec"}[type(node)]
        fill = QColor(tint).darker(100 + 4 * depth)
        painter.setPen(self._frame_pen(box, QColor("#c7cdd6")))
        painter.setBrush(fill)
        painter.drawRoundedRect(box.rect, 8, 8)
        title = self._container_title(box, parent)
        progress = self._progress(node, box.position)
        head = QRectF(box.rect.left() + 8, box.rect.top() + 3, box.rect.width() - 16, HEAD - 4)
        painter.setPen(QColor(MUTED_COLOUR))
        metrics = QFontMetrics(self.font())
        painter.drawText(
            head,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(
                title,
                Qt.TextElideMode.ElideRight,
                int(head.width() - (metrics.horizontalAdvance(progress) + 8 if progress else 0)),
            ),
        )
        if progress:
            painter.drawText(
                head, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, progress
            )
        if box.header_rect is not None:
            pen = QPen(QColor("#c7cdd6"), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.header_rect, 6, 6)
            body = box.children[-1].rect
            start = QPointF(box.header_rect.right(), box.header_rect.center().y())
            self._arrow(painter, start, QPointF(body.left(), body.center().y()))
        if not canvas_edit.children(node):
            painter.setPen(QColor(MUTED_COLOUR))
            painter.drawText(
                box.rect.adjusted(PAD, HEAD, -PAD, -PAD),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "empty: drop tasks here",
            )
        self._paint_mark(painter, box)

    def _container_title(self, box: Box, parent: Box | None) -> str:
        node = box.node
        if isinstance(node, ChainNode):
            return "chain"
        if isinstance(node, ChordNode):
            return "chord: header, then body"
        if parent is not None and isinstance(parent.node, ChainNode):
            index = parent.children.index(box)
            if index + 1 < len(parent.children):
                return CHORD_IN_CHAIN
        return "group"

    def _progress(self, node: Node, position: Position) -> str:
        if not self.states:
            return ""
        leaves = [
            p
            for p in canvas_edit.positions(node)
            if isinstance(canvas_edit.node_at(node, p), TaskNode)
        ]
        done = sum(
            1
            for p in leaves
            if (s := self.states.get((*position, *p))) is not None and s.state in FINISHED
        )
        return f"{done}/{len(leaves)} done"

    def _paint_links(self, painter: QPainter) -> None:
        for box in self.boxes():
            if isinstance(box.node, ChainNode):
                for left, right in zip(box.children, box.children[1:], strict=False):
                    start = QPointF(left.rect.right(), left.rect.center().y())
                    end = QPointF(right.rect.left(), right.rect.center().y())
                    self._arrow(painter, start, end)
        painter.setPen(QColor(MUTED_COLOUR))
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        for _position, rect, text in self._link_labels():
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setFont(self.font())

    @staticmethod
    def _arrow(painter: QPainter, start: QPointF, end: QPointF) -> None:
        painter.setPen(QPen(QColor("#6b7280"), 1.4))
        path = QPainterPath(start)
        middle = (start.x() + end.x()) / 2
        path.cubicTo(QPointF(middle, start.y()), QPointF(middle, end.y()), end)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        head = QPainterPath(end)
        head.lineTo(end.x() - 7, end.y() - 4)
        head.lineTo(end.x() - 7, end.y() + 4)
        head.closeSubpath()
        painter.setBrush(QColor("#6b7280"))
        painter.drawPath(head)

    # -- tooltips -------------------------------------------------------------------------------
    def tooltip_at(self, point: QPointF) -> str:
        for _position, rect, text in self._link_labels():
            if rect.contains(point) and text in ("s()", "si()"):
                what = "ignores" if text == "si()" else "gets"
                return f"{text}: the next step {what} the previous result. Double-click to switch."
        box = self.box_at(point)
        if box is None:
            return ""
        lines = []
        if isinstance(box.node, TaskNode):
            lines.append(f"<b>{box.node.task}</b>{args_text(box.node)}")
        else:
            lines.append(f"<b>{label(box.node)}</b>")
            parent = self._box(box.position[:-1]) if box.position else None
            if self._container_title(box, parent) == CHORD_IN_CHAIN:
                lines.append(
                    "Sent as a chord: the next step runs once every task here has finished, "
                    "with the list of their results."
                )
        state = self.states.get(box.position)
        if state is not None:
            lines.append(f"{state.state} · {state.task_id}")
            if state.detail:
                lines.append(state.detail[:600].replace("<", "&lt;"))
        for problem in self.problems.get(box.position, []):
            lines.append(f"{problem.level}: {problem.message}".replace("<", "&lt;"))
        return "<br>".join(lines)

    def event(self, event: Any) -> bool:
        if isinstance(event, QHelpEvent) and event.type() == event.Type.ToolTip:
            text = self.tooltip_at(self.to_canvas(QPointF(event.pos())))
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)
