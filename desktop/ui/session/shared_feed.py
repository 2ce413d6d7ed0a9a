"""A shared history kept live: the recorders' notifications become rows on the screens, and
the window says where the history comes from, how far behind the recorder is, and when none
is writing.

Why a part of its own: a panel on a shared history may have no event stream of its own (a
laptop on a slow link, a profile whose broker it cannot reach), yet must show the cluster
live. The recorders (`celery-desk record --history postgresql://…`) write the history; this
panel only reads it. Each batch a recorder stores sends one notification naming its tasks
(history/pg_presence.py); the listener's thread (history/pg_listen.py) reads those rows by id
there, off the GUI thread, and they reach the screens as `Session.history_rows`, the way the
monitor's diffs do (the Tasks table places them by its query's own rule). A "reload" (a batch
too big to name, notifications missed while cut or before the first LISTEN, rows named but not
read) reloads the screens. The recorders'
status is read every STATUS_S on the background pool.

Output is tagged with the journal it belongs to: a listener of the previous profile still
stopping never paints into this one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.monitor.journal import Journal
from desktop.core.settings import urls

if TYPE_CHECKING:
    from desktop.core.history.pg_listen import HistoryListener
    from desktop.core.history.pg_presence import RecorderStatus
    from desktop.core.history.pg_reader import PgReader
    from desktop.ui.session.session import Session

log = logging.getLogger(__name__)

STATUS_S = 5.0
# A busy cluster's batches are too big to name one after another: the screens read everything
# again at most this often, however many said "reload" (the last one always gets its turn).
RELOAD_EVERY_S = 2.0
# The status's tone: the history is written and heard; nobody writes; it cannot be heard.
LIVE, SILENT, CUT = "live", "silent", "cut"


class SharedHistoryFeed(QObject):
    """The listener and status of the current profile's shared history, if it has one."""

    _rows = Signal(int, object)
    _reload = Signal(int)
    _heard_state = Signal(int, str, str)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.shown: str | None = None  # the history's URL, password masked; None: not shared
        self._url: str | None = None
        self._journal: Journal | None = None
        self._generation = 0
        self._listener: HistoryListener | None = None
        self._listening = ("", "")  # the listener's last state and why
        self._recorders: RecorderStatus | None = None
        self._unread: str | None = None  # why the status could not be read
        self._reader: PgReader | None = None
        self._reader_lock = threading.Lock()
        self._polling = False
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(int(STATUS_S * 1000))
        self._timer.timeout.connect(self.poll)
        self._reloaded_at = 0.0  # monotonic: the last reload the screens were asked for
        self._reload_later = QTimer(self)
        self._reload_later.setSingleShot(True)
        self._reload_later.timeout.connect(self._reload_now)
        self._rows.connect(self._relay_rows)
        self._reload.connect(self._relay_reload)
        self._heard_state.connect(self._relay_state)
        session.journal_changed.connect(self.set_journal)

    # -- the current history ----------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        """Listen to the shared history this journal reads from, if any (no waiting here:
        the old listener and reader stop on the pool)."""
        if journal is self._journal:
            return
        self._stop()
        self._journal = journal
        url = journal.reads_from if journal is not None else None
        if url is None or self._closed:
            self.shown = self._url = None
            self._say()
            return
        from desktop.core.history.pg_listen import HistoryListener

        self._url, self.shown = url, urls.mask(url)
        self._listening, self._recorders, self._unread = ("", "connecting"), None, None
        tag = self._generation
        self._listener = HistoryListener(
            url,
            lambda ids: self._heard(tag, ids),
            lambda state, why: self._heard_state.emit(tag, state, why),
        )
        self._listener.start()
        self._timer.start()
        self._say()
        self.poll()

    def _stop(self) -> None:
        close = self._let_go(listener_wait_s=5.0)
        if close is not None:
            self.session.background.submit(close, lambda _: None)

    def _let_go(self, listener_wait_s: float) -> Callable[[], None] | None:
        """The current history let go of on the GUI thread (nothing it hears or reads lands
        any more); what closes its listener and reader, to run off the GUI thread (both may
        wait on the network), or None when neither is open."""
        with self._reader_lock:
            self._generation += 1
        self._timer.stop()
        self._reload_later.stop()
        listener, self._listener = self._listener, None
        with self._reader_lock:
            reader, self._reader = self._reader, None
        if listener is None and reader is None:
            return None

        def close() -> None:
            if listener is not None:
                listener.stop(timeout=listener_wait_s)
            if reader is not None:
                reader.close()

        return close

    def _reader_of(self, tag: int, url: str, journal: Journal) -> PgReader | None:
        """The feed's own reader (rows by id, the status), made on first use off the GUI
        thread; thread-safe. None once another history replaced this one (`tag`). It is
        connected outside the lock, which the GUI thread takes on a profile switch."""
        from desktop.core.history.pg_reader import PgReader

        with self._reader_lock:
            if tag != self._generation:
                return None
            if self._reader is not None:
                return self._reader
        made = PgReader(url, redactor=journal.redactor)
        with self._reader_lock:
            if tag == self._generation and self._reader is None:
                self._reader = made
                return made
            kept = self._reader if tag == self._generation else None
        made.close()  # another thread made one meanwhile, or the history changed
        return kept

    # -- on the listener's thread -------------------------------------------------------------
    def _heard(self, tag: int, ids: list[str] | None) -> None:
        url, journal = self._url, self._journal
        if tag != self._generation or url is None or journal is None:
            return
        if ids is None:
            self._reload.emit(tag)
            return
        try:
            reader = self._reader_of(tag, url, journal)
            rows = reader.rows(ids) if reader is not None else {}
        except Exception as exc:  # the pool busy, the server blinking: read them all again
            from desktop.core.history.pg_connect import said_masked

            log.warning(
                "rows heard from %s not read, reloading: %s", self.shown, said_masked(exc, url)
            )
            self._reload.emit(tag)
            return
        if rows:
            self._rows.emit(tag, rows)

    # -- on the GUI thread ----------------------------------------------------------------------
    def _relay_rows(self, tag: int, rows: Any) -> None:
        if tag == self._generation and not self._closed:
            self.session.history_rows.emit(rows)

    def _relay_reload(self, tag: int) -> None:
        if tag != self._generation or self._closed or self._reload_later.isActive():
            return
        wait = self._reloaded_at + RELOAD_EVERY_S - time.monotonic()
        if wait > 0:
            self._reload_later.start(int(wait * 1000))
        else:
            self._reload_now()

    def _reload_now(self) -> None:
        if not self._closed and self._url is not None:
            self._reloaded_at = time.monotonic()
            self.session.history_reload.emit()

    def _relay_state(self, tag: int, state: str, why: str) -> None:
        if tag == self._generation and not self._closed:
            self._listening = (state, why)
            self._say()

    def poll(self) -> None:
        """Read the recorders' status on the pool (one at a time)."""
        url, journal, tag = self._url, self._journal, self._generation
        if url is None or journal is None or self._polling or self._closed:
            return
        self._polling = True

        def read() -> RecorderStatus | None:
            reader = self._reader_of(tag, url, journal)
            return reader.recorders() if reader is not None else None

        def done(status: RecorderStatus | None) -> None:
            self._polling = False
            if tag == self._generation and status is not None:
                self._recorders, self._unread = status, None
                self._say()

        def failed(exc: BaseException) -> None:
            from desktop.core.history.pg_connect import said_masked

            self._polling = False
            if tag == self._generation:
                self._recorders, self._unread = None, said_masked(exc, url)
                self._say()

        self.session.background.submit(read, done, failed)

    def status(self) -> tuple[str, str, str]:
        """(tone, words, detail): LIVE, SILENT or CUT; "" when the history is not shared."""
        if self.shown is None:
            return "", "", ""
        where = f"History: {self.shown} (shared, read-only here: recorders write it)"
        state, why = self._listening
        if self._unread is not None:
            return CUT, "History: cannot be read", f"{where}\n{self._unread}"
        if state == "cut":
            return CUT, "History: not live", f"{where}\n{why}"
        recorders = self._recorders
        if recorders is None:
            return SILENT, "History: connecting", where
        words = recorders.words()
        tone = LIVE if recorders.writing else SILENT
        return tone, f"History: {words}", f"{where}\n{why or 'not listening yet'}"

    def _say(self) -> None:
        self.session.history_status_changed.emit(*self.status())

    def shutdown(self) -> None:
        """Stop the listener and close the reader (the window closes) on a daemon thread of
        their own: either may wait on the network (a listener mid-connect, the pool's close
        waiting for its workers mid-connect to a server that does not answer), which the GUI
        thread never does; one still waiting ends with the process. Not the background pool:
        it is shut down next, its queued jobs cancelled."""
        self._closed = True
        close = self._let_go(listener_wait_s=1.0)
        if close is not None:
            threading.Thread(target=close, name="history-feed-close", daemon=True).start()
