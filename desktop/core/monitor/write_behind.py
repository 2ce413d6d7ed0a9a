"""The journal written behind the event stream: batches handed on by the thread that receives
events, written by a thread of their own, several at once when the journal is slower than
the stream.

Why: the journal's write (upserts through every index of `tasks`, the commit) took about
two thirds of the receiving thread's time in a flood; while it wrote, nobody read the socket
and Redis dropped the subscriber past its 32 MB pub/sub buffer. On this thread SQLite works
with Python's lock released, beside the decoding, on a second core when there is one. And
when it falls behind, what waits is written in one transaction: a task's rows of several
batches merge into one (`spill.merged`, the journal's own rule), so a lagging journal writes
less per event, not more.

What a listener gets does not change: each batch's `StateDiff`, in order, with the rows as
stored (`journaled`) once they are. The queue is bounded (`MAX_WAITING_EVENTS`): past it the
receiving thread waits, and the broker holds the rest, as it did while the write was on that
thread; and so is one write (`MOST_EVENTS_A_WRITE`), which holds the journal's lock.

Nothing is lost by a stop that cannot wait for the writer, or by a crash: the journal's last
write is the time its last batch was taken off the stream (`heard_until`), so the next start's
gap covers whatever was waiting, and it is filled from the result backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from desktop.core.monitor.spill import merged
from desktop.core.monitor.state import EventRecord, StateDiff, TaskRow

log = logging.getLogger(__name__)

# Events waiting for the journal before the receiving thread waits too (~0.5 KB each): a few
# seconds of writing, so a stop writes them all (a drain of 400,000 events left 29,000-54,000
# unwritten at a 5 s stop with 200,000 allowed).
MAX_WAITING_EVENTS = 50_000
# How long a stop waits for the writer to write what waits (it stops at once when nothing does).
DRAIN_AT_STOP_S = 30.0
# The most events one write takes of those waiting (about a second of writing on this
# machine): a write holds the journal's lock, which the panel's own writes and a second
# recorder on the same file wait for (SQLite's busy timeout is 5 s).
MOST_EVENTS_A_WRITE = 20_000


@dataclass
class Written:
    """One write of one or more batches: their rows merged per task, their events in order,
    and when the last of them was taken (what the journal holds up to, once written)."""

    rows: list[TaskRow]
    events: list[EventRecord]
    taken_at: float
    diffs: list[StateDiff]


def merged_batches(waiting: list[tuple[StateDiff, float]]) -> Written:
    """Batches in the order taken, as one write."""
    rows: dict[str, TaskRow] = {}
    events: list[EventRecord] = []
    for diff, _taken_at in waiting:
        for row in (*diff.tasks_added, *diff.tasks_changed):
            earlier = rows.get(row.id)
            rows[row.id] = row if earlier is None else merged(earlier, row)
        events.extend(diff.events)
    return Written(list(rows.values()), events, waiting[-1][1], [d for d, _ in waiting])


def _weight(diff: StateDiff) -> int:
    """What a batch counts against MAX_WAITING_EVENTS and MOST_EVENTS_A_WRITE: its events,
    and one for the batch (a batch of workers' heartbeats alone still waits)."""
    return len(diff.events) + 1


class WriteBehind:
    """The queue between the receiving thread (`hand_on`) and the writer (`write`, given by
    the Monitor: store a `Written`, tell its listener). Not started, it writes on the caller's
    thread, as a monitor without its threads (tests, a one-off) always did."""

    def __init__(self, write: Callable[[Written], None]) -> None:
        self._write = write
        self._waiting: list[tuple[StateDiff, float]] = []
        self._waiting_events = 0
        self._changed = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.writes = 0  # how many writes, each of one or more batches
        self.batches = 0

    def start(self) -> None:
        if self._thread is None:
            self._closing = False
            self._thread = threading.Thread(target=self._loop, name="journal-write", daemon=True)
            self._thread.start()

    def hand_on(self, diff: StateDiff, taken_at: float) -> None:
        """A batch applied to the state, for the journal: queued for the writer, or written
        at once when it is not running."""
        if self._thread is None:
            self._write_now([(diff, taken_at)])
            return
        with self._changed:
            while self._waiting_events > MAX_WAITING_EVENTS and not self._closing:
                self._changed.wait(0.1)
            self._waiting.append((diff, taken_at))
            self._waiting_events += _weight(diff)
            self._changed.notify_all()

    def close(self, timeout: float = DRAIN_AT_STOP_S) -> bool:
        """Write what waits, then stop; False when that took longer than `timeout` (what is
        left is written by the thread as it ends, unless the process ends first: then it is
        inside the gap the next start records, from the journal's last write)."""
        thread = self._thread
        if thread is None:
            return True
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        thread.join(timeout)
        if thread.is_alive():
            with self._changed:
                left = self._waiting_events
            log.warning("journal writer still writing after %.0f s (~%d events left)",
                        timeout, left)  # fmt: skip
            return False
        self._thread = None
        return True

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closing:
                    self._changed.wait(0.5)
                if not self._waiting:
                    return
                taken, events = 0, 0
                while taken < len(self._waiting) and (not taken or events < MOST_EVENTS_A_WRITE):
                    events += _weight(self._waiting[taken][0])
                    taken += 1
                waiting, self._waiting = self._waiting[:taken], self._waiting[taken:]
                self._waiting_events -= events
                self._changed.notify_all()
            self._write_now(waiting)

    def _write_now(self, waiting: list[tuple[StateDiff, float]]) -> None:
        self.writes += 1
        self.batches += len(waiting)
        try:
            self._write(merged_batches(waiting))
        except Exception:  # a listener's bug must not stop the writes
            log.exception("journal write of %d batches failed", len(waiting))
