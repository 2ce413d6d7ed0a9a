"""Event times on the panel's clock, whatever the time zone and the clock of their sender.

The events are shaped as Celery's dispatcher makes them (`celery.events.event.Event` with the
sender's `utcoffset`, pid and Lamport clock) and go through the panel's real decoding
(`event_receiver().event_from_message`, as both capture paths call it) and the monitor's batch
pipeline (state, journal, diffs); only the moment each one reached the panel is given by the
test, through Celery's own `now` argument.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.events.event import Event

from desktop.core.broker import run_order
from desktop.core.monitor.events import event_receiver, receiver_app
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import StateDiff
from tests.factories import app_config

CHICAGO = 6.0  # what celery.utils.time.utcoffset() says in America/Chicago in winter (CST)
TRANSIT = 0.003  # broker hop, sender to panel
CLIENT = "gen4242@panel-host"
WORKER = "celery@chicago-host"
WORKER_CLOCK_SLOW_BY = 120.0


class Pipeline:
    """The monitor's pipeline without a broker: decode like the stream, then `_on_batch`."""

    def __init__(self, tmp_path: Path) -> None:
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.diffs: list[StateDiff] = []
        self.rates = Rates(window_s=120)
        self.monitor = Monitor("memory://", "", self.journal, on_diff=self._on_diff)
        self.app = receiver_app("memory://")
        self.connection = self.app.connection_for_read()
        self.receiver = event_receiver(self.app, self.connection)

    def _on_diff(self, diff: StateDiff) -> None:
        self.diffs.append(diff)
        self.rates.add(diff)

    def deliver(self, arrivals: list[tuple[float, dict[str, Any]]]) -> None:
        """One batch: each body decoded as it reached the panel at its given moment."""
        batch = [
            self.receiver.event_from_message(body, now=lambda at=at: at)[1] for at, body in arrivals
        ]
        self.monitor._on_batch(batch)

    def close(self) -> None:
        self.connection.close()
        self.app.close()
        self.journal.close()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    opened = Pipeline(tmp_path)
    yield opened
    opened.close()


def sent_by_client(kind: str, when: float, **fields: Any) -> tuple[float, dict[str, Any]]:
    """An event of the panel's own client: the panel's clock and zone (UTC here)."""
    body = Event(kind, hostname=CLIENT, utcoffset=0.0, pid=4242, clock=None, timestamp=when)
    return when + TRANSIT, {**body, **fields}


def sent_by_worker(
    kind: str, when: float, clock: int, *, slow_by: float = WORKER_CLOCK_SLOW_BY, **fields: Any
) -> tuple[float, dict[str, Any]]:
    """An event of a worker in America/Chicago whose clock is `slow_by` seconds behind."""
    body = Event(
        kind, hostname=WORKER, utcoffset=CHICAGO, pid=31337, clock=clock, timestamp=when - slow_by
    )
    return when + TRANSIT, {**body, **fields}


def heartbeat(when: float, clock: int) -> tuple[float, dict[str, Any]]:
    return sent_by_worker(
        "worker-heartbeat", when, clock, freq=2.0, sw_ident="py-celery", sw_ver="5.7.0",
        sw_sys="Linux", active=0, processed=0, loadavg=[0.1, 0.1, 0.1],
    )  # fmt: skip


def test_a_chicago_worker_with_a_slow_clock_keeps_every_time_in_order(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    t0 = time.time() - 62.5  # sent a minute ago, queued for 60 s, failed just now
    uuid = "a1b2c3"
    task = {"uuid": uuid, "name": "apis.tasks.t1", "args": "[1, 2]", "kwargs": "{}",
            "retries": 0, "root_id": uuid, "parent_id": None, "eta": None}  # fmt: skip
    pipeline.deliver([heartbeat(t0 - 4, 1), heartbeat(t0 - 2, 2), heartbeat(t0, 3)])
    sent = sent_by_client(
        "task-sent", t0 + 0.01, **task, queue="tasks", exchange="", routing_key="tasks"
    )
    pipeline.deliver([sent])
    pipeline.deliver([sent_by_worker("task-received", t0 + 60, 4, **task)])
    pipeline.deliver(
        [
            sent_by_worker("task-started", t0 + 60.004, 5, uuid=uuid),
            sent_by_worker(
                "task-failed",
                t0 + 60.5,
                6,
                uuid=uuid,
                exception="ValueError('boom')",
                traceback="Traceback (most recent call last): ...",
            ),
            heartbeat(t0 + 62, 7),
        ]
    )

    row = pipeline.journal.get(uuid)
    assert row is not None and row["state"] == "FAILURE"
    assert row["sent"] <= row["received"] <= row["started"] <= row["finished"], row
    # On the panel's clock: within the transit time of when each thing really happened.
    for column, true_time in (("sent", t0 + 0.01), ("received", t0 + 60),
                              ("started", t0 + 60.004), ("finished", t0 + 60.5)):  # fmt: skip
        assert true_time <= row[column] <= true_time + TRANSIT + 1e-6, (column, row[column])

    # The Queues screen's "Waited": the minute the task sat in the queue.
    (ran,) = run_order.started_order(
        pipeline.journal.started_in_queue("tasks"), "tasks", app_config()
    )
    assert ran.wait_s is not None and abs(ran.wait_s - 59.994) < 0.01

    # The Tasks screen's timeline: the order things happened in.
    timeline = pipeline.journal.timeline(uuid)
    assert [e["type"] for e in timeline] == [
        "task-sent", "task-received", "task-started", "task-failed"
    ]  # fmt: skip
    # What the worker itself said stays in the journal, for a person who wants to check.
    failed = json.loads(timeline[-1]["fields"])
    assert failed["utcoffset"] == CHICAGO
    assert abs(failed["sender_timestamp"] - (t0 + 60.5 - WORKER_CLOCK_SLOW_BY)) < 1e-6

    # The charts count the task as started and finished, in the last minute.
    for state in ("sent", "received", "started", "failed"):
        assert sum(pipeline.rates.series("state", state)[1]) == 1, state
    assert sum(pipeline.rates.series("queue", "tasks")[1]) == 1

    # The worker: measured 120 s behind; its last heartbeat is when the panel received it.
    worker = [w for d in pipeline.diffs for w in d.workers_changed if w.hostname == WORKER][-1]
    assert worker.clock_offset is not None
    assert abs(worker.clock_offset - WORKER_CLOCK_SLOW_BY) < 0.01
    assert worker.heartbeat is not None and abs(worker.heartbeat - (t0 + 62 + TRANSIT)) < 1e-6
    assert worker.online
    # Said once in the log too, as Celery's State would (for `celery-desk record`).
    drift_lines = [r.getMessage() for r in caplog.records if "clock of" in r.getMessage()]
    assert drift_lines == [f"the clock of {WORKER} is 120 s off this computer's; its event "
                           "times are corrected by that"]  # fmt: skip


def test_a_task_sent_that_reaches_the_panel_last_still_comes_first(pipeline: Pipeline) -> None:
    """Events of a client and a worker travel apart: a quick worker's task-received can reach
    the panel before the client's task-sent. The timeline goes by time, not by arrival."""
    t0 = time.time() - 5
    uuid = "sent-arrives-last"
    pipeline.deliver([heartbeat(t0 - 1, 1), sent_by_client("task-sent", t0 - 0.5, uuid="before")])
    _, sent = sent_by_client("task-sent", t0, uuid=uuid, name="apis.tasks.task1")
    pipeline.deliver(
        [
            sent_by_worker("task-received", t0 + 0.001, 2, uuid=uuid, name="apis.tasks.task1"),
            sent_by_worker("task-started", t0 + 0.002, 3, uuid=uuid),
            sent_by_worker(
                "task-succeeded", t0 + 0.1, 4, uuid=uuid, result="'task1'", runtime=0.098
            ),
            (t0 + 0.2, sent),  # reached the panel last
        ]
    )
    types = [e["type"] for e in pipeline.journal.timeline(uuid)]
    assert types == ["task-sent", "task-received", "task-started", "task-succeeded"]
    row = pipeline.journal.get(uuid)
    assert row is not None and row["state"] == "SUCCESS"
    assert row["sent"] <= row["received"] <= row["started"] <= row["finished"], row


def test_a_worker_seen_only_through_task_events_beat_when_they_arrived(
    pipeline: Pipeline,
) -> None:
    """A worker started with --without-heartbeat (or seen before its first heartbeat): its
    task events are its heartbeats, dated when the panel received them."""
    now = time.time()
    pipeline.deliver(
        [
            sent_by_worker("task-received", now - 0.2, 1, slow_by=0.0, uuid="u", name="x.y"),
            sent_by_worker("task-started", now - 0.1, 2, slow_by=0.0, uuid="u"),
        ]
    )
    (worker,) = [w for d in pipeline.diffs for w in d.workers_changed]
    assert worker.heartbeat is not None
    assert abs(worker.heartbeat - (now - 0.1 + TRANSIT)) < 1e-6
    assert worker.online
    assert worker.clock_offset is not None and abs(worker.clock_offset) < 0.01


@pytest.mark.parametrize("sent_arrives", ["first", "last"])
def test_an_idle_workers_task_received_stamped_before_task_sent(
    pipeline: Pipeline, sent_arrives: str
) -> None:
    """Celery stamps task-sent after publishing the message; an idle worker on the same
    clock can stamp task-received 2 ms before it (seen with a real worker)."""
    t0 = time.time() - 1
    uuid = f"idle-{sent_arrives}"
    sent = sent_by_client("task-sent", t0 + 0.002, uuid=uuid, name="x.y", retries=0)
    worker_events = [
        sent_by_worker("task-received", t0, 1, slow_by=0.0, uuid=uuid, name="x.y", retries=0),
        sent_by_worker("task-started", t0 + 0.001, 2, slow_by=0.0, uuid=uuid),
        sent_by_worker("task-succeeded", t0 + 0.05, 3, slow_by=0.0, uuid=uuid, runtime=0.05),
    ]
    for arrival in [sent, *worker_events] if sent_arrives == "first" else [*worker_events, sent]:
        pipeline.deliver([arrival])
    row = pipeline.journal.get(uuid)
    assert row is not None and row["state"] == "SUCCESS"
    assert row["sent"] <= row["received"] <= row["started"] <= row["finished"], row
    assert abs(row["received"] - row["sent"]) <= 0.002 + 1e-9  # moved no more than that
    assert [e["type"] for e in pipeline.journal.timeline(uuid)] == [
        "task-sent", "task-received", "task-started", "task-succeeded"
    ]  # fmt: skip


def test_a_retry_is_sent_after_the_first_attempt_was_received(pipeline: Pipeline) -> None:
    """The second task-sent of a retried task is later than the first task-received: that
    is no clock error, and stays where it is."""
    t0 = time.time() - 2
    events = [
        sent_by_client("task-sent", t0, uuid="r", name="x.y", retries=0),
        sent_by_worker("task-received", t0 + 0.01, 1, slow_by=0.0, uuid="r", retries=0),
        sent_by_worker("task-started", t0 + 0.02, 2, slow_by=0.0, uuid="r"),
        sent_by_worker("task-sent", t0 + 0.3, 3, slow_by=0.0, uuid="r", name="x.y", retries=1),
        sent_by_worker("task-retried", t0 + 0.31, 4, slow_by=0.0, uuid="r"),
        sent_by_worker("task-received", t0 + 0.32, 5, slow_by=0.0, uuid="r", retries=1),
        sent_by_worker("task-started", t0 + 0.33, 6, slow_by=0.0, uuid="r"),
        sent_by_worker("task-succeeded", t0 + 0.4, 7, slow_by=0.0, uuid="r", runtime=0.07),
    ]
    pipeline.deliver(events)
    timeline = pipeline.journal.timeline("r")
    assert [e["type"] for e in timeline] == [
        "task-sent", "task-received", "task-started", "task-sent", "task-retried",
        "task-received", "task-started", "task-succeeded",
    ]  # fmt: skip
    assert abs(timeline[3]["timestamp"] - (t0 + 0.3)) < 1e-9


def test_a_burst_a_worker_buffered_while_away_is_dated_when_it_happened(
    pipeline: Pipeline,
) -> None:
    """Celery's dispatcher keeps events while the broker is away and sends them all on
    reconnecting: they arrive late, in one batch, with a prompt heartbeat. Measured over the
    batch, the worker's clock is known before any of them is dated."""
    t0 = time.time() - 12
    buffered = [
        (t0 + 10, sent_by_worker("task-succeeded", t0 + k, k, uuid=f"b{k}", runtime=0.1)[1])
        for k in range(10)
    ]
    pipeline.deliver([*buffered, heartbeat(t0 + 10, 11)])
    for k in range(10):
        (event,) = pipeline.journal.timeline(f"b{k}")
        assert abs(event["timestamp"] - (t0 + k + TRANSIT)) < 1e-6, k
