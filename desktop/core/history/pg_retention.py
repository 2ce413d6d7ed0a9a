"""Retention of the shared history: the oldest tasks (and their events) deleted in chunks, each
its own short transaction, by one recorder at a time.

Several recorders write one database; each runs the retention loop, but only the one that
takes the advisory lock (`pg_try_advisory_lock`, held by its session until the prune ends, or
released by the server when that session dies) prunes; the others skip the round. A chunk's
tasks are chosen, then deleted only if no write touched them since (`updated` guard), then
exactly those tasks' events (`RETURNING`), as the SQLite journal's ChunkedPrune does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from desktop.core.monitor.journal_retention import BREATHE_S, CHUNK_MOST, PruneReport

log = logging.getLogger(__name__)

PRUNE_LOCK = 0x43_44_50_52  # "CDPR": the same number in every recorder


def prune_chunked(
    conn: Any,
    rules: list[tuple[str, int, float | None]],
    should_stop: Callable[[], bool] = lambda: False,
    chunk: int = CHUNK_MOST,
) -> PruneReport:
    """Apply retention `rules` (journal_retention.retention_rules) on `conn` (autocommit);
    nothing when another session holds the prune lock."""
    report = PruneReport()
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (PRUNE_LOCK,)).fetchone()
    if not row or not row[0]:
        log.info("history not pruned this round: another recorder is pruning it")
        return report
    try:
        for which, keep, age_s in rules:
            if age_s is not None:
                cutoff = time.time() - age_s
                while not should_stop():
                    chosen = conn.execute(
                        f"SELECT id, updated FROM tasks WHERE updated < %s AND {which} "
                        "ORDER BY updated LIMIT %s",
                        (cutoff, chunk),
                    ).fetchall()
                    if not chosen:
                        break
                    _delete(conn, report, [r[0] for r in chosen], cutoff, inclusive=False)
            counted = conn.execute(f"SELECT count(*) FROM tasks WHERE {which}").fetchone()
            excess = int(counted[0]) - keep
            while excess > 0 and not should_stop():
                chosen = conn.execute(
                    f"SELECT id, updated FROM tasks WHERE {which} ORDER BY updated LIMIT %s",
                    (min(chunk, excess),),
                ).fetchall()
                if not chosen:
                    break
                gone = _delete(conn, report, [r[0] for r in chosen], chosen[-1][1], inclusive=True)
                excess -= max(gone, 1)  # a chunk all updated meanwhile still moves on
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (PRUNE_LOCK,))
    return report


def _delete(
    conn: Any, report: PruneReport, ids: list[str], newest: float, *, inclusive: bool
) -> int:
    guard = "<=" if inclusive else "<"
    started = time.perf_counter()
    with conn.transaction():
        gone = [
            r[0]
            for r in conn.execute(
                f"DELETE FROM tasks WHERE id = ANY(%s) AND updated {guard} %s RETURNING id",
                (ids, newest),
            ).fetchall()
        ]
        if gone:
            conn.execute("DELETE FROM events WHERE task_id = ANY(%s)", (gone,))
    held = time.perf_counter() - started
    report.removed += len(gone)
    report.chunks += 1
    report.holds_s.append(held)
    report.longest_hold_s = max(report.longest_hold_s, held)
    time.sleep(BREATHE_S)
    return len(gone)
