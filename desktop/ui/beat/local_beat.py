"""The local beat's bar: its state in words, Start, Stop and Log, for the active profile.

Driven by the session's local beat host (`session/beat_host.py`): the bar only shows what the
host polls and says, and asks it to start or stop; nothing here waits. A refusal (a second beat
would not be safe) stays on the bar, with its whole reason in the tooltip, until the beat runs
or Start is pressed again.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from desktop.core.local.local_beat import beat_state_text
from desktop.core.local.local_worker import LocalWorker
from desktop.ui.common.accessible import explain
from desktop.ui.session.session import Session


class LocalBeatBar(QWidget):
    """ "Local beat: running (pid N, 2 min)" / "stopped" / "refused: …", Start, Stop, Log."""

    log_wanted = Signal(object, str)  # the beat's log file, a title for it

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.beat: LocalWorker | None = None
        self.problem = ""  # the last refusal or failure, shown until the beat runs
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.state = QLabel("Local beat: stopped")
        self.state.setAccessibleName("Local beat state")
        self.state.setWordWrap(True)  # a refusal's whole reason, on as many lines as it needs
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.state, 1)
        self.start_button = explain(
            QPushButton("Start beat"),
            "Start `celery beat` for this profile with the app's own scheduler; refused when a "
            "second beat would not be safe",
            "Start local beat",
        )
        self.stop_button = explain(
            QPushButton("Stop beat"),
            "Stop this profile's beat (it saves its schedule and exits)",
            "Stop local beat",
        )
        self.log_button = explain(QPushButton("Beat log"), "Show the beat's log", "Local beat log")
        for button in (self.start_button, self.stop_button, self.log_button):
            layout.addWidget(button)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.log_button.clicked.connect(self.show_log)
        session.local_beat_changed.connect(self.show_beat)
        session.local_beat_message.connect(self.show_message)
        self.show_beat(session.beat_host.beat)

    @property
    def running(self) -> bool:
        return self.beat is not None and self.beat.running

    def start(self) -> None:
        self.problem = ""
        self.session.beat_host.start()
        self._update()

    def stop(self) -> None:
        self.session.beat_host.stop()
        self._update()

    def show_log(self) -> None:
        if self.beat is not None:
            path = self.beat.log_path
            self.log_wanted.emit(path, f"Log of the local beat: {path}")

    def log_path(self) -> Path | None:
        return self.beat.log_path if self.beat is not None else None

    def show_beat(self, beat: LocalWorker | None) -> None:
        self.beat = beat
        if self.running:
            self.problem = ""
        self._update()

    def show_message(self, text: str, is_error: bool) -> None:
        if is_error:
            self.problem = text
        self._update()

    def text(self) -> str:
        busy = self.session.beat_host.busy
        if busy and not (busy == "starting" and self.running):
            return f"Local beat: {busy}…"
        if self.problem and not self.running:
            return f"Local beat: {self.problem}"
        return f"Local beat: {beat_state_text(self.beat)}"

    def _update(self) -> None:
        text = self.text()
        self.state.setText(text)
        self.state.setToolTip(text if self.problem else "")
        self.state.setProperty("role", "error" if self.problem and not self.running else "")
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        busy = bool(self.session.beat_host.busy)
        self.start_button.setEnabled(not busy and not self.running)
        self.stop_button.setEnabled(not busy and self.running)
        self.log_button.setEnabled(self.beat is not None)
