"""What the gathered facts say about one task, whichever source said it: its name, queue and
times from the journal, the message or the worker holding it; whether it finished and how.

The checks (checks.py) read the task through these, so each rule of "which source wins" has
one home."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from celery import states

from desktop.core.base.task_record import queue_of
from desktop.core.base.task_states import is_finished
from desktop.core.diagnosis.facts import Facts


def task_name(f: Facts) -> str | None:
    entry = held_entry(f)
    for name in (
        f.record.get("name") if f.record else None,
        f.place.message.task if f.place else None,
        f.unacked.message.task if f.unacked else None,
        entry.get("task") if entry else None,
    ):
        if name:
            return str(name)
    return None


def task_queue(f: Facts) -> str | None:
    if f.record is not None and (found := queue_of(f.record, f.config.routing())):
        return found
    if f.place is not None:
        return f.place.queue
    if f.unacked is not None and f.unacked.queue:
        return f.unacked.queue
    entry = held_entry(f)
    return str(entry["queue"]) if entry and entry.get("queue") else None


def held_entry(f: Facts) -> dict[str, Any] | None:
    """The task as a live worker holds it (active, reserved or scheduled), if one does."""
    return next((e for e in f.held or [] if e.get("id") == f.task_id), None)


def final_state(f: Facts) -> str | None:
    """The state the task ended in, by the backend or the journal; None while unfinished."""
    for state in (f.result_state, f.record.get("state") if f.record else None):
        if is_finished(state):
            return str(state)
    return None


def live_workers(f: Facts) -> set[str] | None:
    if f.workers is None:
        return None
    return set(f.workers) | set(f.registered or {})


def consumers(f: Facts, queue: str) -> list[str]:
    return sorted(n for n, w in (f.workers or {}).items() if queue in (w.get("queues") or []))


def moment(text: Any) -> float | None:
    """An ETA or expiry as Celery sends it (ISO 8601; naive means UTC) in epoch seconds."""
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def shown(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def moment_of(f: Facts, key: str) -> float | None:
    """The task's "eta" or "expires": as the worker holding it has it, else as the journal,
    the waiting message or the unacknowledged one carries it."""
    entry = held_entry(f)
    for value in (
        entry.get(key) if entry else None,
        f.record.get(key) if f.record else None,
        getattr(f.place.message, key) if f.place else None,
        getattr(f.unacked.message, key) if f.unacked else None,
    ):
        if (found := moment(value)) is not None:
            return found
    return None


def revoked_events(f: Facts) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The journal's task-revoked events: (expired ones, the others)."""
    events = f.events("task-revoked")
    return [e for e in events if e.get("expired")], [e for e in events if not e.get("expired")]


def failed_unregistered(f: Facts) -> bool:
    """A worker took it and did not know its name: Celery fails it with NotRegistered."""
    if final_state(f) != states.FAILURE:
        return False
    value = f.result_value if f.result_state == states.FAILURE else None
    exception = f.record.get("exception") if f.record else None
    return type(value).__name__ == "NotRegistered" or str(exception or "").startswith(
        "NotRegistered"
    )


def unregistered_name(f: Facts) -> str | None:
    """The name a worker did not know, from its NotRegistered failure: Celery raises it with
    the name as its one argument, which the worker's task-failed event (the only event such a
    task gets) carries, while nothing else may have told the journal the name."""
    value = f.result_value if f.result_state == states.FAILURE else None
    if type(value).__name__ == "NotRegistered" and getattr(value, "args", None):
        return str(value.args[0])  # type: ignore[union-attr]
    exception = str(f.record.get("exception") or "") if f.record else ""
    said = re.match(r"NotRegistered\((['\"])(.+)\1\)$", exception.strip())
    return said.group(2) if said else None


def failure_text(f: Facts) -> str:
    """A failure as "ExceptionType: message", from the backend, else the journal."""
    if f.result_state == states.FAILURE and isinstance(f.result_value, BaseException):
        return f"{type(f.result_value).__name__}: {f.result_value}"
    return str(f.record.get("exception") or "") if f.record else ""


def backend_expired(f: Facts) -> bool:
    return f.result_state == states.REVOKED and "expired" in str(f.result_value or "").lower()
