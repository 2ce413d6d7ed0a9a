"""Pieces every panel uses: a heading, a read-only table, the state line for the app probe."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem

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
