"""What every part of the Builder panel shares: the session, the app's configuration, the canvas
model and its view, and the message line under the canvas."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from desktop.core.app.effective_config import EffectiveConfig
from desktop.ui.builder.canvas_model import CanvasModel
from desktop.ui.builder.canvas_view import CanvasView
from desktop.ui.common.jobs import Jobs
from desktop.ui.session.session import Session


class PanelBase(QWidget):
    """The state the Builder's parts (files, sending, recall, palette) work on, and `say`."""

    # set by BuilderPanel.__init__
    session: Session
    _jobs: Jobs  # the panel's jobs (journal reads, off the GUI thread)
    config: EffectiveConfig | None
    model: CanvasModel
    view: CanvasView
    message: QLabel

    def say(self, text: str, error: bool = True) -> None:
        self.message.setText(text)
        self.message.setProperty("role", "error" if error else "muted")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
