"""The Overview's tasks per second: one line per state (succeeded, failed) with its symbol,
its rate, its count over the window and a sparkline under them, the whole line a button to
the Tasks screen filtered by that state.

Why painted by hand and not a pyqtgraph plot like the Charts screen: 30 bars in a line's
height need no axes, legend or mouse handling, and a plain QWidget paints them in
microseconds while the plot widget costs a scene per line.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from desktop.ui.common.theme import colour, set_tone


class Sparkline(QWidget):
    """Values as a filled line, scaled to the largest (a flat baseline when all are 0), with
    the span it covers written under it when there is room."""

    def __init__(self, tone: str, span: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tone = tone  # the colour's role: read at paint time, so it follows the theme
        self.span = span  # "15 min": the left end is that long ago, the right end now
        self.values: tuple[float, ...] = ()
        self.setMinimumSize(160, 36)
        self.setMaximumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:
        return QSize(300, 90)

    def set_values(self, values: Sequence[float]) -> None:
        shown = tuple(values)
        if shown != self.values:
            self.values = shown
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        del event
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(1, 4, -1, -2)
        if self.span and area.height() > 50:
            text_height = float(self.fontMetrics().height())
            painter.setPen(QColor(colour("muted")))
            below = QRectF(area.left(), area.bottom() - text_height, area.width(), text_height)
            painter.drawText(below, int(Qt.AlignmentFlag.AlignLeft), f"{self.span} ago")
            painter.drawText(below, int(Qt.AlignmentFlag.AlignRight), "now")
            area.setBottom(area.bottom() - text_height - 2)
        painter.setPen(QPen(QColor(colour("grid")), 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        values = self.values
        if len(values) < 2:
            return
        top = max(values) or 1.0
        step = area.width() / (len(values) - 1)
        points = [
            QPointF(area.left() + i * step, area.bottom() - value / top * area.height())
            for i, value in enumerate(values)
        ]
        fill = QPainterPath(QPointF(area.left(), area.bottom()))
        for point in points:
            fill.lineTo(point)
        fill.lineTo(QPointF(area.right(), area.bottom()))
        fill.closeSubpath()
        line = QColor(colour(self.tone))
        faint = QColor(line)
        faint.setAlpha(50)
        painter.fillPath(fill, faint)
        painter.setPen(QPen(line, 1.6))
        painter.drawPolyline(points)


class RateLine(QFrame):
    """ "✓ Succeeded  3.2/s  · 1,234 in 15 min  [sparkline]", clicked as one button."""

    clicked = Signal()

    def __init__(
        self,
        symbol: str,
        title: str,
        tone: str,
        tip: str,
        span: str = "15 min",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tip)
        self.setAccessibleName(f"{title} per second")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 2, 4, 2)
        column.setSpacing(0)
        row = QHBoxLayout()
        self.title = QLabel(f"{symbol} {title}")
        self.title.setProperty("strong", True)
        set_tone(self.title, tone)
        self.rate = QLabel("0.0/s")
        self.rate.setProperty("role", "big")  # the theme's heading size: scales with the font
        self.total = QLabel()
        set_tone(self.total, "muted")
        row.addWidget(self.title)
        row.addSpacing(8)
        row.addWidget(self.rate)
        row.addSpacing(8)
        row.addWidget(self.total)
        row.addStretch(1)
        column.addLayout(row)
        self.spark = Sparkline(tone, span)
        column.addWidget(self.spark, 1)

    def show_rate(self, per_second: float, total: int, window: str, values: list[float]) -> None:
        self.rate.setText(f"{per_second:.1f}/s")
        self.total.setText(f"{total:,} in {window}")
        self.spark.set_values(values)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)
