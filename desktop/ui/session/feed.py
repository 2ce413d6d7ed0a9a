"""The session's live feed: the profile's journal (its task history), the monitor that fills
it from the broker's events, and what the monitor reports (diffs, the event stream's state,
the journal's health) relayed onto the GUI thread.

Why the Background pool here and not the job layer: a journal or a monitor made on a pool
thread must be closed even when nobody wants it any more (another profile opened, the window
closed) and a cancelled job never sees its answer; the pool's callback does. So journal opens
and monitor starts stay on `Session.background`, and the monitor's output is tagged with the
journal generation it belongs to: a stopping monitor of the previous profile never paints
into the current one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_schema import JournalUnwritable
from desktop.core.monitor.pipeline import JOURNAL_FAILING, JOURNAL_OK, JOURNAL_WAITING, Monitor
from desktop.core.settings.profile_model import Profile
from desktop.ui.session.connection import CONNECTED

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

log = logging.getLogger(__name__)

# A journal another connection holds locked (its recorder pruning, the previous monitor's last
# flush) is opened again after these waits, each on top of SQLite's own 5 s busy timeout; then
# on every health tick until it opens: busy is never a reason to give up on the history.
JOURNAL_BUSY_RETRY_S = (0.5, 1.0, 2.0, 4.0)


class LiveFeed(QObject):
    """The journal and monitor of the active profile; `Session` shows them as properties."""

    # What monitors report from their threads, tagged with the journal generation they
    # belong to, so a stopping monitor of the previous profile can never paint into this one.
    _monitor_diff = Signal(int, object)
    _monitor_status = Signal(int, str, str)
    _monitor_reconciled = Signal(int, int)
    _monitor_journal = Signal(int, str, str)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.journal: Journal | None = None
        # Why this profile's journal could not be opened; None while it opens or once open.
        self.journal_open_error: str | None = None
        # The window shows the journal failing (not opened, or refusing writes): a journal
        # of the next profile that opens says it is written again.
        self.journal_failing = False
        self.monitor: Monitor | None = None
        # The token of a monitor start still on the pool: a health tick or a re-read of the
        # app meanwhile must not start a second one. A profile switch or a reconnect drops it,
        # and a start whose token is no longer this one is stopped when it comes back.
        self._monitor_pending: object | None = None
        # The current profile's journal is being opened on the pool; `_journal_busy_tries`
        # counts the opens that found it locked (None: not waiting on a busy journal).
        self._journal_opening = False
        self._journal_busy_tries: int | None = None
        self._journal_retry = QTimer(self)
        self._journal_retry.setSingleShot(True)
        self._journal_retry.timeout.connect(self._retry_journal)
        # Every journal opened and not yet closed, whichever profile it belongs to: shutdown
        # closes those a late open or a pending close left (guarded by _lock).
        self._journals: set[Journal] = set()
        # Every monitor that may still run, including one starting or closing on a pool
        # thread: shutdown stops them all, so none outlives the window or its journal.
        self._monitors: set[Monitor] = set()
        self._lock = threading.Lock()
        self._journal_generation = 0  # bumped by every profile switch: tags monitor output
        self._closed = False
        self._monitor_diff.connect(self._relay_diff)
        self._monitor_status.connect(self._relay_status)
        self._monitor_reconciled.connect(self._relay_reconciled)
        self._monitor_journal.connect(self._relay_journal)

    # -- the journal ------------------------------------------------------------------------
    def open_journal(self, profile: Profile) -> None:
        """Each profile has its own history, opened on the pool: the first open of an older
        journal migrates it (seconds on a big file), never on the GUI thread. Until it is
        open the views have none; the old monitor and journal close off-thread. A journal
        that cannot be opened is said in the window, and this profile then has none: never
        the previous profile's. One that is only locked by another connection is waited for."""
        old_monitor, old_journal = self.monitor, self.journal
        self.monitor = None
        self.journal = None
        self._monitor_pending = None
        self.journal_open_error = None
        self._journal_generation += 1
        self._journal_busy_tries = None
        self._journal_retry.stop()
        self.session.journal_changed.emit(None)

        closing = threading.Lock()
        closed_old = False

        def close_old() -> None:
            """Once, whichever job comes first; the other waits until it is done."""
            nonlocal closed_old
            with closing:
                if closed_old:
                    return
                closed_old = True
                if old_monitor is not None:
                    old_monitor.stop()
                    with self._lock:
                        self._monitors.discard(old_monitor)
                if old_journal is not None:
                    self._close_journal(old_journal)

        def close_if_same_file(path: Path) -> None:
            # The same file (the profile saved): the old monitor's last flush would hold the
            # write lock the open needs, so the open waits until the old one is closed.
            if old_journal is not None and old_journal.path == path:
                close_old()

        if old_monitor is not None or old_journal is not None:
            self.session.background.submit(close_old, lambda _: None)
        self._submit_journal_open(profile, before=close_if_same_file)

    def _submit_journal_open(
        self, profile: Profile, before: Callable[[Path], None] | None = None
    ) -> None:
        """Open `profile`'s journal on the pool; `before(path)` runs there first."""
        tag = self._journal_generation
        services = self.session.services
        background = self.session.background
        self._journal_opening = True

        def open_journal() -> Journal | None:
            path = services.journal_path(profile)
            if before is not None:
                before(path)
            journal = services.open_journal(profile)
            with self._lock:
                if not self._closed:
                    self._journals.add(journal)
                    return journal
            journal.close()  # the window closed meanwhile
            return None

        def opened(journal: Journal | None) -> None:
            if journal is None:
                return
            if tag != self._journal_generation or self._closed:  # another profile since
                background.submit(lambda: self._close_journal(journal), lambda _: None)
                return
            self._journal_opening = False
            waited = self._journal_busy_tries is not None
            self._journal_busy_tries = None
            self.journal = journal
            if self.journal_failing or waited:
                self.journal_failing = False
                self.session.journal_state_changed.emit(
                    JOURNAL_OK, f"journal {journal.path} opened"
                )
            self.session.journal_changed.emit(journal)
            connection = self.session.connection
            if self.monitor is None and connection.state == CONNECTED and connection.profile:
                self.start_monitor()

        def failed(exc: BaseException) -> None:
            if tag != self._journal_generation or self._closed:
                return
            self._journal_opening = False
            if isinstance(exc, JournalUnwritable) and exc.busy:
                self._wait_for_busy_journal(profile, exc)
                return
            self._journal_busy_tries = None
            log.error("cannot open the task history: %s", exc)
            self.journal_open_error = str(exc) or type(exc).__name__
            self.journal_failing = True
            self.session.journal_state_changed.emit(
                JOURNAL_FAILING, f"the task history of '{profile.name}' is not kept: {exc}"
            )

        background.submit(open_journal, opened, failed)

    def _wait_for_busy_journal(self, profile: Profile, exc: JournalUnwritable) -> None:
        """Another connection holds the journal's write lock: open it again later, sooner
        at first; once the waits run out, on every health tick (`health_tick`)."""
        tries = (self._journal_busy_tries or 0) + 1
        self._journal_busy_tries = tries
        log.info("the task history is busy, opened again later: %s", exc)
        self.journal_failing = False
        self.session.journal_state_changed.emit(
            JOURNAL_WAITING, f"waiting for the journal (busy) of '{profile.name}': {exc}"
        )
        if tries <= len(JOURNAL_BUSY_RETRY_S):
            self._journal_retry.start(int(JOURNAL_BUSY_RETRY_S[tries - 1] * 1000))

    def health_tick(self) -> None:
        """The connection's health timer: once the quick waits for a busy journal ran out,
        it is tried again on every tick until it opens."""
        if self._journal_busy_tries is not None and not self._journal_retry.isActive():
            self._retry_journal()

    def _retry_journal(self) -> None:
        """Open the current profile's busy journal again, unless it opened or is opening."""
        profile = self.session.connection.profile
        if (
            self._closed
            or profile is None
            or self.journal is not None
            or self._journal_opening
            or self._journal_busy_tries is None
        ):
            return
        self._submit_journal_open(profile)

    @property
    def journal_opening(self) -> bool:
        """The profile's journal is being opened (on the pool): not yet there, not failed."""
        return (
            self.session.connection.profile is not None
            and self.journal is None
            and not self.journal_open_error
        )

    def _close_journal(self, journal: Journal) -> None:
        with self._lock:
            if journal not in self._journals:
                return  # shutdown closed it
            self._journals.discard(journal)
        journal.close()

    def learn_priorities(self, seen: dict[str, int]) -> None:
        """Called on a job thread: priorities read off the broker for tasks the panel did not
        send go into the journal (where it has none), and the rows that learned one are sent
        to the views, so the Priority column is blank only when truly unknown."""
        journal = self.journal
        if journal is None or not seen:
            return
        learned = journal.learn_priorities(seen)
        if learned:
            self.session.rows_learned.emit(journal.rows(learned))

    # -- the monitor ------------------------------------------------------------------------
    def connection_restarted(self) -> None:
        """A reconnect: a monitor still starting for the previous attempt is not kept."""
        self._monitor_pending = None

    def start_monitor(self) -> None:
        """Start the monitor of the current journal on the pool, once: a start already on its
        way is not repeated. Needs the journal and the app's configuration."""
        connection = self.session.connection
        journal, config, profile = self.journal, connection.app_config, connection.profile
        if journal is None or self.monitor is not None or config is None or profile is None:
            return
        if self._monitor_pending is not None:
            return  # already starting on the pool: one monitor per journal
        token = self._monitor_pending = object()
        tag = self._journal_generation
        background = self.session.background

        def start() -> Monitor:
            endpoints = connection.endpoints(profile, config)
            monitor = Monitor(
                endpoints.broker_url,
                endpoints.result_backend,
                journal,
                config=config,
                on_diff=lambda diff: self._monitor_diff.emit(tag, diff),
                on_status=lambda state, text: self._monitor_status.emit(tag, state, text),
                on_reconciled=lambda count: self._monitor_reconciled.emit(tag, count),
                on_journal=lambda state, text: self._monitor_journal.emit(tag, state, text),
                failure_retention_tasks=profile.failure_retention_tasks,
                failure_retention_age_s=profile.failure_retention_days * 86400.0,
            )
            with self._lock:
                if self._closed:
                    return monitor  # not started: the session ended meanwhile
                self._monitors.add(monitor)
                monitor.start()
            return monitor

        def discard(monitor: Monitor) -> None:
            monitor.stop()
            with self._lock:
                self._monitors.discard(monitor)

        def start_failed(exc: BaseException) -> None:
            if self._monitor_pending is token:
                self._monitor_pending = None
            self.session.events_state_changed.emit("failed", f"event stream not started: {exc}")

        def started(monitor: Monitor) -> None:
            current = self._monitor_pending is token  # no switch nor reconnect since
            if current:
                self._monitor_pending = None
            if not current or self._closed or self.monitor is not None:
                background.submit(lambda: discard(monitor), lambda _: None)
                return
            self.monitor = monitor

        background.submit(start, started, start_failed)

    def _relay_diff(self, generation: int, diff: object) -> None:
        if generation == self._journal_generation and not self._closed:
            self.session.diff_ready.emit(diff)

    def _relay_status(self, generation: int, state: str, message: str) -> None:
        if generation == self._journal_generation and not self._closed:
            self.session.events_state_changed.emit(state, message)

    def _relay_journal(self, generation: int, state: str, message: str) -> None:
        if generation == self._journal_generation and not self._closed:
            if state in (JOURNAL_OK, JOURNAL_FAILING):
                self.journal_failing = state == JOURNAL_FAILING
            self.session.journal_state_changed.emit(state, message)

    def _relay_reconciled(self, generation: int, count: int) -> None:
        if generation == self._journal_generation and not self._closed:
            self.session.reconciled.emit(count)

    # -- shutdown ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every monitor and close every journal, including those still on their way."""
        with self._lock:
            self._closed = True
            monitors = list(self._monitors)
            self._monitors.clear()
        self._journal_retry.stop()
        self.monitor = None
        for monitor in monitors:
            monitor.stop()
        if self.journal is not None:
            self.journal = None
            self.session.journal_changed.emit(None)  # views let go of it before it closes
        with self._lock:
            journals = list(self._journals)
            self._journals.clear()
        for journal in journals:
            journal.close()
