"""The small process that owns one local worker:
`python -m desktop.core.local.worker_keeper RECORD`.

Why a keeper and not the panel itself: a worker must outlive the panel or the CLI command that
started it, yet someone has to learn its exit status, rotate its log and restart it after a
crash. The keeper runs in its own session, starts the worker as its child (so `waitpid` gives
the real exit code), copies the worker's output into a rotated log file, and writes what
happened to `NAME.status.json`. The panel and the CLI only read that file and send signals:

- SIGTERM to the keeper: warm shutdown (SIGTERM to the worker; running tasks finish).
- SIGUSR1 to the keeper: kill (SIGKILL to the worker's process group, pool included).

The worker runs in its own process group; whatever is left in that group when the worker has
exited (a child its app spawned at import, a task's own child) is killed then: a failed start
leaves nothing behind.

The keeper also watches that its worker answers (`Watch`): it pings it; a worker that has
answered once and then stays silent while the broker answers the keeper is marked
`unresponsive` (a worker wedged inside kombu, or stopped), and with auto-restart it is killed
(SIGTERM, SIGKILL after a grace) and restarted. A worker of the solo pool runs each task in its
only loop, and one of gevent or eventlet shares its hub with its tasks, so a long task silences
it too: it is marked, never killed (`may_kill_for_silence`).

The worker's environment (broker and backend URLs with their passwords) is inherited from the
keeper's, never written to a file or an argv; so are the transport options the keeper pings
with (`TRANSPORT_OPTIONS_ENV`), which may hold a password too.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop.core.base.argument_redaction import redactor_for
from desktop.core.base.files import write_atomic

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3
RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
STABLE_AFTER_S = 60.0  # a worker that ran this long before crashing restarts at once again

RUNNING, STOPPING, EXITED, WAITING = "running", "stopping", "exited", "waiting"

# The app's transport options the keeper pings with (a sentinel's password may be among them)
# reach it in this environment variable, as JSON, never in its record; the keeper takes it out
# of its environment before it starts the worker, which reads its options from the app.
TRANSPORT_OPTIONS_ENV = "CELERY_DESK_KEEPER_TRANSPORT_OPTIONS"

# Pools whose consumer runs in the task's own thread (solo) or shares its hub (gevent,
# eventlet): a long or CPU-bound task keeps them from answering pings, so silence says nothing
# of a wedge there. Threads and prefork answer from a thread or process of their own.
POOLS_SILENT_WHILE_BUSY = frozenset({"solo", "gevent", "eventlet"})


def may_kill_for_silence(pool: str) -> bool:
    """Whether the keeper may kill (and restart) a worker of `pool` that answers no ping:
    not when a busy task silences it too; killing it would lose the task (and, with
    acks_late, kill it again each time it is redelivered)."""
    return pool not in POOLS_SILENT_WHILE_BUSY


@dataclass(frozen=True)
class Watch:
    """How the keeper watches its worker answer: a ping every `every_s` (waiting `reply_s` for
    the answer); silent for `unresponsive_after_s` while the broker answers = unresponsive;
    with auto-restart, SIGTERM then SIGKILL after `kill_grace_s`. No judgement before the
    worker's first answer: a worker still starting is the supervisor's to time out."""

    every_s: float = 5.0
    reply_s: float = 1.0
    unresponsive_after_s: float = 30.0
    kill_grace_s: float = 10.0

    @classmethod
    def from_dict(cls, data: Any) -> Watch:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: float(v) for k, v in dict(data or {}).items() if k in known})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def ping(app: Any, nodenames: list[str], timeout: float = 0.5) -> set[str]:
    """Which of these nodes answer a ping within `timeout` (returns early once all did)."""
    if not nodenames:
        return set()
    replies = app.control.ping(destination=nodenames, timeout=timeout, limit=len(nodenames))
    return {node for reply in replies or [] for node in reply}


def status_path(record: Path) -> Path:
    return record.with_name(record.stem + ".status.json")


def log_path(record: Path) -> Path:
    return record.with_name(record.stem + ".log")


def rotate(path: Path, backups: int = LOG_BACKUPS) -> None:
    """NAME.log -> NAME.log.1 -> ... -> NAME.log.<backups>; the oldest is dropped."""
    for index in range(backups, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        newer = path if index == 1 else path.with_name(f"{path.name}.{index - 1}")
        if newer.exists():
            os.replace(newer, older)


class Keeper:
    def __init__(self, record: Path) -> None:
        self.record = record
        spec = json.loads(record.read_text(encoding="utf-8"))
        self.argv: list[str] = list(spec["argv"])
        self.workdir: str = spec["workdir"]
        self.auto_restart: bool = bool(spec.get("auto_restart"))
        self.nodename: str = str(spec.get("nodename") or "")
        self.what: str = str(spec.get("kind") or "worker")  # its notes say "beat" for a beat
        self.pool: str = str((spec.get("spec") or {}).get("pool") or "")
        self.watch = Watch.from_dict(spec.get("watch"))
        self.ping_target: dict[str, Any] = dict(spec.get("ping") or {})
        self.ping_transport_options = _take_transport_options(self.ping_target)
        self._wedged_at: float | None = None  # set by the watch thread, acted on by run_once
        self._status_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self.log = log_path(record)
        self.hidden = HiddenLines(spec.get("redacted_arguments"))
        self.status: dict[str, Any] = {
            "keeper_pid": os.getpid(),
            "state": RUNNING,
            "worker_pid": None,
            "exit_code": None,
            "stop_requested": False,
            "started": None,
            "exited": None,
            "restarts": 0,
            "next_restart": None,
            "error": "",
            "answered": None,
            "unresponsive_since": None,
        }
        self.child: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- status -------------------------------------------------------------------------------
    def write_status(self, **changes: Any) -> None:
        with self._status_lock:  # the main loop and the watch thread both write it
            self.status.update(changes)
            self.status["updated"] = time.time()
            write_atomic(status_path(self.record), json.dumps(self.status), mode=0o600)

    # -- signals ------------------------------------------------------------------------------
    # Handlers only signal and set flags; the main loop writes the status file, so a
    # handler never interrupts a write of it.
    def on_stop(self, _signum: int, _frame: Any) -> None:
        if self.status["stop_requested"]:
            return  # once: a second SIGTERM could turn Celery's warm shutdown into a cold one
        self.status["stop_requested"] = True
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    def on_kill(self, _signum: int, _frame: Any) -> None:
        self.status["stop_requested"] = True
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

    # -- log ----------------------------------------------------------------------------------
    def _open_log(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - kept open while the worker runs

    def _write_log(self, data: bytes) -> None:
        with self._log_lock:  # the watch thread notes here too
            self._log_file.write(data)
            self._log_file.flush()
            if self._log_file.tell() >= LOG_MAX_BYTES:
                self._log_file.close()
                rotate(self.log)
                self._open_log()

    def _note(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._write_log(f"[{stamp}: celery-desk] {text}\n".encode())

    # -- one run of the worker ----------------------------------------------------------------
    def run_once(self) -> int:
        try:
            self.child = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own process group: a kill reaches the pool processes too.
                process_group=0,
            )
        except OSError as exc:
            message = f"cannot start the {self.what}: {exc.strerror or exc}"
            self._note(message)
            self.write_status(state=EXITED, exit_code=127, exited=time.time(), error=message)
            return 127
        now = time.time()
        requested = self.status["stop_requested"]
        self.write_status(
            state=STOPPING if requested else RUNNING,
            worker_pid=self.child.pid,
            started=now,
            stopping_since=now if requested else None,
            exit_code=None,
            exited=None,
            next_restart=None,
            error="",
            answered=None,
            unresponsive_since=None,
        )
        if requested:  # a stop arrived while it was being started
            self.child.send_signal(signal.SIGTERM)
        assert self.child.stdout is not None
        fd = self.child.stdout.fileno()
        run_over = threading.Event()
        self._wedged_at = None
        if self.nodename and self.ping_target.get("broker_url_env"):
            threading.Thread(
                target=self._watch_answers, args=(run_over,), name="watch", daemon=True
            ).start()
        try:
            self._copy_output(fd)
        finally:
            run_over.set()
            self._write_log(self.hidden.flush())
        code = self.child.wait()
        self._kill_leftovers(self.child.pid)
        self.child.stdout.close()
        return code

    def _copy_output(self, fd: int) -> None:
        """Copy the worker's output to the log until it exits; kill it when it is wedged."""
        assert self.child is not None
        killing_since: float | None = None
        while True:
            if self.status["stop_requested"] and self.status["state"] == RUNNING:
                self.write_status(state=STOPPING, stopping_since=time.time())
            if self._wedged_at is not None and killing_since is None:
                killing_since = time.monotonic()
                self._note(
                    f"no answer to pings for {self.watch.unresponsive_after_s:g} s while the "
                    "broker answers: SIGTERM, SIGKILL after "
                    f"{self.watch.kill_grace_s:g} s, then a restart"
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.child.pid, signal.SIGTERM)
            if (
                killing_since is not None
                and time.monotonic() - killing_since >= self.watch.kill_grace_s
                and self.child.poll() is None
            ):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.child.pid, signal.SIGKILL)
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                # A task's own child may hold the pipe open after the worker died: the exit
                # is what counts, not the end of its output.
                if self.child.poll() is not None:
                    self._drain(fd)
                    break
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            self._write_log(self.hidden.feed(data))

    def _kill_leftovers(self, group: int) -> None:
        """The worker has exited: what is left in its process group goes too (a process its
        app spawned at import, say). The group id stays reserved while anyone is in it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)

    # -- is it answering? ---------------------------------------------------------------------
    def _ping_app(self) -> Any:
        from desktop.core.app.panel_app import panel_app

        url = os.environ.get(str(self.ping_target["broker_url_env"]), "")
        app = panel_app(url, "", dict(self.ping_transport_options))
        if self.ping_target.get("control_exchange"):
            app.conf.control_exchange = self.ping_target["control_exchange"]
        return app

    def _watch_answers(self, run_over: threading.Event) -> None:
        """Ping the worker; mark it unresponsive after `unresponsive_after_s` of silence while
        the broker answers (a ping that cannot reach the broker counts for nothing)."""
        try:
            app = self._ping_app()
        except Exception as exc:  # an unusable URL: the worker itself will say so
            self._note(f"cannot watch the worker's answers: {type(exc).__name__}: {exc}")
            return
        answered_once = False
        silent_since: float | None = None
        try:
            while not run_over.wait(self.watch.every_s):
                if self.status["stop_requested"]:  # a warm shutdown answers no ping either
                    silent_since = None
                    continue
                try:
                    answered = self.nodename in ping(app, [self.nodename], self.watch.reply_s)
                except Exception:  # the broker did not answer the keeper either
                    silent_since = None
                    continue
                now = time.time()
                if answered:
                    answered_once, silent_since = True, None
                    if self.status.get("unresponsive_since"):
                        self._note("the worker answers again")
                    self.write_status(answered=now, unresponsive_since=None)
                    continue
                if not answered_once or run_over.is_set():
                    continue
                silent_since = silent_since or now - self.watch.every_s
                if self.status.get("unresponsive_since") is None and (
                    now - silent_since >= self.watch.unresponsive_after_s
                ):
                    self.write_status(unresponsive_since=silent_since)
                    if self.auto_restart and may_kill_for_silence(self.pool):
                        self._wedged_at = now
                    else:
                        self._note(
                            f"no answer to pings for {now - silent_since:.0f} s while the broker "
                            "answers: unresponsive"
                            + (f" ({self.pool} pool: a long task does this too)"
                               if not may_kill_for_silence(self.pool)
                               else "; not restarted (auto-restart is off)")
                        )  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                app.close()

    def _drain(self, fd: int) -> None:
        """What the exited worker left in the pipe, without waiting on whoever else holds it."""
        while select.select([fd], [], [], 0)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            self._write_log(self.hidden.feed(data))

    def run(self) -> int:
        # (The supervisor only signals a keeper once its pid is in the record, which is
        # after these handlers are usually set; an earlier signal ends the keeper, shown
        # as "keeper gone".)
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl+C in a terminal is not for us
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, self.on_kill)
        self._open_log()
        crashes = 0
        while True:
            started = time.monotonic()
            code = self.run_once()
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self._note(f"{self.what} exited ({how})")
            if self.status["stop_requested"] or not self.auto_restart:
                self.write_status(state=EXITED, exit_code=code, exited=time.time())
                return 0
            crashes = 0 if time.monotonic() - started > STABLE_AFTER_S else crashes + 1
            delay = RESTART_BACKOFF_S[min(max(crashes - 1, 0), len(RESTART_BACKOFF_S) - 1)]
            # One write: a reader never sees "exited" from a keeper that is about to restart.
            self.write_status(
                state=WAITING, exit_code=code, exited=time.time(), next_restart=time.time() + delay
            )
            self._note(f"restarting in {delay:.0f} s")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.status["stop_requested"]:
                time.sleep(0.1)
            if self.status["stop_requested"]:
                self.write_status(state=EXITED)
                return 0
            self.status["restarts"] += 1


def _take_transport_options(ping_target: dict[str, Any]) -> dict[str, Any]:
    """The transport options named in the record, taken out of this process's environment
    (the worker it starts inherits that environment and needs them not)."""
    name = str(ping_target.get("transport_options_env") or "")
    text = os.environ.pop(name, "") if name else ""
    options = json.loads(text) if text else {}
    return dict(options) if isinstance(options, dict) else {}


class HiddenLines:
    """The worker's output as its log keeps it: values under the profile's hidden argument
    names as **** (a worker logging at DEBUG prints each task's arguments; a task may log its
    own). Whole lines at a time, so a value split between two reads of the pipe is still
    found; a line longer than LINE_MAX_BYTES is taken as it is when that much has come."""

    LINE_MAX_BYTES = 1 << 20

    def __init__(self, names: list[str] | None) -> None:
        self.redactor = redactor_for(names)
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        """What can be written of `data` now: every whole line, hidden."""
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < self.LINE_MAX_BYTES:
            self._rest = data
            return b""
        cut = cut or len(data)
        self._rest = data[cut:]
        return self._hide(data[:cut])

    def flush(self) -> bytes:
        """The last line, unfinished (the worker has exited)."""
        rest, self._rest = self._rest, b""
        return self._hide(rest)

    def _hide(self, data: bytes) -> bytes:
        text = data.decode("utf-8", "surrogateescape")
        if not text or not self.redactor.mentions(text):
            return data
        lines = []
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            lines.append((self.redactor.text(body) or "") + line[len(body) :])
        return "".join(lines).encode("utf-8", "surrogateescape")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m desktop.core.local.worker_keeper RECORD.json", file=sys.stderr)
        return 2
    return Keeper(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
