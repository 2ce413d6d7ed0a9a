"""Where each node of the builder's canvas is: chains left to right, groups top to bottom, as
Celery's own notation reads, in boxes that hit tests, drop places and zoom are worked out from.

The layout is recomputed from the model's tree after each edit; at the tens of nodes a canvas
holds that is cheaper and simpler than a QGraphicsScene, and hit-testing is a walk over the same
boxes."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.model import ChainNode, ChordNode, GroupNode, Node, TaskNode
from desktop.ui.builder.canvas_model import CanvasModel

TASK_W, TASK_H = 150, 58
PAD, HEAD = 8, 20
GAP_X, GAP_Y = 38, 8
MARGIN = 16
EMPTY_W, EMPTY_H = 150, 64
ZOOM_MIN, ZOOM_MAX = 0.4, 2.0


@dataclass
class Box:
    position: Position
    node: Node
    rect: QRectF
    children: list[Box] = field(default_factory=list)
    # For a chord: the frame around its header, so the arrow to the body starts at one edge.
    header_rect: QRectF | None = None


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


class CanvasLayout(QWidget):
    """The model's tree as boxes on a widget: what is where, the zoom and the selection."""

    selection_changed = Signal(object)  # Position | None
    zoom_changed = Signal(float)

    # set by CanvasView.__init__
    model: CanvasModel
    selected: Position | None
    box: Box | None
    zoom: float
    actions_by_name: dict[str, QAction]

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
