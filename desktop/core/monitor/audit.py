"""The audit log: every action the panel or its CLI takes on the cluster, in the journal.

Who did what to which target, with which parameters, and what came back: a send, a retry, a
revoke or terminate, a purge or a message removed, a worker's pool, autoscale, consumers, rate
and time limits, a shutdown, a local worker started, stopped or killed; and a person revealing
a task's hidden argument values (ui/tasks/reveal.py), which touches no worker but is as much
worth knowing who did, and when. Kept in the profile's journal (table `audit`, schema 5), so
the window, `celery-desk audit` and a teammate reading the same file agree on what happened.

Parameters are redacted before they are kept (settings.redaction: passwords in URLs, values
under secret-like keys); the reply is cut to REPLY_CHARS. Recording is the caller's last step
and never its reason to fail: `record_safely` logs a journal that refuses and goes on.
"""

from __future__ import annotations

import getpass
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop.core.settings.redaction import redact

log = logging.getLogger(__name__)

REPLY_CHARS = 2000
OK, FAILED = "ok", "failed"


def current_user() -> str:
    """The person's login name, as the operating system knows it ("?" when it cannot say)."""
    try:
        return getpass.getuser()
    except Exception:  # no USER, no passwd entry (a container)
        return "?"


@dataclass(frozen=True)
class AuditEntry:
    """One action on the cluster."""

    action: str  # "revoke", "retry", "purge", "worker start", "pool_grow"…
    target: str  # a task id, a queue, a worker node, "3 tasks"…
    params: Mapping[str, Any] = field(default_factory=dict)
    outcome: str = OK  # OK or FAILED
    reply: str = ""  # what came back (a broadcast's replies, the error)
    profile: str = ""
    user: str = field(default_factory=current_user)
    at: float = field(default_factory=time.time)
    source: str = "window"  # "window" or "cli"

    def stored(self) -> tuple[Any, ...]:
        """The row as the journal keeps it: parameters redacted, as JSON; the reply cut."""
        params = json.dumps(redact(dict(self.params)), default=str, sort_keys=True)
        return (
            self.at, self.profile, self.user, self.source, self.action, self.target, params,
            self.outcome, self.reply[:REPLY_CHARS],
        )  # fmt: skip


AUDIT_COLUMNS = (
    "at",
    "profile",
    "user",
    "source",
    "action",
    "target",
    "params",
    "outcome",
    "reply",
)


def audit_query(limit: int, since: float | None, action: str | None) -> tuple[str, list[Any]]:
    """The audit log's read, newest first, in SQLite's words (`?`; the shared history's
    reader says them in PostgreSQL's): both engines' readers read it by this."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if action is not None:
        where.append("action = ?")
        params.append(action)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT * FROM audit{clause} ORDER BY at DESC, id DESC LIMIT ?", [*params, limit]


def entry_of(row: Mapping[str, Any]) -> AuditEntry:
    """A stored row read back (parameters as the JSON the journal kept)."""
    try:
        params = json.loads(row["params"] or "{}")
    except ValueError:
        params = {"params": row["params"]}
    return AuditEntry(
        action=str(row["action"]),
        target=str(row["target"]),
        params=params if isinstance(params, dict) else {"params": params},
        outcome=str(row["outcome"]),
        reply=str(row["reply"] or ""),
        profile=str(row["profile"] or ""),
        user=str(row["user"] or ""),
        at=float(row["at"]),
        source=str(row["source"] or ""),
    )


def reply_text(value: Any) -> str:
    """What an action returned, as one line for the log (None: nothing to say)."""
    if value is None:
        return ""
    if isinstance(value, BaseException):
        value = str(value)
    if isinstance(value, str):
        return str(redact(value))  # a URL in an error keeps no password
    try:
        return json.dumps(redact(value), default=str)
    except (TypeError, ValueError):
        return str(value)


class AuditSink:
    """Where a caller's entries go: a journal (anything with `record_audit`), with this
    profile's name and source filled in."""

    def __init__(self, journal: Any, profile: str, source: str) -> None:
        self.journal = journal
        self.profile = profile
        self.source = source

    def record(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any] | None = None,
        *,
        outcome: str = OK,
        reply: Any = None,
    ) -> None:
        """Record an action; a journal that refuses is logged, never raised (the action
        itself happened, or failed, whatever the log can keep)."""
        entry = AuditEntry(
            action, target, dict(params or {}), outcome, reply_text(reply), self.profile,
            source=self.source,
        )  # fmt: skip
        try:
            self.journal.record_audit(entry)
        except Exception as exc:
            log.warning("the audit log could not record %s %s: %s", action, target, exc)
