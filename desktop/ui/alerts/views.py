"""Which screen an alert points to, and the alerts log's lines.

One home for the mapping, so the tray's click, the log's Enter, the tab's badge and the log's
"View" column never disagree: the task kinds point to Failures (narrowed by the rule's query),
the queue kinds to Queues (that queue), a worker offline to Workers (that worker), a beat run
missed to Beat (that periodic task), and no events to Workers too (where the event stream and
the workers it heard are shown). The shell
does the going there (shell/alerts_shell.py); this module only says where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desktop.core.monitor.alert_rules import (
    BEAT_MISSED,
    NO_EVENTS,
    QUEUE_KINDS,
    TASK_KINDS,
    WORKER_OFFLINE,
)
from desktop.core.monitor.alerts import FIRING

FAILURES = "Failures"
QUEUES = "Queues"
WORKERS = "Workers"
BEAT = "Beat"


def screen_of(kind: str) -> str | None:
    """The title of the screen an alert of this kind points to; None for a kind this version
    does not know (a log written by a newer one)."""
    if kind in TASK_KINDS:
        return FAILURES
    if kind in QUEUE_KINDS:
        return QUEUES
    if kind in (WORKER_OFFLINE, NO_EVENTS):
        return WORKERS
    if kind == BEAT_MISSED:
        return BEAT
    return None


def view_text(kind: str, target: Mapping[str, str]) -> str:
    """The view in words, for the log's column: "Queues: emails", "Failures: name:proj.*"."""
    screen = screen_of(kind)
    if screen is None:
        return ""
    focus = (target.get("task") or target.get("queue") or target.get("worker")
             or target.get("entry") or "")  # fmt: skip
    if screen == FAILURES and not focus:
        focus = "every task"
    return f"{screen}: {focus}" if focus else screen


@dataclass(frozen=True)
class LogLine:
    """One alert of the log file, as read back: a line written by another version (or cut
    short) shows what it has, never fails the view."""

    at: float | None
    rule: str
    state: str
    message: str
    kind: str
    target: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> LogLine:
        at = entry.get("at")
        target = entry.get("target")
        return cls(
            float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
            str(entry.get("rule") or ""),
            str(entry.get("state") or ""),
            str(entry.get("message") or ""),
            str(entry.get("kind") or ""),
            {str(k): str(v) for k, v in target.items()} if isinstance(target, dict) else {},
        )

    @property
    def firing(self) -> bool:
        return self.state == FIRING

    def when(self) -> str:
        if self.at is None:
            return "?"
        return datetime.fromtimestamp(self.at).isoformat(" ", "seconds")

    def view(self) -> str:
        return view_text(self.kind, self.target)
