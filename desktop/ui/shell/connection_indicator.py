"""A coloured dot and a sentence: connected / connecting / failed, with the reason."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from desktop.ui.common.states import STATE_SYMBOLS, state_role
from desktop.ui.common.theme import set_tone


class ConnectionIndicator(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        self.dot = QLabel("●")
        self.text = QLabel()
        self.text.setMaximumWidth(620)
        layout.addWidget(self.dot)
        layout.addWidget(self.text)
        self.state = ""
        self.message = ""
        self.set_state("connecting", "starting…")

    def set_state(self, state: str, message: str) -> None:
        self.state = state
        self.message = message
        # The state's symbol, in its colour: the stylesheet's, so a theme switch repaints it.
        self.dot.setText(STATE_SYMBOLS.get(state, "●"))
        set_tone(self.dot, state_role(state))
        label = state.capitalize()
        short = message if len(message) <= 90 else message[:87] + "…"
        self.text.setText(f"<b>{label}</b> — {short}" if message else f"<b>{label}</b>")
        self.setToolTip(message)
        self.setAccessibleName(f"Connection {state}: {message}")
