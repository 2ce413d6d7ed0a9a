"""Cluster state on `celery.events.state.State`, turned into typed diffs per batch.

Views never see raw events: a batch becomes one `StateDiff` (tasks added, tasks changed,
workers changed, the per-task event records for the journal). A malformed event is counted
and skipped; it never breaks the batch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from celery.events.state import State

_FINISHED = ("succeeded", "failed", "revoked", "rejected")
_TASK_REQUIRED = ("uuid", "hostname", "timestamp")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


@dataclass(frozen=True)
class TaskRow:
    id: str
    name: str | None
    state: str
    worker: str | None
    routing_key: str | None
    exchange: str | None
    args: str | None
    kwargs: str | None
    result: str | None
    exception: str | None
    traceback: str | None
    sent: float | None
    received: float | None
    started: float | None
    finished: float | None
    runtime: float | None
    retries: int | None
    parent_id: str | None
    root_id: str | None
    eta: str | None
    expires: str | None
    updated: float


@dataclass(frozen=True)
class WorkerRow:
    hostname: str
    online: bool
    active: int | None
    processed: int | None
    loadavg: tuple[float, ...] | None
    software: str | None
    heartbeat: float | None


@dataclass(frozen=True)
class EventRecord:
    task_id: str
    type: str
    timestamp: float
    fields: str


@dataclass
class StateDiff:
    tasks_added: list[TaskRow] = field(default_factory=list)
    tasks_changed: list[TaskRow] = field(default_factory=list)
    workers_changed: list[WorkerRow] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    malformed: int = 0

    @property
    def empty(self) -> bool:
        return not (self.tasks_added or self.tasks_changed or self.workers_changed)


def _task_row(task: Any) -> TaskRow:
    finished = next(
        (
            _number(getattr(task, attr, None))
            for attr in _FINISHED
            if _number(getattr(task, attr, None))
        ),
        None,
    )
    worker = getattr(task, "worker", None)
    return TaskRow(
        id=str(task.uuid),
        name=task.name,
        state=str(task.state),
        worker=getattr(worker, "hostname", None),
        routing_key=_text(task.routing_key),
        exchange=_text(task.exchange),
        args=_text(task.args),
        kwargs=_text(task.kwargs),
        result=_text(task.result),
        exception=_text(task.exception),
        traceback=_text(task.traceback),
        sent=_number(task.sent),
        received=_number(task.received),
        started=_number(task.started),
        finished=finished,
        runtime=_number(task.runtime),
        retries=task.retries if isinstance(task.retries, int) else None,
        parent_id=_text(task.parent_id),
        root_id=_text(task.root_id),
        eta=_text(task.eta),
        expires=_text(task.expires),
        updated=time.time(),
    )


def _worker_row(worker: Any) -> WorkerRow:
    raw = worker.loadavg if isinstance(worker.loadavg, list | tuple) else ()
    loadavg = tuple(float(x) for x in raw if _number(x) is not None)
    return WorkerRow(
        hostname=str(worker.hostname),
        online=bool(worker.alive),
        active=worker.active if isinstance(worker.active, int) else None,
        processed=worker.processed if isinstance(worker.processed, int) else None,
        loadavg=loadavg or None,
        software=" ".join(str(x) for x in (worker.sw_ident, worker.sw_ver) if x) or None,
        heartbeat=_number(worker.heartbeats[-1]) if worker.heartbeats else None,
    )


class ClusterState:
    """Wraps Celery's State with a small memory cap: the journal, not memory, is the record."""

    def __init__(self, max_tasks_in_memory: int = 10_000) -> None:
        self.state = State(max_tasks_in_memory=max_tasks_in_memory, max_workers_in_memory=5000)
        self.malformed = 0

    def apply(self, batch: list[dict[str, Any]]) -> StateDiff:
        diff = StateDiff()
        added: dict[str, TaskRow] = {}
        changed: dict[str, TaskRow] = {}
        workers: dict[str, WorkerRow] = {}
        now = time.time()
        for event in batch:
            kind = event.get("type") if isinstance(event, dict) else None
            if not isinstance(kind, str):
                diff.malformed += 1
                continue
            if kind.startswith("task-"):
                if any(k not in event for k in _TASK_REQUIRED) or not isinstance(
                    event.get("uuid"), str
                ):
                    diff.malformed += 1
                    continue
                event.setdefault("local_received", now)
                event.setdefault("clock", 0)
            elif kind.startswith("worker-"):
                if not isinstance(event.get("hostname"), str) or "timestamp" not in event:
                    diff.malformed += 1
                    continue
                event.setdefault("local_received", now)
            else:
                continue  # unknown event types are not ours to interpret
            try:
                (subject_obj, created), _subject = self.state.event(event)
                if kind.startswith("task-"):
                    row = _task_row(subject_obj)
                    host = subject_obj.worker
                    worker_row = _worker_row(host) if host is not None else None
                else:
                    worker_row = _worker_row(subject_obj)
            except Exception:  # Celery's State or a field of the wrong type: skip this event
                diff.malformed += 1
                continue
            if worker_row is not None:
                workers[worker_row.hostname] = worker_row
            if kind.startswith("task-"):
                if (created and row.id not in changed) or row.id in added:
                    added[row.id] = row
                else:
                    changed[row.id] = row
                timestamp = _number(event.get("timestamp")) or now
                diff.events.append(
                    EventRecord(row.id, kind, timestamp, _text(_public_fields(event)) or "{}")
                )
        diff.tasks_added = list(added.values())
        diff.tasks_changed = list(changed.values())
        diff.workers_changed = list(workers.values())
        self.malformed += diff.malformed
        return diff


def _public_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("local_received", "clock", "pid")}
