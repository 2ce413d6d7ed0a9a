"""The active profile and its connection, as signals the window listens to.

Everything that touches the network goes through `Background`; a generation counter drops
answers that arrive after the person has already switched to another profile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery
from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core import app_config
from desktop.core.app_config import AppConfig, AppConfigError
from desktop.core.connection import Outcome
from desktop.core.journal import Journal
from desktop.core.monitor import Monitor
from desktop.core.panel_app import panel_app
from desktop.core.profiles import Profile, ProfileError
from desktop.core.services import Services
from desktop.core.session import ConnectionFacts, check_profile, open_profile
from desktop.ui.background import Background

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, FAILED, RECONNECTING = "connecting", "connected", "failed", "reconnecting"
HEALTH_INTERVAL_MS = 5000


class Session(QObject):
    profiles_changed = Signal(list, str)  # names, active name
    state_changed = Signal(str, str)  # state, one-line reason
    facts_changed = Signal(object)  # ConnectionFacts
    app_config_changed = Signal(object, str)  # AppConfig | None, error message
    journal_changed = Signal(object)  # Journal | None, for the tasks table
    diff_ready = Signal(object)  # StateDiff of the current profile, on the GUI thread
    events_state_changed = Signal(str, str)  # event stream state, message
    reconciled = Signal(int)  # rows corrected from the result backend
    # What monitors report from their threads, tagged with the generation they belong to, so
    # a stopping monitor of the previous profile can never paint into the current one.
    _monitor_diff = Signal(int, object)
    _monitor_status = Signal(int, str, str)
    _monitor_reconciled = Signal(int, int)

    def __init__(
        self, services: Services, adhoc: Profile | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.background = Background(self)
        self.adhoc = adhoc
        self.profile: Profile | None = None
        self.facts: ConnectionFacts | None = None
        self.app_config: AppConfig | None = None
        self.journal: Journal | None = None
        self.monitor: Monitor | None = None
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
        self._monitor_diff.connect(self._relay_diff)
        self._monitor_status.connect(self._relay_status)
        self._monitor_reconciled.connect(self._relay_reconciled)

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
        self._open_journal(profile)
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
        """Each profile has its own history; the old monitor and journal close off-thread."""
        old_monitor, old_journal = self.monitor, self.journal
        self.monitor = None
        self._journal_generation += 1
        try:
            self.journal = Journal(self.services.journal_path(profile))
        except (OSError, sqlite3.Error) as exc:
            self.journal = None
            log.error("cannot open the task history: %s", exc)
        self.journal_changed.emit(self.journal)

        def close_old() -> None:
            if old_monitor is not None:
                old_monitor.stop()
                with self._monitors_lock:
                    self._monitors.discard(old_monitor)
            if old_journal is not None:
                old_journal.close()

        if old_monitor is not None or old_journal is not None:
            self.background.submit(close_old, lambda _: None)

    def _start_monitor(self, generation: int, profile: Profile) -> None:
        journal = self.journal
        if journal is None or self.monitor is not None:
            return
        services = self.services
        tag = self._journal_generation

        def start() -> Monitor:
            endpoints = services.endpoints(profile)
            options = profile.transport.to_celery() if profile.broker_kind != "rabbitmq" else {}
            monitor = Monitor(
                endpoints.broker_url,
                endpoints.result_backend,
                journal,
                transport_options=options,
                on_diff=lambda diff: self._monitor_diff.emit(tag, diff),
                on_status=lambda state, text: self._monitor_status.emit(tag, state, text),
                on_reconciled=lambda count: self._monitor_reconciled.emit(tag, count),
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

        def started(monitor: Monitor) -> None:
            current = tag == self._journal_generation and generation == self._generation
            if not current or self._closed or self.monitor is not None:
                self.background.submit(lambda: discard(monitor), lambda _: None)
                return
            self.monitor = monitor

        self.background.submit(
            start,
            started,
            lambda exc: self.events_state_changed.emit(
                "failed", f"event stream not started: {exc}"
            ),
        )

    def control(
        self,
        action: Callable[[Celery], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Run a control/send action with the panel's Celery app for this profile, off-thread."""
        profile = self.profile
        if profile is None:
            return
        services = self.services

        def work() -> Any:
            endpoints = services.endpoints(profile)
            options = profile.transport.to_celery() if profile.broker_kind != "rabbitmq" else {}
            app = panel_app(endpoints.broker_url, endpoints.result_backend, options, profile.queues)
            try:
                return action(app)
            finally:
                app.close()

        self.background.submit(work, on_done, on_error)

    def _relay_diff(self, generation: int, diff: object) -> None:
        if generation == self._journal_generation and not self._closed:
            self.diff_ready.emit(diff)

    def _relay_status(self, generation: int, state: str, message: str) -> None:
        if generation == self._journal_generation and not self._closed:
            self.events_state_changed.emit(state, message)

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
        self.app_config = None
        what = "starting the embedded broker" if profile.is_embedded else "connecting"
        self._set_state(CONNECTING, f"{what} for profile '{profile.name}'…")
        services = self.services
        self.background.submit(
            lambda: open_profile(services, profile),
            lambda facts: self._on_facts(generation, facts, opened=True),
            lambda exc: self._on_crash(generation, exc),
        )
        self.background.submit(
            lambda: app_config.read_app_config(profile),
            lambda config: self._on_app_config(generation, config, ""),
            lambda exc: self._on_app_config(
                generation,
                None,
                str(exc) if isinstance(exc, AppConfigError) else f"{type(exc).__name__}: {exc}",
            ),
        )

    def _check_health(self) -> None:
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

    def _on_app_config(self, generation: int, config: AppConfig | None, error: str) -> None:
        if generation != self._generation:
            return
        self.app_config = config
        self.app_config_changed.emit(config, error)

    def _set_state(self, state: str, message: str) -> None:
        self.state = state
        self.state_changed.emit(state, message)

    # -- shutdown -----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and threads, and stop the embedded broker unless the CLI asked to keep it."""
        with self._monitors_lock:
            self._closed = True
            monitors = list(self._monitors)
            self._monitors.clear()
        self._health.stop()
        self.background.shutdown()
        app_config.cancel_running_probes()
        self.monitor = None
        for monitor in monitors:
            monitor.stop()
        if self.journal is not None:
            journal, self.journal = self.journal, None
            self.journal_changed.emit(None)  # views let go of it before it closes
            journal.close()
        try:
            released = self.services.embedded.release()
            if released:
                log.info("embedded broker stopped")
        except Exception as exc:
            log.error("stopping the embedded broker failed: %s", exc)
