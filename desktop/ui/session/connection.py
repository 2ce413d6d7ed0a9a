"""The session's profile and connection: opening a profile (the embedded broker started when
it is one), the connection test every few seconds, the app's configuration and its drift, and
switching profiles.

Why jobs here: every wait (opening the profile, a health check, reading the app, looking at
its files) is an asyncio job on the session's `Jobs`. A reconnect or a profile switch cancels
the older attempt's jobs, so a late answer never lands on the new connection, with no
generation counter; shutdown cancels them all, so nothing is delivered after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import Celery
from PySide6.QtCore import QObject, QTimer

from desktop.core.app import config as app_config
from desktop.core.app.config import Drift, drift_of, with_app_backend
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import client_app
from desktop.core.broker.connection import Outcome
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.opening import ConnectionFacts, check_profile, open_profile
from desktop.core.services import Services
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.profile_model import Endpoints, Profile
from desktop.ui.common.jobs import Jobs

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, FAILED, RECONNECTING = "connecting", "connected", "failed", "reconnecting"
HEALTH_INTERVAL_MS = 5000
APP_FILES_POLL_MS = 3000  # how often the app's own source files are looked at for changes

# The jobs of one connection attempt: a reconnect cancels them all (their answers are stale).
_ATTEMPT_JOBS = ("open", "health", "app-config", "files")


class ProfileConnection(QObject):
    """The active profile and its connection; `Session` shows its state as properties."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.services: Services = session.services
        self.adhoc = session.adhoc
        self.jobs = Jobs(self)
        self.profile: Profile | None = None
        self.facts: ConnectionFacts | None = None
        self.app_config: EffectiveConfig | None = None
        self.drift = Drift([], None)
        self.state = CONNECTING
        self._app_files: dict[str, float] = {}  # the app's source files and their mtimes
        self._health = QTimer(self)
        self._health.setInterval(HEALTH_INTERVAL_MS)
        self._health.timeout.connect(self._check_health)
        self._files_poll = QTimer(self)
        self._files_poll.setInterval(APP_FILES_POLL_MS)
        self._files_poll.timeout.connect(self._check_app_files)
        # profiles.toml as last read: a profile added or removed by `celery-desk profile` (or
        # another window) shows in the list without a switch.
        self._profiles_mtime: float | None = None
        self._profiles_poll = QTimer(self)
        self._profiles_poll.setInterval(APP_FILES_POLL_MS)
        self._profiles_poll.timeout.connect(self._check_profiles_file)

    # -- profiles ---------------------------------------------------------------------------
    def profile_names(self) -> list[str]:
        """The profiles of the file (and the ad-hoc one), noting the file's time as read."""
        path = str(self.services.paths.profiles_file)
        self._profiles_mtime = _mtimes_of([path])[path]
        names = [p.name for p in self.services.profiles.load()]
        if self.adhoc is not None:
            names.append(self.adhoc.name)
        return names

    def start(self, name: str | None = None) -> None:
        self._profiles_poll.start()
        try:
            chosen = name or (self.adhoc.name if self.adhoc else None)
            self.activate(chosen or self.services.profiles.active_name(), remember=False)
        except ProfileError as exc:
            self.set_state(FAILED, str(exc))

    def activate(self, name: str, *, remember: bool = True) -> None:
        if self.adhoc is not None and name == self.adhoc.name:
            profile = self.adhoc
        else:
            profile = self.services.profiles.get(name)
            if remember:
                self.services.profiles.set_active(name)
        self.profile = profile
        session = self.session
        session.profiles_changed.emit(self.profile_names(), profile.name)
        session.profile_switched.emit(profile.name)
        session.feed.open_journal(profile)
        # Workers belong to the profile: its own dir, adopted from there on every start.
        session.workers_host.switch_to(profile)
        session.beat_host.switch_to(profile)
        self._connect()

    def save(self, profile: Profile, replace_name: str | None) -> Profile:
        """Raises ProfileError with field messages; the dialog shows them.

        `replace_name` None means a new profile, which must not overwrite an existing one.
        """
        saved = self.services.profiles.save(
            profile, replace_name=replace_name, create=replace_name is None
        )
        self.after_save(saved, replace_name)
        return saved

    def after_save(self, saved: Profile, replace_name: str | None) -> None:
        """A profile was written (here or on a job thread): open it again if it is the one
        in use, else list it."""
        if self.profile is None or self.profile.name in (replace_name, saved.name):
            self.activate(saved.name)
        else:
            self.session.profiles_changed.emit(self.profile_names(), self.profile.name)

    def remove(self, name: str) -> None:
        self.services.profiles.remove(name)
        if self.profile is not None and self.profile.name == name:
            self.activate(self.services.profiles.active_name())
        else:
            current = self.profile.name if self.profile else ""
            self.session.profiles_changed.emit(self.profile_names(), current)

    # -- connection -------------------------------------------------------------------------
    def reconnect(self) -> None:
        if self.profile is not None:
            self._connect()

    def _connect(self) -> None:
        assert self.profile is not None
        profile = self.profile
        for key in _ATTEMPT_JOBS:
            self.jobs.cancel(key)
        self.session.feed.connection_restarted()
        self._health.stop()
        self._files_poll.stop()
        self.app_config = None
        self.drift = Drift([], None)
        self.session.drift_changed.emit(self.drift)
        what = "starting the embedded broker" if profile.is_embedded else "connecting"
        self.set_state(CONNECTING, f"{what} for profile '{profile.name}'…")
        self.jobs.run("open", self._ask(open_profile, profile))
        self._read_app_config(profile)

    async def _ask(
        self, how: Callable[[Services, Profile], ConnectionFacts], profile: Profile
    ) -> None:
        """Open the profile or check it (`how`) off the GUI thread, then show what was found."""
        try:
            facts = await Jobs.blocking(how, self.services, profile)
        except Exception as exc:
            log.error("connection job failed: %s: %s", type(exc).__name__, exc)
            self.set_state(FAILED, f"{type(exc).__name__}: {exc}")
            self._health.start()
            return
        self._on_facts(facts)

    def _read_app_config(self, profile: Profile, known_files: list[str] | None = None) -> None:
        """In a child process, off the GUI thread; never fails (defaults when the app does).
        `known_files`: the app's files when this is a re-read after one changed; watched on
        even when the app no longer imports, so fixing it is noticed."""
        self.jobs.run("app-config", self._read_app(profile, known_files))

    async def _read_app(self, profile: Profile, known_files: list[str] | None) -> None:
        try:
            found = await Jobs.blocking(
                _read_app_config, self.services, profile, list(known_files or [])
            )
        except Exception as exc:
            log.error("reading the app failed: %s: %s", type(exc).__name__, exc)
            self.session.app_config_failed.emit(f"reading the app failed: {exc}")
            return
        self._on_app_config(*found)

    def _check_health(self) -> None:
        self.session.feed.health_tick()
        if self.jobs.running("health") or self.profile is None:
            return
        self.jobs.run("health", self._ask(check_profile, self.profile))

    def _on_facts(self, facts: ConnectionFacts) -> None:
        self.facts = facts
        self.session.facts_changed.emit(facts)
        if facts.report.ok:
            self.set_state(CONNECTED, facts.report.message)
            if self.session.feed.monitor is None and self.profile is not None:
                self.session.feed.start_monitor()
        elif self.state in (CONNECTED, RECONNECTING) and facts.report.outcome is not Outcome.OK:
            self.set_state(RECONNECTING, f"connection lost: {facts.report.message}")
        else:
            self.set_state(FAILED, facts.report.message)
        self._health.start()

    def _on_app_config(
        self, config: EffectiveConfig, drift: Drift, files: dict[str, float]
    ) -> None:
        self._app_files = files
        if files:
            self._files_poll.start()
        last_good = self.app_config
        session = self.session
        if not config.imported and last_good is not None and last_good.imported:
            # A settings file saved half-way: keep acting as the app did until it imports
            # again (its files are still watched), rather than fall back to Celery's defaults.
            session.app_config_failed.emit(
                f"The app no longer imports ({config.error}); the panel keeps the configuration "
                "it last read until it does."
            )
            return
        self.app_config = config
        session.app_config_failed.emit("")
        profile = self.profile
        first_read = profile is not None and not profile.app_fingerprint and config.imported
        if first_read and profile is not None and profile is not self.adhoc:
            self._remember_config(profile, config)  # what later reads are compared to
        self.drift = drift
        session.app_config_changed.emit(config, config.error)
        session.drift_changed.emit(drift)
        if session.feed.monitor is None and self.state == CONNECTED and self.profile is not None:
            session.feed.start_monitor()

    def accept_app_config(self) -> None:
        """The person accepts the app's changed configuration: it is what drift compares to."""
        if self.profile is not None and self.app_config is not None:
            self._remember_config(self.profile, self.app_config)
            self.drift = Drift([], None)
            self.session.drift_changed.emit(self.drift)

    def _remember_config(self, profile: Profile, config: EffectiveConfig) -> None:
        try:
            profile.app_fingerprint = config.fingerprint
            self.services.config_history().remember(profile.name, config)
            self.services.profiles.set_fingerprint(profile.name, config.fingerprint)
        except (OSError, ProfileError) as exc:
            log.warning("could not remember the app's configuration: %s", exc)

    def _check_app_files(self) -> None:
        """A settings file edited: read the app again (drift shows where it matters)."""
        if self.jobs.running("files") or not self._app_files or self.profile is None:
            return
        self.jobs.run("files", self._look_at_files(dict(self._app_files), self.profile))

    async def _look_at_files(self, known: dict[str, float], profile: Profile) -> None:
        try:
            changed = await Jobs.blocking(_mtimes_of, list(known)) != known
        except Exception:
            return
        if changed:
            self._app_files = {}
            self._read_app_config(profile, list(known))

    def _check_profiles_file(self) -> None:
        if not self.jobs.running("profiles file"):
            self.jobs.run("profiles file", self._look_at_profiles_file())

    async def _look_at_profiles_file(self) -> None:
        """Lists the profiles again when the file changed since it was last looked at; a
        file that cannot be read now is left for the next switch to report."""
        path = str(self.services.paths.profiles_file)
        try:
            mtime = (await Jobs.blocking(_mtimes_of, [path]))[path]
            if self._profiles_mtime is None or mtime == self._profiles_mtime:
                return
            names = await Jobs.blocking(self.profile_names)
        except Exception:
            return
        current = self.profile.name if self.profile is not None else ""
        if current and current not in names:
            names.append(current)  # removed elsewhere, still in use here until a switch
        self.session.profiles_changed.emit(names, current)

    def fail(self, message: str) -> None:
        """What went wrong opening a profile, shown as the connection's state."""
        self.set_state(FAILED, message)

    def set_state(self, state: str, message: str) -> None:
        self.state = state
        self.session.state_changed.emit(state, message)

    # -- what screens run with the profile ---------------------------------------------------
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

        self.session.background.submit(work, on_done, on_error)

    def endpoints(self, profile: Profile, config: EffectiveConfig) -> Endpoints:
        """The profile's URLs, passwords restored, with the app's own result backend when the
        profile names none. Blocking only on the secret store: call it off the GUI thread."""
        return with_app_backend(self.services.endpoints(profile), config)

    def shutdown(self) -> None:
        """No answer of a connection job lands after this, and no timer fires again."""
        self.jobs.cancel_all()
        self._health.stop()
        self._profiles_poll.stop()
        self._files_poll.stop()
        app_config.cancel_running_probes()


def _read_app_config(
    services: Services, profile: Profile, known_files: list[str]
) -> tuple[EffectiveConfig, Drift, dict[str, float]]:
    """On a job thread: the app's configuration, its drift and its files' mtimes."""
    endpoints = None
    with contextlib.suppress(EmbeddedBrokerError, ProfileError):
        endpoints = services.endpoints(profile)
    config = app_config.read_effective_config(profile, endpoints)
    files = _mtimes_of(config.files or known_files)
    return config, drift_of(profile, config, services.config_history()), files


def _mtimes_of(paths: list[str]) -> dict[str, float]:
    found = {}
    for path in paths:
        try:
            found[path] = os.stat(path).st_mtime
        except OSError:
            found[path] = -1.0  # gone: a change too
    return found
