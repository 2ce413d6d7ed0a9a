"""The status bar's word on a shared history: where the screens' history comes from (the URL,
password masked, in the tooltip), how far behind the recorders are (their last batch), and
when none is writing or the history cannot be heard. Hidden for a profile whose history is
its own SQLite journal.

The words come from the session (shared_feed.py), which reads the recorders' status off the
GUI thread every few seconds; this only shows them.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from desktop.ui.common.accessible import explain
from desktop.ui.common.theme import set_tone
from desktop.ui.session.session import Session
from desktop.ui.session.shared_feed import CUT, LIVE

_TONES = {LIVE: "ok", CUT: "error"}  # anything else (nobody writing, connecting): a warning


class HistoryStatus(QLabel):
    """One permanent label of the status bar."""

    def __init__(self, session: Session, bar: QStatusBar) -> None:
        super().__init__("")
        explain(self, "Where the task history comes from", "Shared history")
        self.setContentsMargins(12, 0, 4, 0)
        self.hide()
        bar.addPermanentWidget(self)
        session.history_status_changed.connect(self.show_status)
        self.show_status(*session.shared.status())

    def show_status(self, tone: str, words: str, detail: str) -> None:
        self.setVisible(bool(tone))
        self.setText(words)
        # a permanent widget of the status bar is squeezed by a long message: never this one
        self.setMinimumWidth(self.sizeHint().width())
        self.setToolTip(detail)
        self.setAccessibleDescription(detail)
        set_tone(self, _TONES.get(tone, "warning"))
