from __future__ import annotations

from typing import Any

from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import EventRecord, StateDiff, TaskRow
from tests.factories import task_row


def row(task_id: str, queue: str, runtime: float | None, state: str = "SUCCESS") -> TaskRow:
    return task_row(task_id, name="x.add", state=state, routing_key=queue, runtime=runtime)


def test_rates_per_state_and_queue_in_a_moving_window() -> None:
    rates = Rates(window_s=10)
    now = 1000.0
    events = [EventRecord(f"t{i}", "task-succeeded", now - 1, "{}") for i in range(5)]
    events += [
        EventRecord("f", "task-failed", now, "{}"),
        EventRecord("r", "task-received", now, "{}"),
    ]
    rows = [row(f"t{i}", "queue1", 0.1 * (i + 1)) for i in range(5)] + [
        row("f", "queue2", None, "FAILURE")
    ]
    rates.add(StateDiff(tasks_changed=rows, events=events), now=now)
    xs, ys = rates.series("state", "succeeded", now=now)
    assert xs[-1] == 0 and xs[0] == -10
    assert ys[-2] == 5 and ys[-1] == 0
    assert rates.series("queue", "queue2", now=now)[1][-1] == 1
    assert rates.keys("queue") == ["queue1", "queue2"]
    assert rates.keys("state") == ["failed", "received", "succeeded"]
    stats = rates.runtimes()
    assert [s.name for s in stats] == ["x.add"]
    assert stats[0].count == 5 and stats[0].max == 0.5
    assert abs(stats[0].p50 - 0.3) < 1e-9 and abs(stats[0].p99 - 0.496) < 1e-9
    rates.add(StateDiff(), now=now + 30)  # everything falls out of the window
    assert rates.keys("state") == [] and rates.runtimes() == []


def test_every_finished_event_counts_as_finished_by_queue() -> None:
    """A revoked or rejected task ended too (base/task_states.py); the chart counted only
    succeeded and failed ones, and never drew task-rejected at all."""
    rates = Rates(window_s=10)
    now = 1000.0
    events = [
        EventRecord("v", "task-revoked", now, "{}"),
        EventRecord("j", "task-rejected", now, "{}"),
        EventRecord("s", "task-started", now, "{}"),
    ]
    rows = [row("v", "q", None, "REVOKED"), row("j", "q", None, "REJECTED")]
    rows.append(row("s", "q", None, "STARTED"))
    rates.add(StateDiff(tasks_changed=rows, events=events), now=now)
    assert rates.series("queue", "q", now=now)[1][-1] == 2
    assert rates.keys("state") == ["rejected", "revoked", "started"]


def test_in_and_out_per_queue_for_the_queues_screen() -> None:
    """Sent tasks enter their queue, started ones leave it; the queue is the recorded one,
    else where the routing key delivers by the app's routing."""
    rates = Rates(window_s=60)
    now = 1000.0
    events = [EventRecord(f"s{i}", "task-sent", now - i, "{}") for i in range(4)]
    events.append(EventRecord("s0", "task-started", now, "{}"))
    rows = [task_row(f"s{i}", state="PENDING", routing_key="hi.x") for i in range(4)]
    journaled: Any = {"s3": {"queue": "recorded", "routing_key": "hi.x"}}
    diff = StateDiff(tasks_changed=rows, events=events, journaled=journaled)
    rates.add(diff, now=now, routing={"hi.x": "high"})
    assert rates.per_second("in", "high", 10, now=now) == 3 / 10
    assert rates.per_second("in", "high", 2, now=now) == 2 / 2  # s0 and s1, this second and last
    assert rates.per_second("out", "high", 10, now=now) == 1 / 10
    assert rates.per_second("in", "recorded", 10, now=now) == 1 / 10
    assert rates.per_second("in", "high", 10, now=now + 30) == 0
