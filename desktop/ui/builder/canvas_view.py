"""The builder's canvas: chains read left to right and groups top to bottom, as Celery's own
notation does; every node is a box a person can drag, and every mouse action has a key.

The layout (canvas_layout) is recomputed from the model's tree after each edit and painted here
by hand (boxes, frames, arrows): at the tens of nodes a canvas holds that is cheaper and simpler
than a QGraphicsScene, and hit-testing is a walk over the same boxes. What the keys, drops and
the context menu do is in canvas_actions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QDrag,
    QFont,
    QFontMetrics,
    QHelpEvent,
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
from desktop.core.canvas.edit import Position
from desktop.core.canvas.model import ChainNode, ChordNode, GroupNode, Node, TaskNode
from desktop.ui.builder.canvas_actions import CanvasActions
from desktop.ui.builder.canvas_layout import GAP_X, HEAD, PAD, Box
from desktop.ui.builder.canvas_model import CanvasModel, label
from desktop.ui.common.states import STATE_SYMBOLS, state_colour
from desktop.ui.common.theme import colour, is_dark

CHORD_IN_CHAIN = "group → chord"


@dataclass(frozen=True)
class NodeState:
    """What the event stream says about a sent task."""

    state: str
    task_id: str
    detail: str = ""  # result, error or worker, for the tooltip


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


class CanvasView(CanvasActions):
    """Paints the model's tree, with the states of what was sent and the problems found, and
    turns the mouse into selections, drags and tooltips."""

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

    def wheelEvent(self, event: Any) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            step = 1.1 if event.angleDelta().y() > 0 else 1 / 1.1
            self.set_zoom(self.zoom * step)
            event.accept()
        else:
            super().wheelEvent(event)

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
            painter.setPen(QColor(colour("muted")))
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
            return QPen(QColor(colour("error")), 2)
        if problems:
            return QPen(QColor(colour("warning")), 2)
        return QPen(base, 1)

    def _paint_task(self, painter: QPainter, box: Box, parent: Box | None) -> None:
        node = box.node
        assert isinstance(node, TaskNode)
        rect = box.rect
        state = self.states.get(box.position)
        fill = QColor(colour("base"))
        if state is not None:
            fill = QColor(state_colour(state.state))
            fill.setAlpha(48)
        painter.setPen(self._frame_pen(box, QColor(colour("frame"))))
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
        painter.setPen(QColor(colour("muted")))
        extra = options_text(node.options)
        if state is not None:
            painter.setPen(QColor(state_colour(state.state)))
            said = f"{STATE_SYMBOLS.get(state.state, '')} {state.state.lower()}".strip()
            extra = said + (f" · {extra}" if extra else "")
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
        role = "error" if any(p.level == ERROR for p in problems) else "warning"
        mark = QRectF(box.rect.right() - 18, box.rect.top() + 4, 14, 14)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour(role)))
        painter.drawEllipse(mark)
        painter.setPen(QColor(colour("base")))  # white on light, near black on dark
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, "!")
        painter.setFont(self.font())

    def _paint_container(self, painter: QPainter, box: Box, parent: Box | None) -> None:
        node = box.node
        depth = len(box.position)
        tint = QColor(
            colour({ChainNode: "chain", GroupNode: "group", ChordNode: "chord"}[type(node)])
        )
        fill = tint.lighter(100 + 8 * depth) if is_dark() else tint.darker(100 + 4 * depth)
        painter.setPen(self._frame_pen(box, QColor(colour("edge"))))
        painter.setBrush(fill)
        painter.drawRoundedRect(box.rect, 8, 8)
        title = self._container_title(box, parent)
        progress = self._progress(node, box.position)
        head = QRectF(box.rect.left() + 8, box.rect.top() + 3, box.rect.width() - 16, HEAD - 4)
        painter.setPen(QColor(colour("muted")))
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
            pen = QPen(QColor(colour("edge")), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.header_rect, 6, 6)
            body = box.children[-1].rect
            start = QPointF(box.header_rect.right(), box.header_rect.center().y())
            self._arrow(painter, start, QPointF(body.left(), body.center().y()))
        if not canvas_edit.children(node):
            painter.setPen(QColor(colour("muted")))
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
        painter.setPen(QColor(colour("muted")))
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        for _position, rect, text in self._link_labels():
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setFont(self.font())

    @staticmethod
    def _arrow(painter: QPainter, start: QPointF, end: QPointF) -> None:
        painter.setPen(QPen(QColor(colour("muted")), 1.4))
        path = QPainterPath(start)
        middle = (start.x() + end.x()) / 2
        path.cubicTo(QPointF(middle, start.y()), QPointF(middle, end.y()), end)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        head = QPainterPath(end)
        head.lineTo(end.x() - 7, end.y() - 4)
        head.lineTo(end.x() - 7, end.y() + 4)
        head.closeSubpath()
        painter.setBrush(QColor(colour("muted")))
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
