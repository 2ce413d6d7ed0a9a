"""One local worker as the screens and the CLI show it: its states and how it ended.

Why apart from the supervisor: the screens' table model and the CLI's listing read these
records without starting or stopping anything.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.core.local.worker_spec import WorkerSpec

STARTING, ONLINE, STOPPING, STOPPED, CRASHED, UNRESPONSIVE = (
    "starting",
    "online",
    "stopping",
    "stopped",
    "crashed",
    "unresponsive",  # alive, answered once, silent since while the broker answers (keeper)
)
DEFAULT_GRACE_S = 30.0
START_TIMEOUT_S = 60.0


@dataclass
class LocalWorker:
    """One local worker as the screens and the CLI show it."""

    name: str
    nodename: str
    spec: WorkerSpec
    state: str
    since: float
    pid: int | None = None
    keeper_pid: int | None = None
    started: float | None = None
    exit_code: int | None = None
    restarts: int = 0
    next_restart: float | None = None
    detail: str = ""
    log_path: Path = field(default_factory=Path)

    @property
    def running(self) -> bool:
        return (
            self.state in (STARTING, ONLINE, STOPPING, UNRESPONSIVE)
            or self.next_restart is not None
        )

    def uptime_s(self, now: float | None = None) -> float | None:
        if self.started is None or self.state not in (ONLINE, STOPPING, STARTING, UNRESPONSIVE):
            return None
        return (now or time.time()) - self.started

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.nodename,
            "queues": list(self.spec.queues),
            "pid": self.pid,
            "state": self.state,
            "since": self.since,
            "started": self.started,
            "exit_code": self.exit_code,
            "restarts": self.restarts,
            "detail": self.detail,
            "log": str(self.log_path),
        }


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"
