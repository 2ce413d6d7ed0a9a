"""The small process that owns one local worker: `python -m desktop.core.worker_keeper RECORD`.

Why a keeper and not the panel itself: a worker must outlive the panel or the CLI command that
started it, yet someone has to learn its exit status, rotate its log and restart it after a
crash. The keeper runs in its own session, starts the worker as its child (so `waitpid` gives
the real exit code), copies the worker's output into a rotated log file, and writes what
happened to `NAME.status.json`. The panel and the CLI only read that file and send signals:

- SIGTERM to the keeper: warm shutdown (SIGTERM to the worker; running tasks finish).
- SIGUSR1 to the keeper: kill (SIGKILL to the worker's process group, pool included).

The worker's environment (broker and backend URLs with their passwords) is inherited from the
keeper's, never written to a file or an argv.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from desktop.core.files import write_atomic

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3
RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
STABLE_AFTER_S = 60.0  # a worker that ran this long before crashing restarts at once again

RUNNING, STOPPING, EXITED, WAITING = "running", "stopping", "exited", "waiting"


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
        self.log = log_path(record)
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
        }
        self.child: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- status -------------------------------------------------------------------------------
    def write_status(self, **changes: Any) -> None:
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
            message = f"cannot start the worker: {exc.strerror or exc}"
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
        )
        if requested:  # a stop arrived while it was being started
            self.child.send_signal(signal.SIGTERM)
        assert self.child.stdout is not None
        fd = self.child.stdout.fileno()
        while True:
            if self.status["stop_requested"] and self.status["state"] == RUNNING:
                self.write_status(state=STOPPING, stopping_since=time.time())
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
            self._write_log(data)
        code = self.child.wait()
        self.child.stdout.close()
        return code

    def _drain(self, fd: int) -> None:
        """What the exited worker left in the pipe, without waiting on whoever else holds it."""
        while select.select([fd], [], [], 0)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            self._write_log(data)

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
            self._note(f"worker exited ({how})")
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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m desktop.core.worker_keeper RECORD.json", file=sys.stderr)
        return 2
    return Keeper(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
