"""The active profile and its connection, as signals the window listens to.

Everything that touches the network goes through `Background`; a generation counter drops
answers that arrive after the person has already switched to another profile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.app import config as app_config
from desktop.core.app.config import Drift, drift_of, with_app_backend
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import client_app
from desktop.core.broker.connection import Outcome
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.local.supervisor import (
    START_TIMEOUT_S,
    STARTING,
    LocalWorker,
    Supervisor,
    all_supervisors,
)
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.monitor.events import receiver_app
from desktop.core.monitor.journal import Journal, JournalUnwritable
from desktop.core.monitor.pipeline import JOURNAL_FAILING, JOURNAL_OK, JOURNAL_WAITING, Monitor
from desktop.core.opening import ConnectionFacts, check_profile, open_profile
from desktop.core.services import Services
from desktop.core.settings.profiles import Endpoints, Profile, ProfileError
from desktop.ui.common.background import Background

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, FAILED, RECONNECTING = "connecting", "connected", "failed", "reconnecting"
HEALTH_INTERVAL_MS = 5000
WORKER_POLL_MS = 500
WORKER_POLL_STARTING_MS = 100  # while a worker starts: show it online soon after it is
APP_FILES_POLL_MS = 3000  # how often the app's own source files are looked at for changes
# A journal another connection holds locked (its recorder pruning, the previous monitor's last
# flush) is opened again after these waits, each on top of SQLite's own 5 s busy timeout; then
# on every health tick until it opens: busy is never a reason to give up on the history.
JOURNAL_BUSY_RETRY_S = (0.5, 1.0, 2.0, 4.0)


class Session(QObject):
    profiles_changed = Signal(list, str)  # names, active name
    state_changed = Signal(str, str)  # state, one-line reason
    facts_changed = Signal(object)  # ConnectionFacts
    # EffectiveConfig (Celery's and kombu's defaults when the app cannot be imported), and why
    # not imported ("" when it was); sent again when the app's files change
    app_config_changed = Signal(object, str)
    drift_changed = Signal(object)  # Drift: what changed since the profile last read the app
    app_config_failed = Signal(str)  # a re-read failed and the last good one is kept; "" when not
    # A profile was opened: what views show of the previous one goes (its journal opens later)
    profile_switched = Signal(str)
    # Journal | None, for the tasks table: None at once on a switch, the journal once it is
    # open (off the GUI thread: opening an old one migrates it, seconds on a big file)
    journal_changed = Signal(object)
    diff_ready = Signal(object)  # StateDiff of the current profile, on the GUI thread
    events_state_changed = Signal(str, str)  # event stream state, message
    reconciled = Signal(int)  # rows corrected from the result backend
    journal_state_changed = Signal(str, str)  # "ok" / "failing", what happened (monitor.py)
    local_workers_changed = Signal(list)  # list[LocalWorker] of the active profile
    local_worker_message = Signal(str, bool)  # message, is an error
    rows_learned = Signal(object)  # {task id: journal row}: facts learned off the broker
    # What monitors report from their threads, tagged with the generation they belong to, so
    # a stopping monitor of the previous profile can never paint into the current one.
    _monitor_diff = Signal(int, object)
    _monitor_status = Signal(int, str, str)
    _monitor_reconciled = Signal(int, int)
    _monitor_journal = Signal(int, str, str)

    def __init__(
        self, services: Services, adhoc: Profile | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.background = Background(self)
        self.worker_background = Background(self, workers=8)
        self.adhoc = adhoc
        self.profile: Profile | None = None
        self.facts: ConnectionFacts | None = None
        self.app_config: EffectiveConfig | None = None
        self.drift = Drift([], None)
        self._app_files: dict[str, float] = {}  # the app's source files and their mtimes
        self._watching_files = False
        self.journal: Journal | None = None
        # Why this profile's journal could not be opened; None while it opens or once open.
        self.journal_open_error: str | None = None
        # The window shows the journal failing (not opened, or refusing writes): a journal
        # of the next profile that opens says it is written again.
        self.journal_failing = False
        self.monitor: Monitor | None = None
        # (journal generation, connection generation) of a monitor start still on the pool:
        # a health tick or a re-read of the app meanwhile must not start a second one.
        self._monitor_pending: tuple[int, int] | None = None
        # The current profile's journal is being opened on the pool; `_journal_busy_tries`
        # counts the opens that found it locked (None: not waiting on a busy journal).
        self._journal_opening = False
        self._journal_busy_tries: int | None = None
        self._journal_retry = QTimer(self)
        self._journal_retry.setSingleShot(True)
        self._journal_retry.timeout.connect(self._retry_journal)
        # Every journal opened and not yet closed, whichever profile it belongs to: shutdown
        # closes those a late open or a pending close left (guarded by _monitors_lock).
        self._journals: set[Journal] = set()
        # Every monitor that may still run, including one starting or closing on a pool
        # thread: shutdown stops them all, so none outlives the window or its journal.
        self._monitors: set[Monitor] = set()
        self._monitors_lock = threading.Lock()
        self.state = CONNECTING
        self._generation = 0  # bumped by every (re)connect: drops stale connection answers
        self._journal_generation = 0  # bumped by every profile switch: tags monitor output
        self._checking = False
        self._closed = False
        self._health = QTimer(self)
        self._health.setInterval(HEALTH_INTERVAL_MS)
        self._health.timeout.connect(self._check_health)
        self.supervisor: Supervisor | None = None
        self.local_workers: list[LocalWorker] = []
        self._polling_workers = False
        self.quit_workers = "none"  # the window's answer on quit: 'stop', 'leave' or 'none'
        self.quit_grace_s = 30.0
        self._worker_poll = QTimer(self)
        self._worker_poll.setInterval(WORKER_POLL_MS)
        self._worker_poll.timeout.connect(self.poll_local_workers)
        self._files_poll = QTimer(self)
        self._files_poll.setInterval(APP_FILES_POLL_MS)
        self._files_poll.timeout.connect(self._check_app_files)
        self._monitor_diff.connect(self._relay_diff)
        self._monitor_status.connect(self._relay_status)
        self._monitor_reconciled.connect(self._relay_reconciled)
        self._monitor_journal.connect(self._relay_journal)

    # -- profiles ---------------------------------------------------------------------------
    def profile_names(self) -> list[str]:
        names = [p.name for p in self.services.profiles.load()]
        if self.adhoc is not None:
            names.append(self.adhoc.name)
        return names

    def start(self, name: str | None = None) -> None:
        try:
            chosen = name or (self.adhoc.name if self.adhoc else None)
            self.activate(chosen or self.services.profiles.active_name(), remember=False)
        except ProfileError as exc:
            self._set_state(FAILED, str(exc))

    def activate(self, name: str, *, remember: bool = True) -> None:
        if self.adhoc is not None and name == self.adhoc.name:
            profile = self.adhoc
        else:
            profile = self.services.profiles.get(name)
            if remember:
                self.services.profiles.set_active(name)
        self.profile = profile
        self.profiles_changed.emit(self.profile_names(), profile.name)
        self.profile_switched.emit(profile.name)
        self._open_journal(profile)
        # Workers belong to the profile: its own dir, adopted from there on every start.
        self.supervisor = Supervisor(self.services.workers_dir(profile), profile)
        self.local_workers = []
        self.local_workers_changed.emit([])
        self.poll_local_workers()
        self._worker_poll.start()
        self._connect()

    def save(self, profile: Profile, replace_name: str | None) -> Profile:
        """Raises ProfileError with field messages; the dialog shows them.

        `replace_name` None means a new profile, which must not overwrite an existing one.
        """
        saved = self.services.profiles.save(
            profile, replace_name=replace_name, create=replace_name is None
        )
        if self.profile is None or self.profile.name in (replace_name, saved.name):
            self.activate(saved.name)
        else:
            self.profiles_changed.emit(self.profile_names(), self.profile.name)
        return saved

    def remove(self, name: str) -> None:
        self.services.profiles.remove(name)
        if self.profile is not None and self.profile.name == name:
            self.activate(self.services.profiles.active_name())
        else:
            current = self.profile.name if self.profile else ""
            self.profiles_changed.emit(self.profile_names(), current)

    # -- history and live events --------------------------------------------------------------
    def _open_journal(self, profile: Profile) -> None:
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
        self.journal_changed.emit(None)

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
                    with self._monitors_lock:
                        self._monitors.discard(old_monitor)
                if old_journal is not None:
                    self._close_journal(old_journal)

        def close_if_same_file(path: Path) -> None:
            # The same file (the profile saved): the old monitor's last flush would hold the
            # write lock the open needs, so the open waits until the old one is closed.
            if old_journal is not None and old_journal.path == path:
                close_old()

        if old_monitor is not None or old_journal is not None:
            self.background.submit(close_old, lambda _: None)
        self._submit_journal_open(profile, before=close_if_same_file)

    def _submit_journal_open(
        self, profile: Profile, before: Callable[[Path], None] | None = None
    ) -> None:
        """Open `profile`'s journal on the pool; `before(path)` runs there first."""
        tag = self._journal_generation
        services = self.services
        self._journal_opening = True

        def open_journal() -> Journal | None:
            path = services.journal_path(profile)
            if before is not None:
                before(path)
            journal = Journal(path)
            with self._monitors_lock:
                if not self._closed:
                    self._journals.add(journal)
                    return journal
            journal.close()  # the window closed meanwhile
            return None

        def opened(journal: Journal | None) -> None:
            if journal is None:
                return
            if tag != self._journal_generation or self._closed:  # another profile since
                self.background.submit(lambda: self._close_journal(journal), lambda _: None)
                return
            self._journal_opening = False
            waited = self._journal_busy_tries is not None
            self._journal_busy_tries = None
            self.journal = journal
            if self.journal_failing or waited:
                self.journal_failing = False
                self.journal_state_changed.emit(JOURNAL_OK, f"journal {journal.path} opened")
            self.journal_changed.emit(journal)
            if self.monitor is None and self.state == CONNECTED and self.profile is not None:
                self._start_monitor(self._generation, self.profile)

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
            self.journal_state_changed.emit(
                JOURNAL_FAILING, f"the task history of '{profile.name}' is not kept: {exc}"
            )

        self.background.submit(open_journal, opened, failed)

    def _wait_for_busy_journal(self, profile: Profile, exc: JournalUnwritable) -> None:
        """Another connection holds the journal's write lock: open it again later, sooner
        at first; once the waits run out, on every health tick (`_check_health`)."""
        tries = (self._journal_busy_tries or 0) + 1
        self._journal_busy_tries = tries
        log.info("the task history is busy, opened again later: %s", exc)
        self.journal_failing = False
        self.journal_state_changed.emit(
            JOURNAL_WAITING, f"waiting for the journal (busy) of '{profile.name}': {exc}"
        )
        if tries <= len(JOURNAL_BUSY_RETRY_S):
            self._journal_retry.start(int(JOURNAL_BUSY_RETRY_S[tries - 1] * 1000))

    def _retry_journal(self) -> None:
        """Open the current profile's busy journal again, unless it opened or is opening."""
        if (
            self._closed
            or self.profile is None
            or self.journal is not None
            or self._journal_opening
            or self._journal_busy_tries is None
        ):
            return
        self._submit_journal_open(self.profile)

    @property
    def journal_opening(self) -> bool:
        """The profile's journal is being opened (on the pool): not yet there, not failed."""
        return self.profile is not None and self.journal is None and not self.journal_open_error

    def _close_journal(self, journal: Journal) -> None:
        with self._monitors_lock:
            if journal not in self._journals:
                return  # shutdown closed it
            self._journals.discard(journal)
        journal.close()

    def _start_monitor(self, generation: int, profile: Profile) -> None:
        journal, config = self.journal, self.app_config
        tag = self._journal_generation
        pending = (tag, generation)
        if journal is None or self.monitor is not None or config is None:
            return
        if self._monitor_pending == pending:
            return  # already starting on the pool: one monitor per journal
        self._monitor_pending = pending

        def start() -> Monitor:
            endpoints = self.endpoints(profile, config)
            monitor = Monitor(
                endpoints.broker_url,
                endpoints.result_backend,
                journal,
                config=config,
                on_diff=lambda diff: self._monitor_diff.emit(tag, diff),
                on_status=lambda state, text: self._monitor_status.emit(tag, state, text),
                on_reconciled=lambda count: self._monitor_reconciled.emit(tag, count),
                on_journal=lambda state, text: self._monitor_journal.emit(tag, state, text),
            )
            with self._monitors_lock:
                if self._closed:
                    return monitor  # not started: the session ended meanwhile
                self._monitors.add(monitor)
                monitor.start()
            return monitor

        def discard(monitor: Monitor) -> None:
            monitor.stop()
            with self._monitors_lock:
                self._monitors.discard(monitor)

        def start_failed(exc: BaseException) -> None:
            if self._monitor_pending == pending:
                self._monitor_pending = None
            self.events_state_changed.emit("failed", f"event stream not started: {exc}")

        def started(monitor: Monitor) -> None:
            if self._monitor_pending == pending:
                self._monitor_pending = None
            current = tag == self._journal_generation and generation == self._generation
            if not current or self._closed or self.monitor is not None:
                self.background.submit(lambda: discard(monitor), lambda _: None)
                return
            self.monitor = monitor

        self.background.submit(start, started, start_failed)

    def control(
        self,
        action: Callable[[Celery], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Run a control/send action with the panel's Celery app for this profile, off-thread."""
        profile, config = self.profile, self.app_config
        if profile is None:
            return
        if config is None:
            on_error(RuntimeError("the app's configuration is still being read"))
            return

        def work() -> Any:
            endpoints = self.endpoints(profile, config)
            # the window reads results, it never waits on .get()
            app = client_app(config, endpoints, poll_results=True)
            try:
                return action(app)
            finally:
                app.close()

        self.background.submit(work, on_done, on_error)

    def learn_priorities(self, seen: dict[str, int]) -> None:
        """Called on a job thread: priorities read off the broker for tasks the panel did not
        send go into the journal (where it has none), and the rows that learned one are sent
        to the views, so the Priority column is blank only when truly unknown."""
        journal = self.journal
        if journal is None or not seen:
            return
        learned = journal.learn_priorities(seen)
        if learned:
            self.rows_learned.emit(journal.rows(learned))

    def endpoints(self, profile: Profile, config: EffectiveConfig) -> Endpoints:
        """The profile's URLs, passwords restored, with the app's own result backend when the
        profile names none. Blocking only on the secret store: call it off the GUI thread."""
        return with_app_backend(self.services.endpoints(profile), config)

    def _relay_diff(self, generation: int, diff: object) -> None:
        if generation == self._journal_generation and not self._closed:
            self.diff_ready.emit(diff)

    def _relay_status(self, generation: int, state: str, message: str) -> None:
        if generation == self._journal_generation and not self._closed:
            self.events_state_changed.emit(state, message)

    def _relay_journal(self, generation: int, state: str, message: str) -> None:
        if generation == self._journal_generation and not self._closed:
            if state in (JOURNAL_OK, JOURNAL_FAILING):
                self.journal_failing = state == JOURNAL_FAILING
            self.journal_state_changed.emit(state, message)

    def _relay_reconciled(self, generation: int, count: int) -> None:
        if generation == self._journal_generation and not self._closed:
            self.reconciled.emit(count)

    # -- connection -------------------------------------------------------------------------
    def reconnect(self) -> None:
        if self.profile is not None:
            self._connect()

    def _connect(self) -> None:
        assert self.profile is not None
        self._generation += 1
        generation = self._generation
        profile = self.profile
        self._health.stop()
        self._files_poll.stop()
        self.app_config = None
        self.drift = Drift([], None)
        self.drift_changed.emit(self.drift)
        what = "starting the embedded broker" if profile.is_embedded else "connecting"
        self._set_state(CONNECTING, f"{what} for profile '{profile.name}'…")
        services = self.services
        self.background.submit(
            lambda: open_profile(services, profile),
            lambda facts: self._on_facts(generation, facts, opened=True),
            lambda exc: self._on_crash(generation, exc),
        )
        self._read_app_config(generation, profile)

    def _read_app_config(
        self, generation: int, profile: Profile, known_files: list[str] | None = None
    ) -> None:
        """In a child process, off the GUI thread; never fails (defaults when the app does).
        `known_files`: the app's files when this is a re-read after one changed; watched on
        even when the app no longer imports, so fixing it is noticed."""
        services = self.services

        def read() -> tuple[EffectiveConfig, Drift, dict[str, float]]:
            endpoints = None
            with contextlib.suppress(EmbeddedBrokerError, ProfileError):
                endpoints = services.endpoints(profile)
            config = app_config.read_effective_config(profile, endpoints)
            files = _mtimes_of(config.files or list(known_files or []))
            return config, drift_of(profile, config, services.config_history()), files

        def failed(exc: BaseException) -> None:
            log.error("reading the app failed: %s: %s", type(exc).__name__, exc)
            if generation == self._generation and not self._closed:
                self.app_config_failed.emit(f"reading the app failed: {exc}")

        self.background.submit(read, lambda found: self._on_app_config(generation, *found), failed)

    def _check_health(self) -> None:
        if self._journal_busy_tries is not None and not self._journal_retry.isActive():
            self._retry_journal()  # the quick waits ran out: every tick until it opens
        if self._checking or self.profile is None:
            return
        self._checking = True
        generation = self._generation
        profile = self.profile
        services = self.services
        self.background.submit(
            lambda: check_profile(services, profile),
            lambda facts: self._on_facts(generation, facts, opened=False),
            lambda exc: self._on_crash(generation, exc),
        )

    def _on_facts(self, generation: int, facts: ConnectionFacts, *, opened: bool) -> None:
        if not opened:
            self._checking = False
        if generation != self._generation or self._closed:
            return
        self.facts = facts
        self.facts_changed.emit(facts)
        if facts.report.ok:
            self._set_state(CONNECTED, facts.report.message)
            if self.monitor is None and self.profile is not None:
                self._start_monitor(generation, self.profile)
        elif self.state in (CONNECTED, RECONNECTING) and facts.report.outcome is not Outcome.OK:
            self._set_state(RECONNECTING, f"connection lost: {facts.report.message}")
        else:
            self._set_state(FAILED, facts.report.message)
        self._health.start()

    def _on_crash(self, generation: int, exc: BaseException) -> None:
        self._checking = False
        if generation == self._generation and not self._closed:
            log.error("connection job failed: %s: %s", type(exc).__name__, exc)
            self._set_state(FAILED, f"{type(exc).__name__}: {exc}")
            self._health.start()

    def _on_app_config(
        self, generation: int, config: EffectiveConfig, drift: Drift, files: dict[str, float]
    ) -> None:
        if generation != self._generation or self._closed:
            return
        self._app_files = files
        if files:
            self._files_poll.start()
        last_good = self.app_config
        if not config.imported and last_good is not None and last_good.imported:
            # A settings file saved half-way: keep acting as the app did until it imports
            # again (its files are still watched), rather than fall back to Celery's defaults.
            self.app_config_failed.emit(
                f"The app no longer imports ({config.error}); the panel keeps the configuration "
                "it last read until it does."
            )
            return
        self.app_config = config
        self.app_config_failed.emit("")
        profile = self.profile
        first_read = profile is not None and not profile.app_fingerprint and config.imported
        if first_read and profile is not None and profile is not self.adhoc:
            self._remember_config(profile, config)  # what later reads are compared to
        self.drift = drift
        self.app_config_changed.emit(config, config.error)
        self.drift_changed.emit(drift)
        if self.monitor is None and self.state == CONNECTED and self.profile is not None:
            self._start_monitor(generation, self.profile)

    def accept_app_config(self) -> None:
        """The person accepts the app's changed configuration: it is what drift compares to."""
        if self.profile is not None and self.app_config is not None:
            self._remember_config(self.profile, self.app_config)
            self.drift = Drift([], None)
            self.drift_changed.emit(self.drift)

    def _remember_config(self, profile: Profile, config: EffectiveConfig) -> None:
        try:
            profile.app_fingerprint = config.fingerprint
            self.services.config_history().remember(profile.name, config)
            self.services.profiles.set_fingerprint(profile.name, config.fingerprint)
        except (OSError, ProfileError) as exc:
            log.warning("could not remember the app's configuration: %s", exc)

    def _check_app_files(self) -> None:
        """A settings file edited: read the app again (drift shows where it matters)."""
        if self._watching_files or not self._app_files or self.profile is None:
            return
        self._watching_files = True
        known, generation, profile = dict(self._app_files), self._generation, self.profile

        def changed() -> bool:
            return _mtimes_of(list(known)) != known

        def done(is_changed: bool) -> None:
            self._watching_files = False
            if is_changed and generation == self._generation and not self._closed:
                self._app_files = {}
                self._read_app_config(generation, profile, list(known))

        def failed(_exc: BaseException) -> None:
            self._watching_files = False

        self.background.submit(changed, done, failed)

    def fail(self, message: str) -> None:
        """What went wrong opening a profile, shown as the connection's state."""
        self._set_state(FAILED, message)

    def _set_state(self, state: str, message: str) -> None:
        self.state = state
        self.state_changed.emit(state, message)

    # -- local workers ------------------------------------------------------------------------
    def poll_local_workers(self) -> None:
        """Read the workers' state files, and ping those still starting, off the GUI thread."""
        supervisor, profile, config = self.supervisor, self.profile, self.app_config
        if self._polling_workers or supervisor is None or profile is None or self._closed:
            return
        self._polling_workers = True
        services = self.services

        def work() -> tuple[Supervisor, list[LocalWorker]]:
            supervisor.reap()
            workers = supervisor.workers()
            if any(w.state == STARTING and w.pid for w in workers):
                endpoints = services.endpoints(profile)
                app = receiver_app(endpoints.broker_url, config)
                try:
                    supervisor.confirm_online(app, timeout=0.3)
                finally:
                    app.close()
                # Only after a ping went through: a broker outage never gets a worker killed.
                for worker in supervisor.expire_starting():
                    self.local_worker_message.emit(
                        f"{worker.nodename} did not come online within "
                        f"{START_TIMEOUT_S:.0f} s and was stopped (is the broker reachable "
                        f"from it?); its log: {' | '.join(supervisor.log_tail(worker.name, 3))}",
                        True,
                    )
                workers = supervisor.workers()
            return supervisor, workers

        def done(result: tuple[Supervisor, list[LocalWorker]]) -> None:
            self._polling_workers = False
            if result[0] is self.supervisor:
                self.local_workers = result[1]
                starting = any(w.state == STARTING for w in result[1])
                self._worker_poll.setInterval(
                    WORKER_POLL_STARTING_MS if starting else WORKER_POLL_MS
                )
                self.local_workers_changed.emit(result[1])

        def failed(exc: BaseException) -> None:
            self._polling_workers = False
            log.info("polling local workers: %s", exc)

        self.background.submit(work, done, failed)

    def note_worker_online(self, nodename: str) -> None:
        """A worker-online event or heartbeat from a local worker still shown as starting."""
        if self.supervisor is not None and any(
            w.nodename == nodename and w.state == STARTING for w in self.local_workers
        ):
            self.supervisor.mark_online(nodename)
            self.poll_local_workers()

    def _worker_job(
        self, what: str, job: Callable[[Supervisor], Any], *, long: bool = False
    ) -> None:
        supervisor, profile = self.supervisor, self.profile
        if supervisor is None or profile is None:
            return

        def done(_result: Any) -> None:
            self.poll_local_workers()

        def failed(exc: BaseException) -> None:
            self.local_worker_message.emit(f"{what} failed: {exc}", True)
            self.poll_local_workers()

        # A restart waits out a warm stop: it gets its own pool so polls and inspect go on.
        pool = self.worker_background if long else self.background
        pool.submit(lambda: job(supervisor), done, failed)

    def start_local_worker(self, spec: WorkerSpec) -> None:
        profile, config = self.profile, self.app_config
        assert profile is not None
        if config is None:
            self.local_worker_message.emit("the app's configuration is still being read", True)
            return
        self.local_worker_message.emit(f"starting {spec.nodename}…", False)
        self._worker_poll.setInterval(WORKER_POLL_STARTING_MS)
        self._worker_job(
            f"starting {spec.name}",
            lambda sup: sup.start(spec, self.endpoints(profile, config), config),
        )

    def stop_local_worker(self, name: str) -> None:
        self._worker_job(f"stopping {name}", lambda sup: sup.stop(name))

    def kill_local_worker(self, name: str) -> None:
        self._worker_job(f"killing {name}", lambda sup: sup.kill(name))

    def restart_local_worker(self, name: str, grace_s: float) -> None:
        profile, config = self.profile, self.app_config
        assert profile is not None
        if config is None:
            self.local_worker_message.emit("the app's configuration is still being read", True)
            return
        self._worker_job(
            f"restarting {name}",
            lambda sup: sup.restart(name, self.endpoints(profile, config), config, grace_s),
            long=True,
        )

    def forget_local_worker(self, name: str) -> None:
        self._worker_job(f"removing {name}", lambda sup: sup.forget(name))

    def _all_supervisors(self) -> list[Supervisor]:
        return all_supervisors(self.services.paths.data_dir / "workers")

    def running_local_workers(self) -> list[LocalWorker]:
        """Every profile's, not only the active one: quit asks about all of them."""
        return [w for sup in self._all_supervisors() for w in sup.workers() if w.running]

    def stop_local_workers_on_quit(self, grace_s: float) -> list[LocalWorker]:
        """Quit with 'stop': warm shutdown, waiting up to the grace period; what still runs
        then keeps running (its keeper finishes the shutdown) and keeps the broker up."""
        supervisors = self._all_supervisors()
        for supervisor in supervisors:
            for worker in supervisor.workers():
                if worker.running:
                    with contextlib.suppress(Exception):
                        supervisor.stop(worker.name)
        left = []
        for supervisor in supervisors:
            left += supervisor.stop_all(grace_s=grace_s, kill_after=False)
        return [w for w in left if w.running]

    # -- shutdown -----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and threads, and stop the embedded broker unless the CLI asked to keep it."""
        with self._monitors_lock:
            self._closed = True
            monitors = list(self._monitors)
            self._monitors.clear()
        self._health.stop()
        self._journal_retry.stop()
        self._worker_poll.stop()
        self._files_poll.stop()
        self.background.shutdown()
        self.worker_background.shutdown()
        app_config.cancel_running_probes()
        self.monitor = None
        for monitor in monitors:
            monitor.stop()
        if self.journal is not None:
            self.journal = None
            self.journal_changed.emit(None)  # views let go of it before it closes
        with self._monitors_lock:
            journals = list(self._journals)
            self._journals.clear()
        for journal in journals:
            journal.close()
        if self.quit_workers == "stop":
            log.info("stopping local workers (running tasks finish first)")
            for worker in self.stop_local_workers_on_quit(self.quit_grace_s):
                log.warning("%s still finishing after the grace period", worker.nodename)
        if self.running_local_workers():
            # Local workers left running need their broker: the embedded one stays up.
            log.info("local workers still run: the embedded broker keeps running for them")
            return
        try:
            released = self.services.embedded.release()
            if released:
                log.info("embedded broker stopped")
        except Exception as exc:
            log.error("stopping the embedded broker failed: %s", exc)


def _mtimes_of(paths: list[str]) -> dict[str, float]:
    found = {}
    for path in paths:
        try:
            found[path] = os.stat(path).st_mtime
        except OSError:
            found[path] = -1.0  # gone: a change too
    return found
