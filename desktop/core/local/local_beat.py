"""A profile's local `celery beat`: one per profile, kept by the same keeper as a local worker.

Why a subclass of the workers' supervisor: a beat needs all of what a worker gets (a record
and a status file outside memory, a keeper that outlives the panel, learns the exit status,
rotates the log and restarts after a crash, warm stop and kill by signal, adoption by a second
panel or the CLI) and nothing else. It lives in the profile's workers directory under `beat/`
(so the workers' listing never shows it) as a record named `beat` whose spec consumes no queue;
`all_supervisors` adds it, so quitting stops it as it stops the workers.

The command line is the one a person types: `celery -A APP beat -l INFO`, in the profile's
directory and environment (broker and backend in the environment, never in argv). The
scheduler is the app's own `beat_scheduler` setting, which `celery beat` reads by itself:
no `-S` is ever given (every app has the setting, Celery's default when unset), so the panel
never picks one. `--schedule` is given for Celery's PersistentScheduler only, in the panel's
data directory: its shelve file must not land in the person's project. `--pidfile` (in the
same directory) makes Celery itself refuse a second beat of this profile and names the
process for adoption. `--enable-remote-control`, when the app's Celery has it (5.7's
`beat_enable_remote_control`), makes the beat answer pings as `celerybeat@host`: the keeper
watches it answer as it watches a worker, and another panel can see it runs.

A second beat is refused when it would not be safe: one already kept here (this module), or
what `beat.local_start.refusal` finds on the broker (RedBeat's lock, a beat answering pings).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import celery.beat as celery_beat
from celery.utils.nodenames import host_format

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.processes import argv_of, pid_alive
from desktop.core.local import launch
from desktop.core.local.local_worker import (
    CRASHED,
    ONLINE,
    STARTING,
    STOPPED,
    STOPPING,
    UNRESPONSIVE,
    LocalWorker,
    describe_exit,
)
from desktop.core.local.supervisor import Supervisor
from desktop.core.local.worker_spec import WorkerError, WorkerSpec, WorkerSpecError
from desktop.core.settings.profile_model import Endpoints, Profile

BEAT = "beat"  # the record's name in the profile's `beat/` directory
# Celery's node name for a beat answering remote control, read from Celery (5.7 added beat's
# remote control; before it no beat answers under any name, so the fallback only names what
# is never found). A beat started with `-n` elsewhere answers under its own.
BEAT_NODE = str(getattr(celery_beat, "NODENAME_DEFAULT", "celerybeat"))


class BeatRefused(WorkerError):
    """Starting this beat would not be safe (or cannot be checked); the message says why."""


def beat_nodename() -> str:
    """This machine's beat node name, as Celery resolves it (`celery.beat.beat_nodename`)."""
    resolve = getattr(celery_beat, "beat_nodename", None)
    return str(resolve()) if resolve is not None else str(host_format(f"{BEAT_NODE}@%h"))


def is_persistent(scheduler: str) -> bool:
    """Celery's PersistentScheduler (its default), the one that keeps a schedule file."""
    return scheduler.replace(":", ".").rsplit(".", 1)[-1] == "PersistentScheduler"


def remote_control_known(config: EffectiveConfig) -> bool:
    """The app's Celery (read by the probe, not the panel's) has beat remote control (5.7)."""
    return config.imported and config.beat_remote_control


class BeatSupervisor(Supervisor):
    """The local beat of one profile, in `<workers dir>/beat/`."""

    def __init__(self, workers_directory: Path, profile: Profile) -> None:
        super().__init__(Path(workers_directory) / BEAT, profile)
        self.home = Path(workers_directory).resolve()

    @property
    def schedule_path(self) -> Path:
        return self.directory / "celerybeat-schedule"

    @property
    def pidfile(self) -> Path:
        return self.directory / "beat.pid"

    def beat(self) -> LocalWorker | None:
        return self.get(BEAT)

    def _is_worker(self, pid: int, spec: WorkerSpec) -> bool:  # type: ignore[override]
        argv = argv_of(pid)
        return "beat" in argv and str(self.pidfile) in argv and pid_alive(pid)

    # -- the command line ---------------------------------------------------------------------
    def beat_argv(self, config: EffectiveConfig, loglevel: str = "INFO") -> list[str]:
        argv = [launch.interpreter(self.profile), "-m", "celery", "-A", self.profile.app_module]
        argv += ["beat", "-l", loglevel.upper(), "--pidfile", str(self.pidfile)]
        if is_persistent(str(config.setting("beat_scheduler") or "")):
            argv += ["--schedule", str(self.schedule_path)]
        if remote_control_known(config):
            argv.append("--enable-remote-control")
        extra = launch.transport_overrides(config)  # beat sends as the panel and workers do
        return argv + (["--", *extra] if extra else [])

    def beat_record(
        self, config: EffectiveConfig, loglevel: str, auto_restart: bool
    ) -> dict[str, Any]:
        spec = WorkerSpec(name=BEAT, queues=[], loglevel=loglevel, auto_restart=auto_restart)
        record = launch.keeper_record(self.profile, spec, config, self.watch)
        record["argv"] = self.beat_argv(config, loglevel)
        record["kind"] = "beat"  # the keeper's notes in the log say so
        record["scheduler"] = str(config.setting("beat_scheduler") or "")
        # Without remote control the beat answers no ping: the keeper watches nothing.
        record["nodename"] = beat_nodename() if remote_control_known(config) else ""
        # Marked unresponsive when silent, never killed for it (the keeper's rule for a pool
        # that is silent while busy): beat goes quiet on purpose while its scheduler is stuck
        # (a slow database), and a kill would not unstick it; its log says why.
        record["spec"]["pool"] = "solo"
        return record

    # -- lifecycle ----------------------------------------------------------------------------
    def check_here(self) -> None:
        """Refuse a second beat of this profile on this machine."""
        current = self.beat()
        if current is not None and current.running:
            raise BeatRefused(
                f"a beat already runs for profile '{self.profile.name}' here (pid "
                f"{current.pid or '?'}): one beat per profile; stop it first"
            )

    def start_beat(
        self,
        endpoints: Endpoints,
        config: EffectiveConfig,
        refusal: Callable[[], str],
        *,
        loglevel: str = "INFO",
        auto_restart: bool = True,
    ) -> LocalWorker:
        """Start the profile's beat through a keeper, unless one runs here or `refusal` (asked
        under the profile's start lock, so two starts never both pass) says why it is not safe;
        returns at once in state 'starting'. `beat.local_start` gives the refusal."""
        with self._lock():
            self.check_here()
            problems = self.process_problems(config)  # a password never on beat's command line
            if problems:
                raise WorkerSpecError(problems)
            why = refusal()
            if why:
                raise BeatRefused(why)
            # No beat of this profile runs (checked above): a pidfile left by a killed one is
            # stale, and its pid may be another process's by now, which Celery would refuse.
            with contextlib.suppress(FileNotFoundError):
                self.pidfile.unlink()
            spec = WorkerSpec(name=BEAT, queues=[], loglevel=loglevel, auto_restart=auto_restart)
            return self._start_checked(spec, endpoints, config)

    def keeper_record(self, spec: WorkerSpec, config: EffectiveConfig) -> dict[str, Any]:
        return self.beat_record(config, spec.loglevel, spec.auto_restart)

    def get(self, name: str) -> LocalWorker | None:
        """As a worker's; a beat that answers no ping (a Celery without beat remote control)
        is running once its log says Celery's "beat: Starting..."."""
        found = super().get(name)
        if found is None or (self._read_json(self.record_path(name)) or {}).get("nodename"):
            return found
        found.nodename = ""
        started = any("beat: Starting..." in line for line in self.log_tail(name, 50))
        if found.state == STARTING and found.pid and started:
            found.state = ONLINE
        return found

    def stop_beat(self, timeout: float = 30.0) -> LocalWorker:
        """Warm stop (beat syncs its schedule and exits); killed when it overstays `timeout`."""
        current = self.beat()
        if current is None or not current.running:
            raise WorkerError(f"no beat runs for profile '{self.profile.name}' here")
        self.stop(BEAT)
        done = self.wait_stopped(BEAT, timeout)
        if done.running:
            with contextlib.suppress(WorkerError, ProcessLookupError):
                self.kill(BEAT)
            done = self.wait_stopped(BEAT, 10.0)
        return done


def beat_state_text(beat: LocalWorker | None, now: float | None = None) -> str:
    """ "running (pid N, 2 min)", "starting", "stopped", "crashed (exit code 1)": the bar's and
    the CLI's words for the local beat."""
    if beat is None:
        return "stopped"
    if beat.state in (ONLINE, UNRESPONSIVE, STARTING, STOPPING):
        up = beat.uptime_s(now)
        age = "" if up is None else f", {_duration(up)}"
        word = {ONLINE: "running", UNRESPONSIVE: "not ticking"}.get(beat.state, beat.state)
        return f"{word} (pid {beat.pid}{age})"
    if beat.next_restart is not None:
        return f"crashed, restarting in {max(0.0, beat.next_restart - time.time()):.0f} s"
    if beat.state == CRASHED:
        return f"crashed ({describe_exit(beat.exit_code)})"
    return STOPPED


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
