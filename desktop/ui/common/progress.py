"""Progress with Cancel for a job's long blocking work: shown only when it lasts.

A job hands `progress.report` and `progress.cancel` (a threading.Event) to the blocking call
it awaits (`Jobs.blocking`, `Session.act`): the call, on a pool thread, reports how far it got
and looks at the event between two steps (two messages sent, two queues read), so Cancel
really stops what is left. Nothing here is touched from that thread but two integers and the
event; the dialog reads them on the GUI thread every TICK_MS.

The dialog (a QProgressDialog, window-modal; its bar is set directly, never through the
dialog's setValue, which would run a nested event loop) appears only
once the work has taken SHOW_AFTER_MS: most sends and reads end before, and a dialog that
flashes is worse than none. It closes when the job's `with` block ends, however it ends
(done, failed, cancelled, or the job itself cancelled because its screen went).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QProgressBar, QProgressDialog, QPushButton, QWidget

from desktop.ui.common.accessible import explain

SHOW_AFTER_MS = 1000
TICK_MS = 100
NEVER_BY_ITSELF_MS = 24 * 3600 * 1000


def counted(doing: str, noun: str) -> Callable[[int, int], str]:
    """ "Sending tasks: 120 of 500": the dialog's line, from the counts reported."""

    def said(done: int, total: int) -> str:
        return f"{doing} {noun}: {done:,} of {total:,}" if total else f"{doing} {noun}…"

    return said


class Progress(QObject):
    """`with Progress(parent, "Send", counted("Sending", "tasks")) as progress:` around the
    awaited work; `progress.report(done, total)` from any thread; `progress.cancel` set by
    the dialog's Cancel; `progress.done` is what was last reported."""

    def __init__(
        self,
        parent: QWidget,
        title: str,
        said: Callable[[int, int], str],
        total: int = 0,
        *,
        cancellable: bool = True,
    ) -> None:
        """`cancellable` False: one step the broker does whole (a purge), shown busy with no
        Cancel, since nothing could stop it half way."""
        super().__init__(parent)
        self.cancel = threading.Event()
        self.cancellable = cancellable
        self.done = 0
        self.total = total
        self._said = said
        dialog = QProgressDialog(said(0, total), "Cancel", 0, total, parent)
        # Its own bar, set directly: a window-modal QProgressDialog's setValue() runs
        # QCoreApplication.processEvents() (Qt's documented behaviour), which would re-enter
        # the event loop, and qasync's callbacks, from inside this timer's slot.
        self.bar = QProgressBar()
        self.bar.setRange(0, total)
        dialog.setBar(self.bar)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        # Shown by our own timer, never by Qt's guess from the first steps' pace (which shows
        # it within milliseconds of a fast start).
        dialog.setMinimumDuration(NEVER_BY_ITSELF_MS)
        dialog.setMinimumWidth(360)
        dialog.canceled.connect(self._cancel)  # its Cancel button, or closing it
        dialog.rejected.connect(self._cancel)  # Escape
        dialog.setAccessibleName(title)
        self.dialog = dialog
        if not cancellable:
            dialog.setCancelButton(None)
        for button in dialog.findChildren(QPushButton):  # the dialog's own Cancel
            explain(button, "Stop after the step on its way; what was done stays done")
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._show)
        self._appear = QTimer(self)
        self._appear.setSingleShot(True)
        self._appear.setInterval(SHOW_AFTER_MS)
        self._appear.timeout.connect(self._appear_now)

    def report(self, done: int, total: int) -> None:
        """How far the work got: called from the pool thread (plain numbers, read by _show)."""
        self.done, self.total = done, total

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def _cancel(self) -> None:
        if self.cancel.is_set() or not self.cancellable:
            return
        self.cancel.set()
        self.dialog.setLabelText(f"Cancelling after {self.done:,} of {self.total:,}…")
        self.dialog.setCancelButtonText("Cancelling…")

    def _show(self) -> None:
        if self.cancel.is_set():
            return
        self.bar.setMaximum(self.total)
        self.bar.setValue(min(self.done, self.total) if self.total else 0)
        self.dialog.setLabelText(self._said(self.done, self.total))

    def _appear_now(self) -> None:
        self._show()
        self.dialog.show()

    def __enter__(self) -> Progress:
        self._tick.start()
        self._appear.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not shiboken6.isValid(self.dialog):
            return  # the screen went (and took the dialog with it): its job was cancelled
        self._tick.stop()
        self._appear.stop()
        self.dialog.canceled.disconnect(self._cancel)
        self.dialog.rejected.disconnect(self._cancel)
        self.dialog.close()
        self.dialog.deleteLater()
        self.deleteLater()
