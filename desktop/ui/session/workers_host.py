"""The session's host of local workers: the active profile's supervisor, its workers' state
polled off the GUI thread, the start/stop/kill/restart/forget actions, and quitting.

Why the poll is a job and the actions are not: a poll is superseded by the next one and
shutdown cancels it, which the job layer says by itself (no busy flag). A worker action must
run to its end whoever is looking (a stop stays a stop), and a restart waits out a warm stop
of up to its grace period: the actions keep Background pools, so they never hold the shared
job threads the screens refresh on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.local.local_worker import START_TIMEOUT_S, STARTING, LocalWorker
from desktop.core.local.supervisor import Supervisor, all_supervisors
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.monitor.audit import FAILED
from desktop.core.monitor.events import receiver_app
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.background import Background
from desktop.ui.common.jobs import Jobs

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

log = logging.getLogger(__name__)

WORKER_POLL_MS = 500
WORKER_POLL_STARTING_MS = 100  # while a worker starts: show it online soon after it is


ELSEWHERE_EVERY_S = 5.0  # how often other profiles' running workers are counted


class LocalWorkersHost(QObject):
    """The local workers of the active profile; `Session` shows them as properties."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.services: Services = session.services
        self.jobs = Jobs(self)
        # A restart waits out a warm stop: it gets its own pool so polls and inspect go on.
        self.worker_background = Background(self, workers=8)
        self.supervisor: Supervisor | None = None
        self.local_workers: list[LocalWorker] = []
        self.quit_workers = "none"  # the window's answer on quit: 'stop', 'leave' or 'none'
        self.quit_grace_s = 30.0
        self._worker_poll = QTimer(self)
        self._worker_poll.setInterval(WORKER_POLL_MS)
        self._worker_poll.timeout.connect(self.poll_local_workers)
        self._elsewhere_counted = float("-inf")  # when other profiles' workers were counted

    def switch_to(self, profile: Profile) -> None:
        """Another profile: its own workers' dir, adopted from there, polled from now on."""
        self.supervisor = Supervisor(self.services.workers_dir(profile), profile)
        self.local_workers = []
        self._elsewhere_counted = float("-inf")  # "other profiles" changed with the profile
        self.session.local_workers_changed.emit([])
        self.poll_local_workers()
        self._worker_poll.start()

    # -- polling ------------------------------------------------------------------------------
    def poll_local_workers(self) -> None:
        """Read the workers' state files, and ping those still starting, off the GUI thread."""
        supervisor = self.supervisor
        profile = self.session.connection.profile
        if self.jobs.running("poll") or supervisor is None or profile is None:
            return
        self.jobs.run("poll", self._poll(supervisor, profile, self.session.app_config))

    async def _poll(
        self, supervisor: Supervisor, profile: Profile, config: EffectiveConfig | None
    ) -> None:
        try:
            workers, expired = await Jobs.blocking(
                _read_workers, self.services, supervisor, profile, config
            )
        except Exception as exc:
            log.info("polling local workers: %s", exc)
            return
        for message in expired:
            self.session.local_worker_message.emit(message, True)
        if supervisor is not self.supervisor:
            return  # another profile's workers are shown now
        self.local_workers = workers
        if time.monotonic() - self._elsewhere_counted >= ELSEWHERE_EVERY_S:
            self._elsewhere_counted = time.monotonic()
            with contextlib.suppress(OSError):
                _mine, elsewhere = await Jobs.blocking(
                    running_here_and_elsewhere, self.workers_root, supervisor.directory
                )
                self.session.local_workers_elsewhere.emit(elsewhere)
        starting = any(w.state == STARTING for w in workers)
        self._worker_poll.setInterval(WORKER_POLL_STARTING_MS if starting else WORKER_POLL_MS)
        self.session.local_workers_changed.emit(workers)

    def note_worker_online(self, nodename: str) -> None:
        """A worker-online event or heartbeat from a local worker still shown as starting."""
        if self.supervisor is not None and any(
            w.nodename == nodename and w.state == STARTING for w in self.local_workers
        ):
            self.supervisor.mark_online(nodename)
            self.poll_local_workers()

    # -- actions ------------------------------------------------------------------------------
    def _worker_job(
        self,
        what: str,
        job: Callable[[Supervisor], Any],
        *,
        long: bool = False,
        audit: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """`job` on a pool; with `audit` (action, worker, parameters) kept in the audit log
        with the worker's state after it, or the error."""
        supervisor, profile = self.supervisor, self.session.connection.profile
        if supervisor is None or profile is None:
            return

        def run() -> Any:
            try:
                result = job(supervisor)
            except Exception as exc:
                if audit is not None:
                    self.session.audit(*audit, outcome=FAILED, reply=str(exc))
                raise
            if audit is not None:
                state = {"state": result.state, "pid": result.pid} if result else None
                self.session.audit(*audit, reply=state)
            return result

        def done(_result: Any) -> None:
            self.poll_local_workers()

        def failed(exc: BaseException) -> None:
            self.session.local_worker_message.emit(f"{what} failed: {exc}", True)
            self.poll_local_workers()

        pool = self.worker_background if long else self.session.background
        pool.submit(run, done, failed)

    def _ready(self) -> tuple[Profile, EffectiveConfig] | None:
        """The profile and the app's configuration a start needs; None (and said) while the
        app is still being read."""
        profile, config = self.session.connection.profile, self.session.app_config
        assert profile is not None
        if config is None:
            self.session.local_worker_message.emit(
                "the app's configuration is still being read", True
            )
            return None
        return profile, config

    def start_local_worker(self, spec: WorkerSpec) -> None:
        ready = self._ready()
        if ready is None:
            return
        profile, config = ready
        endpoints = self.session.endpoints
        self.session.local_worker_message.emit(f"starting {spec.nodename}…", False)
        self._worker_poll.setInterval(WORKER_POLL_STARTING_MS)
        self._worker_job(
            f"starting {spec.name}",
            lambda sup: sup.start(spec, endpoints(profile, config), config),
            audit=("worker start", spec.nodename, dataclasses.asdict(spec)),
        )

    def stop_local_worker(self, name: str) -> None:
        self._worker_job(
            f"stopping {name}", lambda sup: sup.stop(name), audit=("worker stop", name, {})
        )

    def kill_local_worker(self, name: str) -> None:
        self._worker_job(
            f"killing {name}", lambda sup: sup.kill(name), audit=("worker kill", name, {})
        )

    def restart_local_worker(self, name: str, grace_s: float) -> None:
        ready = self._ready()
        if ready is None:
            return
        profile, config = ready
        endpoints = self.session.endpoints
        self._worker_job(
            f"restarting {name}",
            lambda sup: sup.restart(name, endpoints(profile, config), config, grace_s),
            long=True,
            audit=("worker restart", name, {"grace_s": grace_s}),
        )

    def forget_local_worker(self, name: str) -> None:
        self._worker_job(f"removing {name}", lambda sup: sup.forget(name))

    # -- quitting -----------------------------------------------------------------------------
    @property
    def workers_root(self) -> Path:
        """Where every profile keeps its local workers' records, one directory each."""
        return self.services.paths.data_dir / "workers"

    def _all_supervisors(self) -> list[Supervisor]:
        return all_supervisors(self.workers_root)

    def running_local_workers(self) -> list[LocalWorker]:
        """Every profile's, not only the active one: quit asks about all of them."""
        return [w for sup in self._all_supervisors() for w in sup.workers() if w.running]

    def running_here_and_elsewhere(self) -> tuple[int, int]:
        """How many local workers run for the active profile, and for every other profile:
        quit stops or leaves them all, and says so."""
        here = self.supervisor.directory if self.supervisor is not None else None
        return running_here_and_elsewhere(self.workers_root, here)

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

    def shutdown(self) -> None:
        """No poll lands after this; then the workers are stopped if the window said so."""
        self.jobs.cancel_all()
        self._worker_poll.stop()
        self.worker_background.shutdown()

    def quit(self) -> bool:
        """Stop the local workers if quitting said so; whether some still run (and need the
        embedded broker)."""
        if self.quit_workers == "stop":
            log.info("stopping local workers (running tasks finish first)")
            for worker in self.stop_local_workers_on_quit(self.quit_grace_s):
                log.warning("%s still finishing after the grace period", worker.nodename)
        return bool(self.running_local_workers())


def running_here_and_elsewhere(root: Path, here: Path | None) -> tuple[int, int]:
    """The running local workers of the profile kept in `here`, and of every other profile
    under `root` (quit's question, the local workers part's line): file reads, a job's."""
    mine = others = 0
    for supervisor in all_supervisors(root):
        running = sum(1 for worker in supervisor.workers() if worker.running)
        if supervisor.home == here:
            mine += running
        else:
            others += running
    return mine, others


def _read_workers(
    services: Services, supervisor: Supervisor, profile: Profile, config: EffectiveConfig | None
) -> tuple[list[LocalWorker], list[str]]:
    """On a job thread: the workers, those still starting pinged and, once a ping went
    through, those starting for too long stopped (what to say about them, second).
    Nothing of the session is passed here: its last reference never drops on a pool thread."""
    supervisor.reap()
    workers = supervisor.workers()
    expired: list[str] = []
    if any(w.state == STARTING and w.pid for w in workers):
        endpoints = services.endpoints(profile)
        app = receiver_app(endpoints.broker_url, config)
        try:
            supervisor.confirm_online(app, timeout=0.3)
        finally:
            app.close()
        # Only after a ping went through: a broker outage never gets a worker killed.
        for worker in supervisor.expire_starting():
            expired.append(
                f"{worker.nodename} did not come online within "
                f"{START_TIMEOUT_S:.0f} s and was stopped (is the broker reachable "
                f"from it?); its log: {' | '.join(supervisor.log_tail(worker.name, 3))}"
            )
        workers = supervisor.workers()
    return workers, expired
