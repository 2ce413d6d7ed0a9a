"""A two-column list of facts (key: value) that panels use to show what is known for real."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget


class FactsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.values: dict[str, str] = {}

    def set_facts(self, facts: list[tuple[str, str]]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.values = dict(facts)
        for key, value in facts:
            name = QLabel(key)
            name.setProperty("role", "fact-key")
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setWordWrap(True)
            self.form.addRow(name, shown)
