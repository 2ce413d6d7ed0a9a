"""The journal written behind the event stream (monitor/write_behind.py): batches handed on
while the journal is busy are written together, a task's rows merged by the journal's own
rule, and every batch's diff still reaches the listener, in order, with the rows as stored."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.monitor.state import StateDiff
from desktop.core.monitor.write_behind import MAX_WAITING_EVENTS


def event(task_id: str, kind: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"uuid": task_id, "hostname": "w@test", "local_received": at, "type": kind,
            "timestamp": at, **fields}  # fmt: skip


def wait_for(done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the writer did not get there"
        time.sleep(0.01)


def test_batches_waiting_for_a_busy_journal_are_written_together_and_each_told(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    told: list[StateDiff] = []
    monitor = Monitor("memory://", "", journal, on_diff=told.append, max_tasks_in_memory=1)
    monitor._writes.start()
    try:
        now = time.time()
        done, running = str(uuid.uuid4()), str(uuid.uuid4())
        with journal._lock:  # the journal busy: the next batches wait, together
            monitor._on_batch([event(done, "task-received", now, name="t.add", args="(1, 2)")])
            wait_for(lambda: monitor._writes.writes == 1)  # that one's write waits for the lock
            monitor._on_batch([event(done, "task-succeeded", now + 1, result="3")])
            # A late event for a finished task, from a state that forgot it (1 task kept):
            # merged, it must not turn the task back, nor lose what the first batch said.
            monitor._on_batch([event(running, "task-received", now + 2, name="t.mul")])
            monitor._on_batch([event(done, "task-started", now + 0.5)])
        wait_for(lambda: len(told) == 4)
        assert monitor._writes.batches == 4 and monitor._writes.writes == 2
        stored = journal.get(done)
        assert stored is not None
        assert (stored["state"], stored["name"], stored["result"]) == ("SUCCESS", "t.add", "3")
        assert [d.events[0].type for d in told] == [
            "task-received", "task-succeeded", "task-received", "task-started"
        ]  # fmt: skip
        # Each diff carries the rows as stored once its write was done: the latest.
        assert told[1].journaled[done]["state"] == "SUCCESS"
        assert told[3].journaled[done]["state"] == "SUCCESS"
        assert set(told[2].journaled) == {running}
        assert len(journal.timeline(done)) == 3
    finally:
        assert monitor._writes.close(5.0)
        monitor.stream.app.close()
        journal.close()


def test_stopping_writes_what_waits_and_a_full_queue_holds_the_receiver_back(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr("desktop.core.monitor.write_behind.MAX_WAITING_EVENTS", 3)
    assert MAX_WAITING_EVENTS > 3  # the real bound is larger; this test makes it small
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal)
    monitor._writes.start()
    ids = [str(uuid.uuid4()) for _ in range(8)]
    handed: list[str] = []

    def receive() -> None:
        for task_id in ids:
            monitor._on_batch([event(task_id, "task-received", time.time(), name="t.add")])
            handed.append(task_id)

    journal._lock.acquire()
    receiver = threading.Thread(target=receive)
    receiver.start()
    time.sleep(0.5)
    held_back = len(handed)
    journal._lock.release()
    receiver.join(10)
    assert held_back < len(ids)  # it waited for room instead of queueing without bound
    assert monitor._writes.close(10.0)  # everything handed on is written before it stops
    assert journal.count() == len(ids)
    monitor.stream.app.close()
    journal.close()


def test_the_journal_holds_what_was_heard_until_the_batch_was_taken_never_moved_back(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The journal's last write (where the next start's gap begins) is when its last batch was
    taken off the stream, not when a lagging writer got to it: a recorder killed while
    batches waited has them inside that gap, filled from the result backend. One write takes
    at most MOST_EVENTS_A_WRITE of those waiting; a listener's failure stops no batch."""
    monkeypatch.setattr("desktop.core.monitor.write_behind.MOST_EVENTS_A_WRITE", 2)
    journal = Journal(tmp_path / "j.sqlite3")
    told: list[StateDiff] = []

    def listen(diff: StateDiff) -> None:
        told.append(diff)
        if len(told) == 1:
            raise RuntimeError("a listener's bug")

    monitor = Monitor("memory://", "", journal, on_diff=listen)
    monitor._writes.start()
    try:
        with journal._lock:
            for n in range(5):
                monitor._on_batch([event(f"t{n}", "task-received", time.time(), name="t.add")])
            handed_on = time.time()
            time.sleep(0.3)
        wait_for(lambda: len(told) == 5)
        last = journal.last_write()
        assert last is not None and last <= handed_on  # not the commit's time, 0.3 s later
        assert monitor._writes.writes >= 3  # 5 batches of 2 events each (1 + the batch)
        journal.write([], [], heard_until=1.0)  # nothing stored: nothing moves
        journal.write([monitor.state.apply([event("x", "task-received", 2.0)]).tasks_added[0]],
                      [], heard_until=2.0)  # fmt: skip
        assert journal.last_write() == last  # an older batch's time never moves it back
    finally:
        assert monitor._writes.close(5.0)
        monitor.stream.app.close()
        journal.close()
