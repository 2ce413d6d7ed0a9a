"""Retention in chunks: the journal's oldest tasks (and their events) deleted a few hundred at a
time, each chunk its own short write transaction under the writer's lock.

Why: one statement over a million tasks held the lock 1.25 s (a `NOT IN` over every event), on
the thread that receives events; on Redis that backed ~29 MB of events up against the 32 MB
at which Redis drops a subscriber, every minute. Here what to delete is chosen on a read-only
connection of its own (WAL: no lock, a fresh view per statement), and only the deletes take
the lock: a chunk's tasks by id, guarded so that a task updated since it was chosen is kept,
then exactly those tasks' events (`RETURNING`, through the `events_once` index). The chunk
grows or shrinks so one hold stays near `HOLD_TARGET_S`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# What one chunk should hold the writer's lock for: well under a frame's 16 ms on a quiet
# disk, so that a WAL checkpoint landing in a chunk's commit still stays far below 50 ms.
HOLD_TARGET_S = 0.01
CHUNK_FIRST = 20
CHUNK_MOST = 2000
# Between chunks, the writer's lock is free this long: a waiting batch write takes it first.
BREATHE_S = 0.005


def adapted_chunk(chunk: int, held_s: float) -> int:
    """The next chunk of a job done in short write transactions (a prune, the text index):
    sized so one hold of the writer's lock stays near HOLD_TARGET_S, grown by half at most."""
    scaled = int(chunk * HOLD_TARGET_S / max(held_s, 1e-4))
    return max(CHUNK_FIRST, min(CHUNK_MOST, scaled, chunk * 3 // 2))


def retention_rules(
    max_tasks: int,
    max_age_s: float | None,
    failures_kept: int | None,
    failures_max_age_s: float | None,
    failed_sql: str,
) -> list[tuple[str, int, float | None]]:
    """What a prune removes, as (which tasks: SQL over `tasks`, how many of them to keep, the
    age past which none is kept). With `failures_kept`, failed tasks (`failed_sql`) go by their
    own rule and are not counted in `max_tasks` (Journal.prune); both engines prune by these."""
    if failures_kept is None:
        return [("true", max_tasks, max_age_s)]
    return [
        (f"NOT ({failed_sql})", max_tasks, max_age_s),
        (failed_sql, failures_kept, failures_max_age_s),
    ]


@dataclass
class PruneReport:
    """What a prune did: tasks removed, chunks, the longest hold of the lock."""

    removed: int = 0
    chunks: int = 0
    longest_hold_s: float = 0.0
    holds_s: list[float] = field(default_factory=list)


class ChunkedPrune:
    """One prune of one journal: `which` conditions are SQL over `tasks` (trusted text)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.Lock,
        reader: sqlite3.Connection,
        should_stop: Callable[[], bool] = lambda: False,
        checkpointer: sqlite3.Connection | None = None,
    ) -> None:
        self.db = db
        self.lock = lock
        self.reader = reader
        # A second writable connection: it copies the WAL into the file between chunks, with
        # the writer's lock free (a checkpoint in a chunk's commit held it 40-80 ms).
        self.checkpointer = checkpointer
        self.should_stop = should_stop
        self.chunk = CHUNK_FIRST
        self.report = PruneReport()

    def count(self, which: str) -> int:
        return int(self.reader.execute(f"SELECT count(*) FROM tasks WHERE {which}").fetchone()[0])

    def older_than(self, which: str, cutoff: float) -> None:
        """Every task `which` last updated before `cutoff`."""
        while not self.should_stop():
            chosen = self.reader.execute(
                f"SELECT id, updated FROM tasks WHERE updated < ? AND {which} "
                "ORDER BY updated LIMIT ?",
                (cutoff, self.chunk),
            ).fetchall()
            if not chosen:
                return
            self._delete([row[0] for row in chosen], cutoff, inclusive=False)

    def beyond(self, which: str, keep: int) -> None:
        """The oldest tasks `which` past the newest `keep`."""
        excess = self.count(which) - keep
        rounds = 0
        while excess > 0 and not self.should_stop():
            chosen = self.reader.execute(
                f"SELECT id, updated FROM tasks WHERE {which} ORDER BY updated LIMIT ?",
                (min(self.chunk, excess),),
            ).fetchall()
            if not chosen:
                return
            excess -= self._delete([row[0] for row in chosen], chosen[-1][1], inclusive=True)
            rounds += 1
            if rounds % 50 == 0:  # tasks kept as updated meanwhile: count again
                excess = self.count(which) - keep

    def _delete(self, ids: list[str], newest: float, *, inclusive: bool) -> int:
        """Delete these tasks unless updated after `newest` since chosen, and their events."""
        marks = ",".join("?" * len(ids))
        guard = "<=" if inclusive else "<"
        with self.lock:
            started = time.perf_counter()
            self.db.execute("BEGIN IMMEDIATE")
            try:
                gone = [
                    row[0]
                    for row in self.db.execute(
                        f"DELETE FROM tasks WHERE id IN ({marks}) AND updated {guard} ? "
                        "RETURNING id",
                        (*ids, newest),
                    ).fetchall()
                ]
                if gone:
                    self.db.execute(
                        f"DELETE FROM events WHERE task_id IN ({','.join('?' * len(gone))})",
                        gone,
                    )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            held = time.perf_counter() - started
        report = self.report
        report.removed += len(gone)
        report.chunks += 1
        report.holds_s.append(held)
        report.longest_hold_s = max(report.longest_hold_s, held)
        self.chunk = adapted_chunk(self.chunk, held)
        if self.checkpointer is not None:
            self.checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        time.sleep(BREATHE_S)
        return len(gone)
