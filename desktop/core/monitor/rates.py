"""Moving-window rates and runtime percentiles, from the same diffs as the tables: the one rate
engine of the Charts screen and the Queues screen's In/s and Out/s.

Per-second buckets, kept for `window_s` seconds: memory stays flat however long the panel runs.
Values read rather than counted (a queue's oldest waiting age) are kept as samples over the
same window (`sample`).
Counted per second: events by state ("state", "succeeded"), finished tasks by queue ("queue",
q), tasks sent to a queue ("in", q) and taken from it to run ("out", q). A task's queue is the
one rule of task_record.queue_of: the queue the panel recorded, else where its routing key
delivers (by the app's `routing` when the caller gives it).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from celery.events.state import TASK_EVENT_TO_STATE

from desktop.core.base.task_record import queue_of
from desktop.core.base.task_states import FINISHED_EVENTS
from desktop.core.monitor.state import StateDiff

# Every task event Celery knows (task-sent ... task-rejected) -> its series, "succeeded".
STATE_OF_EVENT = {f"task-{subject}": subject for subject in TASK_EVENT_TO_STATE}
# A task enters its queue when sent, and leaves it when a worker starts it.
QUEUE_MOVES = {"sent": "in", "started": "out"}


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p90 and p99 of `values` (not empty), by statistics' inclusive method: the Charts'
    runtime table and the Tasks screen's Slow view say "p99" by this one rule."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[89], cuts[98]


@dataclass(frozen=True)
class RuntimeStats:
    name: str
    count: int
    p50: float
    p90: float
    p99: float
    max: float


class Rates:
    def __init__(self, window_s: int = 120) -> None:
        self.window_s = window_s
        self._buckets: dict[int, Counter[tuple[str, str]]] = {}
        self._runtimes: deque[tuple[float, str, float]] = deque()
        # Values read now and then rather than counted (a queue's oldest age: "oldest", q),
        # kept over the same window: (kind, key) -> (when, value), oldest first.
        self._samples: dict[tuple[str, str], deque[tuple[float, float]]] = {}

    def add(
        self, diff: StateDiff, now: float | None = None, routing: Mapping[str, str] | None = None
    ) -> None:
        now = time.time() if now is None else now
        journaled = diff.journaled
        queues = {
            row.id: queue_of(journaled.get(row.id) or {"routing_key": row.routing_key}, routing)
            or "?"
            for row in (*diff.tasks_added, *diff.tasks_changed)
        }
        for event in diff.events:
            state = STATE_OF_EVENT.get(event.type)
            if state is None:
                continue
            second = int(min(event.timestamp, now))
            counter = self._buckets.setdefault(second, Counter())
            counter[("state", state)] += 1
            queue = queues.get(event.task_id, "?")
            if state in FINISHED_EVENTS:
                counter[("queue", queue)] += 1
            move = QUEUE_MOVES.get(state)
            if move is not None:
                counter[(move, queue)] += 1
        for row in (*diff.tasks_added, *diff.tasks_changed):
            if row.state == "SUCCESS" and row.runtime is not None and row.name:
                self._runtimes.append((now, row.name, row.runtime))
        self._trim(now)

    def _trim(self, now: float) -> None:
        oldest = int(now) - self.window_s
        for second in [s for s in self._buckets if s < oldest]:
            del self._buckets[second]
        while self._runtimes and self._runtimes[0][0] < now - self.window_s:
            self._runtimes.popleft()
        for name, read in list(self._samples.items()):
            while read and read[0][0] < now - self.window_s:
                read.popleft()
            if not read:
                del self._samples[name]

    def sample(self, kind: str, values: Mapping[str, float], now: float | None = None) -> None:
        """Values read at `now` (the Queues screen's oldest waiting age per queue, each time it
        reads the broker): drawn where they were read, with nothing between readings."""
        now = time.time() if now is None else now
        for key, value in values.items():
            self._samples.setdefault((kind, key), deque()).append((now, value))
        self._trim(now)

    def sample_keys(self, kind: str) -> list[str]:
        return sorted(key for k, key in self._samples if k == kind)

    def samples(
        self, kind: str, key: str, now: float | None = None
    ) -> tuple[list[float], list[float]]:
        """Seconds ago (negative, oldest first) and the values read then."""
        now = time.time() if now is None else now
        read = self._samples.get((kind, key), ())
        return [at - now for at, _value in read], [value for _at, value in read]

    def keys(self, kind: str) -> list[str]:
        return sorted({key for c in self._buckets.values() for k, key in c if k == kind})

    def series(self, kind: str, key: str, now: float | None = None) -> tuple[list[int], list[int]]:
        """Seconds ago (negative, oldest first) and tasks per second, zero where nothing came."""
        now_s = int(time.time() if now is None else now)
        counts = {second: counter[(kind, key)] for second, counter in self._buckets.items()}
        xs = list(range(-self.window_s, 1))
        return xs, [counts.get(now_s + x, 0) for x in xs]

    def per_second(self, kind: str, key: str, seconds: int, now: float | None = None) -> float:
        """The mean per second over the last `seconds` (at most the window), this one
        included: the Queues screen's In/s and Out/s."""
        now_s = int(time.time() if now is None else now)
        seconds = max(1, min(seconds, self.window_s))
        buckets = self._buckets
        total = sum(
            buckets[s][(kind, key)] for s in range(now_s - seconds + 1, now_s + 1) if s in buckets
        )
        return total / seconds

    def binned(self, kind: str, key: str, step_s: int, now: float | None = None) -> list[float]:
        """The window in slices of `step_s` seconds, oldest first, each the mean per second
        over its slice (the last slice ends with this second): a sparkline's heights, 30
        points over 15 minutes where `series` gives 901."""
        now_s = int(time.time() if now is None else now)
        step_s = max(1, step_s)
        slices = max(1, self.window_s // step_s)
        start = now_s - slices * step_s + 1
        totals = [0] * slices
        for second, counter in self._buckets.items():
            if start <= second <= now_s:
                totals[(second - start) // step_s] += counter[(kind, key)]
        return [total / step_s for total in totals]

    def total(self, kind: str, key: str) -> int:
        """How many were counted over the whole window."""
        return sum(counter[(kind, key)] for counter in self._buckets.values())

    def runtimes(self) -> list[RuntimeStats]:
        by_name: dict[str, list[float]] = {}
        for _, name, runtime in self._runtimes:
            by_name.setdefault(name, []).append(runtime)
        stats = []
        for name, values in sorted(by_name.items()):
            values.sort()
            p50, p90, p99 = percentiles(values)
            stats.append(RuntimeStats(name, len(values), p50, p90, p99, values[-1]))
        return stats
