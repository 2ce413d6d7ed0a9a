"""Pieces every panel uses: a heading, a read-only table, the state line for the app probe."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.ui.common.table_model import make_read_only


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "heading")
    return label


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "muted")
    label.setWordWrap(True)
    return label


def show_steadily(widget: QLabel | QPushButton, text: str) -> None:
    """Show `text` in a widget whose size only grows, to fit the widest text it has shown.

    A label or button whose text changes as work goes on (a count) would otherwise ask for a
    new layout on each change, and that goes up to the window: every screen measured, the
    whole window repainted, some 50 ms on the GUI thread for each reload of the tasks table.
    A widget of fixed size asks for none; it grows (one layout) when a text needs more room."""
    widget.setText(text)
    needed = widget.sizeHint()
    if needed.width() > widget.maximumWidth() or widget.minimumWidth() != widget.maximumWidth():
        widget.setFixedSize(max(needed.width(), widget.minimumWidth()), needed.height())


def read_only_table(columns: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    make_read_only(table)
    return table


def fill_table(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))


def routed_summary(config: EffectiveConfig) -> str:
    """Which tasks the app's routes send where, as its own router resolved them."""
    parts = [f"{task} → {queue}" for task, queue in config.routed_elsewhere()]
    parts.append(f"everything else → {config.default_queue}")
    return "; ".join(parts)


def duration(seconds: float | None) -> str:
    """A span as people read it: "42 s", "3 min 05 s", "2 h 10 min"; "" when not known."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
