"""Cluster state on `celery.events.state.State`, turned into typed diffs per batch.

Views never see raw events: a batch becomes one `StateDiff` (tasks added, tasks changed,
workers changed, the per-task event records for the journal). A malformed event is counted
and skipped; it never breaks the batch. Every event's time is put on the panel's clock first
(`ClusterState._to_panel_clock`, see clocks.py): all times downstream are the panel's.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from celery.events.state import TASK_EVENT_TO_STATE, State, Task
from celery.states import PENDING, RETRY, precedence

from desktop.core.base.clocks import TRUSTED_WITHIN_S, SenderClocks, drifted
from desktop.core.base.task_record import TaskRecord
from desktop.core.base.task_states import FINISHED_EVENTS

log = logging.getLogger(__name__)
SQLITE_INT_MIN, SQLITE_INT_MAX = -(2**63), 2**63 - 1  # SQLite's INTEGER is 64-bit signed

_EVENT_TO_STATE: dict[str, str] = dict(TASK_EVENT_TO_STATE)
_ROUTE_FIELDS = ("routing_key", "exchange", "queue")
_MERGE_RULES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in Task.merge_rules.items()}
_TASK_FIELDS = (
    "name", "args", "kwargs", "result", "exception", "traceback", "runtime", "retries",
    "parent_id", "root_id", "eta", "expires", "routing_key", "exchange",
)  # fmt: skip
_PRIVATE_FIELDS = frozenset(("local_received", "clock", "pid"))
_NUMBERS = (float, int)  # what a timestamp may be (not bool, a subclass of int)
_SANE_S = 1e10  # a clock offset past three centuries is no clock
# The stage each worker event follows in a task's life (for `_in_lifecycle_order`).
_FOLLOWS = {"received": "sent", "started": "received", **dict.fromkeys(FINISHED_EVENTS, "started")}


def _text(value: Any) -> str | None:
    """A field as the journal's text. Never raises: an event is outside input (a value too
    deep for JSON, an int past Python's 4,300 digits, a lone surrogate SQLite cannot store)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.isascii() else _storable(value)
    for show in (lambda v: json.dumps(v, default=repr), repr):
        try:
            return _storable(show(value))
        except (TypeError, ValueError, RecursionError, MemoryError):
            continue
    return f"<{type(value).__name__} not shown: too large or too deeply nested>"


def _storable(text: str) -> str:
    """Text SQLite can store as UTF-8: a lone surrogate becomes its escape."""
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()


def _number(value: Any) -> float | None:
    """A finite number, or None (SQLite stores NaN as NULL; infinity is no time)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int past a double's range
            return None
        return number if math.isfinite(number) else None
    return None


def sqlite_int(value: Any) -> int | None:
    """An int SQLite's 64-bit INTEGER can hold, or None (`retries` = 2**63 is no count)."""
    if type(value) is int and SQLITE_INT_MIN <= value <= SQLITE_INT_MAX:
        return value
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
    heartbeat: float | None  # when the panel last heard from it, on the panel's clock
    clock_offset: float | None = None  # its clock behind the panel's (s, measured; - = ahead)


# A worker is offline after its worker-offline event, or when the panel heard nothing from it
# for this long: Celery's heartbeats come every 2 s, and the margin keeps a busy broker or a
# slow event batch from calling a live worker gone. One rule for the Workers screen and alerts.
OFFLINE_AFTER_S = 15.0


def worker_online(worker: WorkerRow, now: float | None = None) -> bool:
    """Whether `worker` counts as online at `now`: its row says so, and its last heartbeat
    is recent (a SIGKILLed worker sends no worker-offline event; its heartbeats just stop)."""
    if worker.heartbeat is None:
        return worker.online
    return worker.online and (now or time.time()) - worker.heartbeat < OFFLINE_AFTER_S


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
    # The journal's row of each task above once this batch is written (`Journal.rows`): what
    # events never carry (the queue and priority the panel recorded when sending) and the
    # journal's merge (a finished state stays). Filled by the Monitor for its listeners.
    journaled: dict[str, TaskRecord] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.tasks_added or self.tasks_changed or self.workers_changed)


def _task_row(task_id: str, task: dict[str, Any], now: float) -> TaskRow:
    get = task.get
    finished = next((t for t in map(_number, map(get, FINISHED_EVENTS)) if t), None)
    retries = get("retries")
    state = task["state"]
    return TaskRow(
        id=task_id,
        name=_text(get("name")),
        state=state if isinstance(state, str) else PENDING,
        worker=_text(get("worker")),
        routing_key=_text(get("routing_key")),
        exchange=_text(get("exchange")),
        args=_text(get("args")),
        kwargs=_text(get("kwargs")),
        result=_text(get("result")),
        exception=_text(get("exception")),
        traceback=_text(get("traceback")),
        sent=_number(get("sent")),
        received=_number(get("received")),
        started=_number(get("started")),
        finished=finished,
        runtime=_number(get("runtime")),
        retries=sqlite_int(retries),
        parent_id=_text(get("parent_id")),
        root_id=_text(get("root_id")),
        eta=_text(get("eta")),
        expires=_text(get("expires")),
        updated=now,
    )


def _worker_row(worker: Any, clock_offset: float | None) -> WorkerRow:
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
        clock_offset=clock_offset,
    )


class ClusterState:
    """Tasks merged the way Celery's `Task.event` merges them, workers in Celery's `State`.

    Celery's `State` costs ~25 us per task event (a `Task` object with a `WeakSet`, a time heap,
    per-type and per-worker indexes) for bookkeeping the panel never reads: the journal is the
    record. Tasks here are plain dicts in a small LRU, merged with Celery's own tables (event to
    state, state precedence, merge rules for events that arrive late). Workers still go through
    Celery's `State`: few events, and its heartbeat expiry decides online/offline.
    """

    def __init__(self, max_tasks_in_memory: int = 10_000) -> None:
        self.state = State(max_tasks_in_memory=1, max_workers_in_memory=5000)
        self.clocks = SenderClocks()
        self._drift_logged: set[str] = set()
        self.tasks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.max_tasks_in_memory = max(1, max_tasks_in_memory)
        self.malformed = 0

    def apply(self, batch: list[dict[str, Any]]) -> StateDiff:
        diff = StateDiff()
        touched: dict[str, bool] = {}  # task id -> created in this batch
        heartbeats: dict[str, tuple[float, float]] = {}  # worker -> (timestamp, received)
        workers: dict[str, WorkerRow] = {}
        now = time.time()
        self._to_panel_clock(batch, now)
        for event in batch:
            kind = event.get("type") if isinstance(event, dict) else None
            if not isinstance(kind, str):
                diff.malformed += 1
                continue
            try:
                if kind.startswith("task-"):
                    record = self._task_event(kind, event, now, touched, heartbeats)
                    if record is None:
                        diff.malformed += 1
                    else:
                        diff.events.append(record)
                elif kind.startswith("worker-"):
                    if not isinstance(event.get("hostname"), str) or "timestamp" not in event:
                        diff.malformed += 1
                        continue
                    event.setdefault("local_received", now)
                    (worker, _created), _subject = self.state.event(event)
                    workers[worker.hostname] = self._worker_row(worker)
                    heartbeats.pop(worker.hostname, None)
                # other types are not ours to interpret
            except Exception:  # a field of the wrong type: skip this event, never the batch
                diff.malformed += 1
        for hostname, (timestamp, received) in heartbeats.items():
            try:
                worker, _ = self.state.get_or_create_worker(hostname)
                # Worker.event(type, timestamp, local_received): its heartbeat list holds the
                # moments the panel heard from it. (Celery's State passes these two the other
                # way round, so a task event put the sender's own time in that list.)
                worker.event(None, timestamp, received)
                workers[hostname] = self._worker_row(worker)
            except Exception:
                diff.malformed += 1
        tasks = self.tasks
        for task_id, created in touched.items():
            task = tasks.get(task_id)
            if task is None:  # evicted again within this batch: its events are journaled
                continue
            try:
                row = _task_row(task_id, task, now)
            except Exception:  # its events are journaled; a row that cannot be made is not
                diff.malformed += 1
                continue
            (diff.tasks_added if created else diff.tasks_changed).append(row)
        diff.workers_changed = list(workers.values())
        self.malformed += diff.malformed
        return diff

    def _to_panel_clock(self, batch: list[dict[str, Any]], now: float) -> None:
        """The one place event times are read: each sender's `timestamp` becomes a time on the
        panel's clock (clocks.py), measured over the whole batch before any is converted (a
        burst a worker buffered while the broker was away arrives late all at once). A
        corrected event keeps its sender's value as `sender_timestamp`, which also marks it as
        converted (a batch may hold one dict twice)."""
        found: list[tuple[dict[str, Any], str, float]] = []
        nearest: dict[str, tuple[float, float]] = {}  # sender -> (smallest delay, received)
        for event in batch:
            if not isinstance(event, dict) or "sender_timestamp" in event:
                continue
            sender, timestamp = event.get("hostname"), event.get("timestamp")
            if sender.__class__ is not str or timestamp.__class__ not in _NUMBERS:
                continue
            received = event.get("local_received")
            if received.__class__ not in _NUMBERS:
                received = now
            delay = received - timestamp
            if -_SANE_S < delay < _SANE_S:  # never inf or nan
                best = nearest.get(sender)
                if best is None or delay < best[0]:
                    nearest[sender] = (delay, received)
            found.append((event, sender, timestamp))
        clocks = self.clocks
        for sender, (delay, received) in nearest.items():
            clocks.measure(sender, delay, received)
        corrections: dict[str, float] = {}
        for event, sender, timestamp in found:
            correction = corrections.get(sender)
            if correction is None:
                correction = corrections[sender] = clocks.correction(sender)
            if correction:
                event["sender_timestamp"] = timestamp
                event["timestamp"] = timestamp + correction

    def _worker_row(self, worker: Any) -> WorkerRow:
        hostname = str(worker.hostname)
        offset = self.clocks.offset(hostname)
        if drifted(offset) and hostname not in self._drift_logged:
            # Celery's State logs this once per worker; its times are corrected here, so it
            # no longer would. Said once, for `celery-desk record` too.
            self._drift_logged.add(hostname)
            log.warning("the clock of %s is %.0f s off this computer's; its event times are "
                        "corrected by that", hostname, offset)  # fmt: skip
        return _worker_row(worker, offset)

    def _task_event(
        self,
        kind: str,
        event: dict[str, Any],
        now: float,
        touched: dict[str, bool],
        heartbeats: dict[str, tuple[float, float]],
    ) -> EventRecord | None:
        task_id = event.get("uuid")
        hostname = event.get("hostname")
        timestamp = _number(event.get("timestamp"))
        if not isinstance(task_id, str) or not isinstance(hostname, str) or timestamp is None:
            return None
        subject = kind[5:]
        state = _EVENT_TO_STATE.get(subject) or subject.upper()
        tasks = self.tasks
        task = tasks.get(task_id)
        if task is None:
            task = tasks[task_id] = {"state": PENDING}
            touched.setdefault(task_id, True)
            if len(tasks) > self.max_tasks_in_memory:
                tasks.popitem(last=False)
        else:
            tasks.move_to_end(task_id)
            touched.setdefault(task_id, False)
        timestamp = _in_lifecycle_order(task, subject, event, timestamp)
        if subject in _EVENT_TO_STATE:
            task[subject] = timestamp  # task["succeeded"] = when, as Celery's Task does
        if subject != "sent":
            task["worker"] = hostname
            received = _number(event.get("local_received")) or now
            heartbeats[hostname] = (timestamp, received)
        current = task["state"]
        if state != RETRY and current != RETRY and precedence(state) > precedence(current):
            # This event happened before the state we have (it arrived late): keep only the
            # fields Celery keeps for it, never its state.
            for key in _MERGE_RULES.get(state, ()):
                if key in event:
                    task[key] = event[key]
            # Where it was sent never changes, and only task-sent says it: the client may
            # publish that event after the worker already said "received" (Celery's State
            # drops it then; the panel keeps what is still unknown).
            for key in _ROUTE_FIELDS:
                if task.get(key) is None and event.get(key) is not None:
                    task[key] = event[key]
        else:
            for key in _TASK_FIELDS:
                if key in event:
                    task[key] = event[key]
            task["state"] = state
        return EventRecord(task_id, kind, timestamp, _fields_text(event))


def _in_lifecycle_order(
    task: dict[str, Any], subject: str, event: dict[str, Any], timestamp: float
) -> float:
    """`timestamp`, moved by at most `TRUSTED_WITHIN_S` to keep a task's stages in order.

    Celery stamps task-sent after the message is published (`amqp.send_task_message`), so an
    idle worker's task-received can read a few milliseconds earlier; and two machines' clocks
    within `TRUSTED_WITHIN_S` are not corrected (clocks.py). Of two events out of order by
    that little, the one that reached the panel second moves (the first is journaled already):
    task-sent back to the worker's task-received of the same attempt (`retries`), a worker
    event forward to the stage it follows. A larger gap is not this, and is left as it is.
    """
    if subject == "sent":
        later = _number(task.get("received"))
        if later is not None and task.get("retries") == event.get("retries"):
            return later if 0 < timestamp - later <= TRUSTED_WITHIN_S else timestamp
        return timestamp
    follows = _FOLLOWS.get(subject)
    earlier = _number(task.get(follows)) if follows else None
    if earlier is None or (subject == "received" and task.get("retries") != event.get("retries")):
        return timestamp
    return earlier if 0 < earlier - timestamp <= TRUSTED_WITHIN_S else timestamp


def _fields_text(event: dict[str, Any]) -> str:
    public = {k: v for k, v in event.items() if k not in _PRIVATE_FIELDS}
    try:
        return orjson.dumps(public, default=repr).decode()
    except (TypeError, orjson.JSONEncodeError):  # ints past 64 bits, non-str keys, nesting
        return _text(public) or "{}"
