"""Retention at a million tasks: how long a prune holds the journal's writer lock, and how long
a batch write waits for it meanwhile, chunked (`Journal.prune`) against the one-statement
prune it replaced (the reference, measured in the same run on a copy of the same file).

A journal of `--tasks` tasks with four events each is built once (reused when the file is
there), copied for each side, and pruned by `--drop` tasks (the oldest) while a writer thread
writes a batch of 500 rows every 100 ms, as the event stream does. Prints figures; asserts
nothing (docs/PERFORMANCE.md).

Usage: python bench/retention.py [--journal PATH] [--tasks 1000000] [--drop 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from journal import fill  # noqa: E402  (bench/journal.py: the same million rows)

EVENT_TYPES = ("task-sent", "task-received", "task-started", "task-succeeded")


def build(path: Path, tasks: int) -> None:
    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.state import EventRecord

    journal = Journal(path)
    try:
        started = time.perf_counter()
        fill(journal, tasks)
        base = time.time() - tasks
        batch: list[EventRecord] = []
        for i in range(tasks):
            task_id = f"{i:08x}-0000-4000-8000-000000000000"
            for k, kind in enumerate(EVENT_TYPES):
                batch.append(EventRecord(task_id, kind, base + i + k * 0.001, '{"x": 1}'))
            if len(batch) >= 20_000:
                journal.write([], batch)
                batch = []
        journal.write([], batch)
        print(f"built {tasks:,} tasks x 4 events in {time.perf_counter() - started:.0f} s")
    finally:
        journal.close()


def one_statement_prune(journal: Any, keep: int) -> None:
    """The prune this replaced, as it was: one DELETE of the oldest, then every orphan event."""
    with journal._lock:
        total = int(journal._db.execute("SELECT count(*) FROM tasks").fetchone()[0])
        journal._db.execute(
            "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks ORDER BY updated ASC LIMIT ?)",
            (total - keep,),
        )
        journal._db.execute("DELETE FROM events WHERE task_id NOT IN (SELECT id FROM tasks)")


def measure(path: Path, drop: int, chunked: bool) -> dict[str, Any]:
    """Prune `drop` tasks while a writer writes every 100 ms; the lock's holds and waits."""
    from dataclasses import fields

    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.state import TaskRow

    blank = {f.name: None for f in fields(TaskRow)}
    journal = Journal(path)
    total = int(journal._db.execute("SELECT count(*) FROM tasks").fetchone()[0])
    waits: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.wait(0.1):
            now = time.time()
            rows = [
                TaskRow(**{**blank, "id": f"new-{n}-{k}", "state": "SUCCESS", "updated": now})
                for k in range(500)
            ]
            n += 1
            asked = time.perf_counter()
            journal.write(rows, [])
            waits.append(time.perf_counter() - asked)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(0.5)
    started = time.perf_counter()
    holds: list[float]
    if chunked:
        report = journal.prune_report(total - drop)
        holds = report.holds_s
    else:
        held = time.perf_counter()
        one_statement_prune(journal, total - drop)
        holds = [time.perf_counter() - held]
    elapsed = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    thread.join()
    left = int(journal._db.execute("SELECT count(*) FROM tasks").fetchone()[0])
    journal.close()
    return {
        "side": "chunked" if chunked else "one statement",
        "elapsed_s": elapsed,
        "chunks": len(holds),
        "hold_ms_max": max(holds) * 1000,
        "hold_ms_median": statistics.median(holds) * 1000,
        "write_ms_max": max(waits, default=0.0) * 1000,
        "writes": len(waits),
        "tasks_left": left,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journal", type=Path, help="built here when missing, reused after")
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--drop", type=int, default=20_000, help="tasks past the limit")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cd-bench-retention-"))
    source = args.journal or scratch / "source.sqlite3"
    try:
        if not source.exists():
            build(source, args.tasks)
        results = []
        for chunked in (False, True):
            copy = scratch / f"copy-{int(chunked)}.sqlite3"
            shutil.copy(source, copy)
            results.append(measure(copy, args.drop, chunked))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"prune of the oldest {args.drop:,} tasks of {args.tasks:,} (4 events each), a writer")
    print("writing 500 rows every 100 ms meanwhile:")
    print(f"{'':<15}{'elapsed':>9}{'chunks':>8}{'hold max':>10}{'median':>8}{'write max':>11}")
    for r in results:
        print(
            f"{r['side']:<15}{r['elapsed_s']:>8.2f}s{r['chunks']:>8}{r['hold_ms_max']:>8.0f}ms"
            f"{r['hold_ms_median']:>6.0f}ms{r['write_ms_max']:>9.0f}ms"
        )
    reference, chunked_run = results
    ratio = chunked_run["hold_ms_max"] / max(reference["hold_ms_max"], 1e-9)
    print(f"longest hold, chunked / one statement: {ratio:.3f} (target: chunked <= 50 ms)")
    if args.json:
        print(json.dumps({"runs": results, "hold_ratio": ratio}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CELERY_DESK_SECRETS", "file")
    sys.exit(main())
