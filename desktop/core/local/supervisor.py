"""Local worker processes of a profile: start, watch, stop, kill, restart, adopt, logs.

Each worker is a record in the profile's state dir (`NAME.json`: its settings and argv, no
secrets), a keeper process that owns it (see `worker_keeper`) and writes `NAME.status.json`,
and a rotated `NAME.log`. Nothing lives only in memory, so a second panel, a panel restarted
after SIGKILL and the CLI all see the same workers, once. Blocking: callers on a GUI run these
methods off its thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.files import locked, write_atomic
from desktop.core.base.processes import argv_of, pid_alive
from desktop.core.local import launch, worker_keeper
from desktop.core.local.local_worker import (
    CRASHED,
    DEFAULT_GRACE_S,
    ONLINE,
    START_TIMEOUT_S,
    STARTING,
    STOPPED,
    STOPPING,
    UNRESPONSIVE,
    LocalWorker,
    describe_exit,
)
from desktop.core.local.worker_keeper import Watch, ping
from desktop.core.local.worker_spec import WorkerError, WorkerSpec, WorkerSpecError
from desktop.core.settings.profile_model import Endpoints, Profile


class Supervisor:
    """The local workers of one profile, kept in `directory`."""

    def __init__(self, directory: Path, profile: Profile) -> None:
        # Resolved: the keeper's argv names its record by this path, and adoption compares it.
        self.directory = directory.resolve()
        self.home = self.directory  # the profile's own directory (its beat's is one below)
        self.profile = profile
        # Node names confirmed online, by worker pid: a restarted worker must answer again.
        self._online: dict[str, tuple[int | None, float]] = {}
        self._children: list[subprocess.Popen[bytes]] = []
        self.watch = Watch()  # how keepers started from here watch their worker answer

    # -- files --------------------------------------------------------------------------------
    def record_path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def log_path(self, name: str) -> Path:
        return worker_keeper.log_path(self.record_path(name))

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem
            for p in self.directory.glob("*.json")
            if not p.name.endswith(".status.json") and not p.name.startswith(".")
        )

    # -- reading state ------------------------------------------------------------------------
    def get(self, name: str) -> LocalWorker | None:
        record = self._read_json(self.record_path(name))
        if record is None:
            return None
        spec = WorkerSpec.from_dict(record.get("spec") or {"name": name, "queues": []})
        status = self._read_json(worker_keeper.status_path(self.record_path(name))) or {}
        keeper_pid = record.get("keeper_pid")
        keeper_alive = isinstance(keeper_pid, int) and self._is_keeper(keeper_pid, name)
        worker_pid = status.get("worker_pid")
        worker_alive = isinstance(worker_pid, int) and self._is_worker(worker_pid, spec)
        created = float(record.get("created") or time.time())
        started = status.get("started")
        worker = LocalWorker(
            name=name,
            nodename=str(record.get("nodename") or spec.nodename),
            spec=spec,
            state=STARTING,
            since=float(started or created),
            pid=int(worker_pid) if worker_pid else None,
            keeper_pid=int(keeper_pid) if keeper_pid else None,
            started=float(started) if started else None,
            exit_code=status.get("exit_code"),
            restarts=int(status.get("restarts") or 0),
            log_path=self.log_path(name),
        )
        state = status.get("state")
        if state == worker_keeper.WAITING and keeper_alive:
            worker.state = CRASHED
            worker.since = float(status.get("exited") or created)
            worker.next_restart = status.get("next_restart")
            worker.detail = self._crash_detail(worker)
        elif state == worker_keeper.EXITED or (
            not worker_alive and not keeper_alive and not self._being_started(record)
        ):
            requested = bool(status.get("stop_requested")) or bool(record.get("stop_requested"))
            worker.state = STOPPED if requested else CRASHED
            worker.since = float(status.get("exited") or status.get("updated") or created)
            if worker.state == CRASHED:
                worker.detail = self._crash_detail(worker)
                if not status:
                    worker.detail = "its keeper process is gone; " + worker.detail
        elif state == worker_keeper.STOPPING or record.get("stop_requested"):
            worker.state = STOPPING
            worker.since = float(
                status.get("stopping_since")
                or record.get("stop_requested")
                or status.get("updated")
                or created
            )
        elif status.get("unresponsive_since") and worker_alive:
            worker.state = UNRESPONSIVE
            worker.since = float(status["unresponsive_since"])
            worker.detail = self._silence_detail(worker)
        else:
            online = self._online.get(worker.nodename)
            if online is not None and online[0] == worker.pid:
                worker.state = ONLINE
                worker.since = online[1]
            elif status.get("answered") and worker_alive:  # the keeper's own ping
                worker.state = ONLINE
                worker.since = float(status["answered"])
        return worker

    def _silence_detail(self, worker: LocalWorker) -> str:
        tail = self.log_tail(worker.name, 5, skip_own=True, read_bytes=16 * 1024)
        silent = time.time() - worker.since
        return f"no answer to pings for {silent:.0f} s while the broker answers" + (
            ": " + " | ".join(tail) if tail else ""
        )

    @staticmethod
    def _being_started(record: dict[str, Any]) -> bool:
        """Between writing the record and learning the keeper's pid: not a crash."""
        return not record.get("keeper_pid") and time.time() - float(record.get("created") or 0) < 15

    def workers(self) -> list[LocalWorker]:
        found = [self.get(name) for name in self.names()]
        return [w for w in found if w is not None]

    def _crash_detail(self, worker: LocalWorker) -> str:
        tail = self.log_tail(worker.name, 5, skip_own=True, read_bytes=16 * 1024)  # every poll
        return describe_exit(worker.exit_code) + (": " + " | ".join(tail) if tail else "")

    def log_tail(
        self, name: str, lines: int = 200, *, skip_own: bool = False, read_bytes: int = 256 * 1024
    ) -> list[str]:
        """The last lines of a worker's log (its own output, plus the keeper's notes)."""
        path = self.log_path(name)
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - read_bytes))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return []
        found = [ln for ln in text.splitlines() if ln.strip()]
        if skip_own:
            found = [ln for ln in found if "celery-desk]" not in ln]
        return found[-lines:]

    def _is_keeper(self, pid: int, name: str) -> bool:
        """The pid still belongs to this worker's keeper (pids get reused)."""
        argv = argv_of(pid)
        return (
            "desktop.core.local.worker_keeper" in argv
            and str(self.record_path(name)) in argv
            and pid_alive(pid)
        )

    @staticmethod
    def _is_worker(pid: int, spec: WorkerSpec) -> bool:
        argv = argv_of(pid)
        return "-n" in argv and f"{spec.name}@%h" in argv and pid_alive(pid)

    # -- online -------------------------------------------------------------------------------
    def mark_online(self, nodename: str, pid: int | None = None) -> bool:
        """A ping answer or a worker-online event: True when it changes what is shown."""
        for name in self.names():
            worker = self.get(name)
            if worker is None or worker.nodename != nodename or worker.state != STARTING:
                continue
            if pid is not None and worker.pid != pid:
                continue
            self._online[nodename] = (worker.pid, time.time())
            return True
        return False

    def confirm_online(self, app: Celery, timeout: float = 0.5) -> list[str]:
        """Ping the workers still starting; returns the node names that answered."""
        starting = [w for w in self.workers() if w.state == STARTING]
        answered = ping(app, [w.nodename for w in starting], timeout) if starting else set()
        now = time.time()
        for worker in starting:
            if worker.nodename in answered:
                self._online[worker.nodename] = (worker.pid, now)
        return sorted(answered)

    # -- lifecycle ----------------------------------------------------------------------------
    def check(self, spec: WorkerSpec, config: EffectiveConfig) -> None:
        """Refuse settings that cannot work, before anything starts."""
        errors = {**spec.problems(config.queue_names()), **self.process_problems(config)}
        current = self.get(spec.name) if "name" not in errors else None
        if current is not None and current.running:
            errors["name"] = (
                f"a worker named {spec.name} already runs here (pid {current.pid}); "
                "choose another name or stop it first"
            )
        if errors:
            raise WorkerSpecError(errors)

    def process_problems(self, config: EffectiveConfig) -> dict[str, str]:
        """What would stop any process of this profile (a worker, its beat) from starting as
        asked: transport overrides that cannot travel without a password on its command line,
        no working directory, no interpreter."""
        errors: dict[str, str] = {}
        problem = config.overrides_cannot_travel()
        if problem:
            errors["transport"] = problem
        workdir = self._workdir()
        if not Path(workdir).is_dir():
            errors["workdir"] = f"the profile's working directory '{workdir}' does not exist"
        interpreter = self._interpreter()
        if not (Path(interpreter).is_file() and os.access(interpreter, os.X_OK)):
            errors["python"] = f"the profile's Python '{interpreter}' is not an executable file"
        return errors

    def _workdir(self) -> str:
        return launch.workdir(self.profile)

    def _interpreter(self) -> str:
        return launch.interpreter(self.profile)

    def argv(self, spec: WorkerSpec, config: EffectiveConfig) -> list[str]:
        return launch.worker_argv(self.profile, spec, config)

    def environment(self, endpoints: Endpoints) -> dict[str, str]:
        return launch.worker_environment(self.profile, endpoints)

    def keeper_environment(self, endpoints: Endpoints, config: EffectiveConfig) -> dict[str, str]:
        return launch.keeper_environment(self.profile, endpoints, config)

    def keeper_record(self, spec: WorkerSpec, config: EffectiveConfig) -> dict[str, Any]:
        return launch.keeper_record(self.profile, spec, config, self.watch)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        """One start at a time per profile, across processes (a panel and the CLI)."""
        return locked(self.directory / ".lock")

    def start(self, spec: WorkerSpec, endpoints: Endpoints, config: EffectiveConfig) -> LocalWorker:
        """Start a keeper and its worker; returns at once in state 'starting'."""
        with self._lock():
            self.check(spec, config)
            return self._start_checked(spec, endpoints, config)

    def _start_checked(
        self, spec: WorkerSpec, endpoints: Endpoints, config: EffectiveConfig
    ) -> LocalWorker:
        record = self.record_path(spec.name)
        status = worker_keeper.status_path(record)
        with contextlib.suppress(FileNotFoundError):
            status.unlink()
        log = self.log_path(spec.name)
        if log.exists() and log.stat().st_size:
            worker_keeper.rotate(log)  # each start begins a fresh log; the last one is kept
        data = self.keeper_record(spec, config)
        write_atomic(record, json.dumps(data), mode=0o600)
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(log, "ab") as keeper_errors:  # a keeper that cannot run says why in the log
            keeper = subprocess.Popen(
                [sys.executable, "-m", "desktop.core.local.worker_keeper", str(record)],
                env=self.keeper_environment(endpoints, config),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=keeper_errors,
                close_fds=True,
                start_new_session=True,  # outlives the panel and the CLI command
            )
        data["keeper_pid"] = keeper.pid
        write_atomic(record, json.dumps(data), mode=0o600)
        self._online.pop(spec.nodename, None)
        self._children.append(keeper)  # reaped by `reap`, so no zombie keeps a pid alive
        worker = self.get(spec.name)
        assert worker is not None
        return worker

    def reap(self) -> None:
        """Collect keepers this process started that have exited."""
        self._children = [child for child in self._children if child.poll() is None]

    def _current(self, name: str) -> LocalWorker:
        self.reap()
        worker = self.get(name)
        if worker is None:
            raise WorkerError(f"no worker named {name}")
        return worker

    def wait_online(self, name: str, app: Celery, timeout: float = 60.0) -> LocalWorker:
        """Ping until the worker answers; a worker that exits first fails with its output."""
        deadline = time.monotonic() + timeout
        while True:
            worker = self._current(name)
            if worker.state == ONLINE:
                return worker
            if worker.state in (CRASHED, STOPPED):
                if worker.running:  # auto-restart would try again: a failed start ends here
                    self.stop(name)
                raise WorkerError(self._failure_text(worker))
            if time.monotonic() >= deadline:
                self.kill(name)  # nothing may keep running half-started
                self.wait_stopped(name, 10.0)
                raise WorkerError(
                    f"{worker.nodename} did not come online within {timeout:.0f} s and was "
                    "stopped; its output:\n" + "\n".join(self.log_tail(name, 20, skip_own=True))
                )
            if worker.pid is not None:
                with contextlib.suppress(Exception):
                    self.confirm_online(app, timeout=0.5)
                    continue
            time.sleep(0.05)

    def expire_starting(self, timeout_s: float = START_TIMEOUT_S) -> list[LocalWorker]:
        """Kill workers this process started that never came online (an unreachable broker, a
        hung import): nothing keeps running half-started. Returns them, for the screen."""
        expired = []
        now = time.time()
        # Only keepers this process started: an adopted worker that does not answer yet was
        # up before and may only be cut off from the broker for a while.
        ours = {child.pid for child in self._children}
        for worker in self.workers():
            if worker.keeper_pid not in ours:
                continue
            if worker.state == STARTING and now - worker.since > timeout_s:
                with contextlib.suppress(WorkerError, ProcessLookupError):
                    self.kill(worker.name)
                expired.append(worker)
        return expired

    def _failure_text(self, worker: LocalWorker) -> str:
        tail = self.log_tail(worker.name, 20, skip_own=True)
        return (
            f"{worker.nodename} exited before it came online ({describe_exit(worker.exit_code)})"
            + (":\n" + "\n".join(tail) if tail else " and wrote nothing")
        )

    def _signal_keeper(self, name: str, sig: int) -> LocalWorker:
        worker = self.get(name)
        if worker is None:
            raise WorkerError(f"no worker named {name} in this profile")
        if worker.keeper_pid and self._is_keeper(worker.keeper_pid, name):
            os.kill(worker.keeper_pid, sig)
        elif worker.pid and self._is_worker(worker.pid, worker.spec):
            # The keeper was killed but its worker runs on: signal the worker itself.
            target = signal.SIGKILL if sig == signal.SIGUSR1 else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                if target == signal.SIGKILL:
                    os.killpg(worker.pid, target)
                else:
                    os.kill(worker.pid, target)
            self._mark_stop_requested(name)
        return worker

    def _mark_stop_requested(self, name: str) -> None:
        record = self._read_json(self.record_path(name))
        if record is not None:
            record["stop_requested"] = time.time()
            write_atomic(self.record_path(name), json.dumps(record), mode=0o600)

    def stop(self, name: str) -> LocalWorker:
        """Warm shutdown: the worker stops taking tasks and finishes the running ones."""
        return self._signal_keeper(name, signal.SIGTERM)

    def kill(self, name: str) -> LocalWorker:
        """Cold and immediate: SIGKILL to the worker and its pool; running tasks are lost
        (with acks_late they are redelivered)."""
        return self._signal_keeper(name, signal.SIGUSR1)

    def wait_stopped(self, name: str, timeout: float) -> LocalWorker:
        deadline = time.monotonic() + timeout
        while True:
            worker = self._current(name)
            if worker.state in (STOPPED, CRASHED) and worker.next_restart is None:
                keeper_gone = not worker.keeper_pid or not pid_alive(worker.keeper_pid)
                if keeper_gone:
                    return worker
            if time.monotonic() >= deadline:
                return worker
            time.sleep(0.05)

    def restart(
        self,
        name: str,
        endpoints: Endpoints,
        config: EffectiveConfig,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> LocalWorker:
        worker = self.get(name)
        if worker is None:
            raise WorkerError(f"no worker named {name} in this profile")
        if worker.running:
            self.stop(name)
            worker = self.wait_stopped(name, grace_s)
            if worker.running:
                self.kill(name)
                self.wait_stopped(name, 10.0)
        return self.start(worker.spec, endpoints, config)

    def forget(self, name: str) -> None:
        """Remove a stopped worker's record (its log files stay for reading)."""
        worker = self.get(name)
        if worker is not None and worker.running:
            raise WorkerError(f"{name} is still running: stop it first")
        for path in (self.record_path(name), worker_keeper.status_path(self.record_path(name))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def stop_all(
        self, grace_s: float = DEFAULT_GRACE_S, kill_after: bool = True
    ) -> list[LocalWorker]:
        """Quit: warm shutdown of every running worker, then kill what overstays the grace."""
        running = [w for w in self.workers() if w.running]
        for worker in running:
            with contextlib.suppress(WorkerError, ProcessLookupError):
                self.stop(worker.name)
        deadline = time.monotonic() + grace_s
        results = []
        for worker in running:
            left = max(0.0, deadline - time.monotonic())
            done = self.wait_stopped(worker.name, left)
            if done.running and kill_after:
                with contextlib.suppress(WorkerError, ProcessLookupError):
                    self.kill(worker.name)
                done = self.wait_stopped(worker.name, 10.0)
            results.append(done)
        return results


def all_supervisors(root: Path) -> list[Supervisor]:
    """Every profile's local workers under `root` (quit must not forget another profile's).

    Enough to read, stop and kill them; starting needs the profile itself. A directory taken
    over from an earlier install is also reached by a link at its new name (services'
    `_profile_path`): each directory counts once, under its own name, or quit would count and
    stop its workers twice. A profile's local beat (`local_beat`) is among them: quit stops
    it as it stops the workers."""
    from desktop.core.local.local_beat import BEAT, BeatSupervisor

    if not root.is_dir():
        return []
    directories: dict[Path, Path] = {}
    for entry in sorted(root.iterdir(), key=lambda p: (p.is_symlink(), p.name)):
        if entry.is_dir():
            directories.setdefault(entry.resolve(), entry)
    found: list[Supervisor] = []
    for directory in sorted(directories.values()):
        found.append(Supervisor(directory, Profile(name=directory.name)))
        if (directory / BEAT).is_dir():
            found.append(BeatSupervisor(directory, Profile(name=directory.name)))
    return found
