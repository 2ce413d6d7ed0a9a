"""Tasks merge the way Celery's own `Task.event` merges them, events out of order included."""

from __future__ import annotations

from typing import Any

from celery.events.state import State

from desktop.core.monitor.state import ClusterState

FIELDS = ("name", "args", "kwargs", "result", "runtime", "retries", "exception")


def event(kind: str, clock: int, **fields: Any) -> dict[str, Any]:
    host = "client@h" if kind == "task-sent" else "w1@h"
    base = {"uuid": "t1", "hostname": host, "timestamp": 1000.0 + clock, "clock": clock}
    return {"type": kind, **base, "local_received": 2000.0 + clock, **fields}


def celery_view(events: list[dict[str, Any]]) -> dict[str, Any]:
    state = State()
    for e in events:
        state.event(dict(e))
    task = state.tasks["t1"]
    return {"state": task.state, **{f: getattr(task, f) for f in FIELDS}}


def ours(events: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    state, row = ClusterState(), None
    for k in range(0, len(events), batch_size):
        diff = state.apply([dict(e) for e in events[k : k + batch_size]])
        row = next(r for r in [*diff.tasks_added, *diff.tasks_changed] if r.id == "t1")
    assert row is not None
    return {"state": row.state, **{f: getattr(row, f) for f in FIELDS}}


def test_same_outcome_as_celery_in_order_late_and_retried() -> None:
    received = event("task-received", 2, name="m.add", args="(1, 2)", kwargs="{}", retries=0)
    sequences = [
        [event("task-sent", 1, name="m.add"), received, event("task-started", 3),
         event("task-succeeded", 4, result="3", runtime=0.5)],
        # started and succeeded arrive before received: the state must not go back
        [event("task-started", 3), event("task-succeeded", 4, result="3", runtime=0.5), received],
        [received, event("task-started", 3),
         event("task-retried", 4, exception="Boom()"), event("task-started", 5),
         event("task-failed", 6, exception="Boom()")],
    ]  # fmt: skip
    for sequence in sequences:
        expected = celery_view(sequence)
        for batch_size in (1, 2, len(sequence)):
            assert ours(sequence, batch_size) == expected, (sequence, batch_size)


def test_task_events_refresh_the_worker_heartbeat() -> None:
    """As in Celery's State, but dated when the panel received the event: Celery's State
    records the event's own (sender's clock) timestamp there, a heartbeat hours "ago" for a
    worker in another time zone once its receiver shifted it."""
    state = ClusterState()
    diff = state.apply([event("task-started", 1)])
    assert [w.hostname for w in diff.workers_changed] == ["w1@h"]
    assert diff.workers_changed[0].heartbeat == event("task-started", 1)["local_received"]


def test_a_late_task_sent_still_says_where_the_task_was_sent() -> None:
    """The client may publish task-sent after the worker's first events (seen in CI): the
    state stays what the worker said, and the routing key, which only task-sent carries, is
    kept (Celery's State drops it)."""
    sequence = [
        event("task-received", 2, name="m.add", args="(1, 2)", kwargs="{}", retries=0),
        event("task-succeeded", 4, result="3", runtime=0.5),
        event("task-sent", 1, name="m.add", routing_key="tasks", exchange="tasks", queue="tasks"),
    ]
    for batch_size in (1, 3):
        state, rows = ClusterState(), {}
        for k in range(0, len(sequence), batch_size):
            diff = state.apply([dict(e) for e in sequence[k : k + batch_size]])
            rows.update({r.id: r for r in [*diff.tasks_added, *diff.tasks_changed]})
        assert rows["t1"].state == "SUCCESS"
        assert (rows["t1"].routing_key, rows["t1"].exchange) == ("tasks", "tasks")
    assert celery_view(sequence)["state"] == "SUCCESS"
