"""The session's host of the active profile's local beat: its state polled off the GUI thread,
start (with the refusal checks) and stop on a pool, said to the screens by the session's
`local_beat_changed` and `local_beat_message` signals.

Why apart from the local workers' host: one process, not a list, and a start that must first
read the app's periodic tasks (RedBeat's lock) and ask the broker whether a beat answers:
seconds of work, all on a pool. Quitting stops it with the workers (`all_supervisors`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.beat.local_start import start_local_beat
from desktop.core.beat.reading import read_beat
from desktop.core.local.local_beat import BEAT, BeatRefused, BeatSupervisor, beat_state_text
from desktop.core.local.local_worker import STARTING, LocalWorker
from desktop.core.monitor.audit import FAILED
from desktop.core.monitor.events import receiver_app
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.background import Background
from desktop.ui.common.jobs import Jobs

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

log = logging.getLogger(__name__)

BEAT_POLL_MS = 1000
STOP_TIMEOUT_S = 30.0


class LocalBeatHost(QObject):
    """The active profile's local beat; `beat` is its last polled state (None: never started)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.jobs = Jobs(self)
        # A start reads the app (seconds), a stop waits out beat's own: a pool of their own,
        # so the shared job threads the screens refresh on are never held.
        self.actions = Background(self, workers=2)
        self.supervisor: BeatSupervisor | None = None
        self.beat: LocalWorker | None = None
        self.busy = ""  # "starting" / "stopping" while an action runs on the pool
        self._poll = QTimer(self)
        self._poll.setInterval(BEAT_POLL_MS)
        self._poll.timeout.connect(self.poll)

    def switch_to(self, profile: Profile) -> None:
        self.supervisor = BeatSupervisor(self.session.services.workers_dir(profile), profile)
        self.beat = None
        self.session.local_beat_changed.emit(None)
        self.poll()
        self._poll.start()

    # -- polling ------------------------------------------------------------------------------
    def poll(self) -> None:
        supervisor, profile = self.supervisor, self.session.connection.profile
        if self.jobs.running("poll") or supervisor is None or profile is None:
            return
        self.jobs.run("poll", self._read(supervisor, profile, self.session.app_config))

    async def _read(
        self, supervisor: BeatSupervisor, profile: Profile, config: EffectiveConfig | None
    ) -> None:
        services = self.session.services
        try:
            beat = await Jobs.blocking(_read_beat_state, services, supervisor, profile, config)
        except Exception as exc:
            log.info("polling the local beat: %s", exc)
            return
        if supervisor is not self.supervisor:
            return  # another profile's beat is shown now
        self.beat = beat
        self.session.local_beat_changed.emit(beat)

    # -- actions ------------------------------------------------------------------------------
    def start(self) -> None:
        supervisor, profile = self.supervisor, self.session.connection.profile
        config = self.session.app_config
        if supervisor is None or profile is None:
            return
        if config is None:
            said = "the app's configuration is still being read"
            self.session.local_beat_message.emit(said, True)
            return
        self.busy = "starting"
        self.session.local_beat_message.emit("starting the local beat…", False)
        endpoints_of = self.session.endpoints

        def run() -> LocalWorker:
            params = {"scheduler": str(config.setting("beat_scheduler") or "")}
            try:
                endpoints = endpoints_of(profile, config)  # the secret store: off the GUI
                report = read_beat(profile, endpoints)
                app = receiver_app(endpoints.broker_url, config)
                try:
                    started = start_local_beat(supervisor, endpoints, config, report, app)
                finally:
                    app.close()
            except Exception as exc:
                self.session.audit("beat start", BEAT, params, outcome=FAILED, reply=str(exc))
                raise
            self.session.audit("beat start", BEAT, params,
                               reply={"state": started.state, "pid": started.pid})  # fmt: skip
            return started

        self.actions.submit(run, self._done, self._failed)

    def stop(self) -> None:
        supervisor = self.supervisor
        if supervisor is None:
            return
        self.busy = "stopping"
        self.session.local_beat_message.emit("stopping the local beat…", False)

        def run() -> LocalWorker:
            done = supervisor.stop_beat(STOP_TIMEOUT_S)
            self.session.audit("beat stop", BEAT, {"timeout_s": STOP_TIMEOUT_S},
                               reply={"state": done.state, "exit": done.exit_code})  # fmt: skip
            return done

        self.actions.submit(run, self._done, self._failed)

    def _done(self, beat: LocalWorker) -> None:
        self.busy = ""
        self.session.local_beat_message.emit(f"local beat: {beat_state_text(beat)}", False)
        self.poll()

    def _failed(self, exc: BaseException) -> None:
        self.busy = ""
        said = f"refused: {exc}" if isinstance(exc, BeatRefused) else f"failed: {exc}"
        self.session.local_beat_message.emit(said, True)
        self.poll()

    def shutdown(self) -> None:
        self.jobs.cancel_all()
        self._poll.stop()
        self.actions.shutdown()


def _read_beat_state(
    services: Services, supervisor: BeatSupervisor, profile: Profile, config: EffectiveConfig | None
) -> LocalWorker | None:
    """On a job thread: the beat's record and status; a beat still starting is pinged (it
    answers as `celerybeat@host` once it runs)."""
    supervisor.reap()
    beat = supervisor.beat()
    if beat is not None and beat.state == STARTING and beat.pid and beat.nodename:
        app = receiver_app(services.endpoints(profile).broker_url, config)
        try:
            supervisor.confirm_online(app, timeout=0.3)
        finally:
            app.close()
        beat = supervisor.beat()
    return beat
