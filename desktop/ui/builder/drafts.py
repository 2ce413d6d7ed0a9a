"""The Builder's unsaved work: a draft written a few seconds after each change, off the GUI
thread, restored on the next start with a note; and the Save / Discard / Cancel question before
anything would drop a canvas with unsaved changes (closing, switching profile, opening another).
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from desktop.core.canvas import drafts as canvas_drafts
from desktop.core.canvas.drafts import Draft
from desktop.ui.builder.canvas_model import CanvasModel

log = logging.getLogger(__name__)
AUTOSAVE_MS = 3000  # after the last change: a burst of edits is one write


class DraftKeeper(QObject):
    """Writes the model's canvas to the profile's draft file while it has unsaved changes, and
    removes the draft once it has none (saved, opened from a file, discarded)."""

    failed = Signal(str)  # a draft could not be written: said on the Builder, work goes on

    def __init__(self, model: CanvasModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.path: Path | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvas-draft")
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.write_soon)
        model.tree_changed.connect(self._changed)
        model.undo_stack.cleanChanged.connect(self._changed)

    def unsaved(self) -> bool:
        """Changes that exist nowhere else: the canvas is not empty and differs from its
        file (or has none)."""
        return self.model.root is not None and not self.model.undo_stack.isClean()

    def use(self, path: Path | None) -> None:
        """Another profile's draft from now on (what is pending goes to the previous one)."""
        if self._timer.isActive():
            self.write_soon()
        self.path = path

    def read(self) -> Draft | None:
        return canvas_drafts.read(self.path) if self.path is not None else None

    def _changed(self, *_: object) -> None:
        if self.path is not None and not self._closed:
            self._timer.start()

    def _text(self) -> str | None:
        """The draft as it should be now; None: there should be none."""
        if not self.unsaved():
            return None
        now = datetime.datetime.now()
        return canvas_drafts.dumps(self.model.name, self.model.root, self.model.file, now)

    def write_soon(self) -> Future[None] | None:
        """The canvas as it is now, written (or the draft removed) on the writer thread: the
        tree is turned into text here, which is cheap; the disk is touched there."""
        self._timer.stop()
        if self.path is None or self._closed:
            return None
        path, text = self.path, self._text()
        done = self._writer.submit(self._store, path, text)
        done.add_done_callback(self._report)
        return done

    @staticmethod
    def _store(path: Path, text: str | None) -> None:
        if text is None:
            canvas_drafts.discard(path)
        else:
            canvas_drafts.write(path, text)

    def _report(self, done: Future[None]) -> None:
        exc = done.exception()
        if exc is not None:
            log.warning("the Builder's draft was not written: %s", exc)
            self.failed.emit(f"The unsaved canvas could not be kept as a draft: {exc}")

    def discard(self) -> None:
        """The person chose to drop the unsaved canvas: its draft goes too."""
        self._timer.stop()
        if self.path is not None and not self._closed:
            self._writer.submit(canvas_drafts.discard, self.path).add_done_callback(self._report)

    def close(self) -> None:
        """On quitting: what is pending is written now (a quit without asking keeps the draft
        for the next start), and the writer thread ends."""
        if self._closed:
            return
        self._timer.stop()
        if self.path is not None:
            try:
                self._store(self.path, self._text())
            except OSError as exc:
                log.warning("the Builder's draft was not written: %s", exc)
        self._closed = True
        self._writer.shutdown(wait=True)


class DraftNote(QWidget):
    """ "Restored an unsaved draft from 14:05" above the canvas, with a way to drop it."""

    discard_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("draft-note")
        line = QHBoxLayout(self)
        line.setContentsMargins(6, 2, 6, 2)
        self.text = QLabel("")
        self.text.setProperty("role", "muted")
        line.addWidget(self.text, 1)
        self.discard_button = QPushButton("Discard draft")
        self.discard_button.setToolTip("Drop the restored canvas (undo brings it back)")
        self.discard_button.clicked.connect(self.discard_requested)
        line.addWidget(self.discard_button)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Hide this note; the canvas stays, still unsaved")
        self.keep_button.clicked.connect(self.hide)
        line.addWidget(self.keep_button)
        self.hide()

    def show_restored(self, draft: Draft) -> None:
        where = f" of {draft.file.name}" if draft.file else ""
        self.text.setText(
            f"Restored an unsaved draft{where} from {draft.written:%H:%M}"
            + (
                ""
                if draft.written.date() == datetime.date.today()
                else f" on {draft.written:%d %b}"
            )
            + ". Save it to keep it as a file."
        )
        self.show()


def ask_unsaved(parent: QWidget, doing: str) -> str:
    """'save', 'discard' or 'cancel', before `doing` drops a canvas with unsaved changes."""
    box = QMessageBox(parent)
    box.setObjectName("unsaved-canvas")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved canvas")
    box.setText("The canvas in the Builder has changes that are not saved.")
    box.setInformativeText(f"Save them before {doing}?")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {
        QMessageBox.StandardButton.Save: "save",
        QMessageBox.StandardButton.Discard: "discard",
    }.get(QMessageBox.StandardButton(answer), "cancel")
