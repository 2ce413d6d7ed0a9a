"""The search language's examples on a realistic journal (`bench/journal.py --search JOURNAL`):
each query's first page and its count, read through the text index (schema 4) and by LIKE
alone, side by side; the migration that makes the index; the writer's time per 1,000 tasks
with and without it. Prints figures; asserts only that both sides read the same rows.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from gui_journal import _rows, build

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.journal_schema import connect_writable
from desktop.core.monitor.journal_text import PENDING_TABLE, TEXT_TABLE, TextIndex
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from desktop.ui.tasks.model import PAGE_SIZE

# The examples, with values the realistic journal holds (gui_journal._rows: args
# "(i, n, 'order-{i % 9973}')", kwargs "{'attempt': n, 'region': 'eu-{i % 5}'}", failures
# "ValueError('bad input {i}')"); `{id}` is a piece of one task's id.
EXAMPLES = [
    ("free word (in ~100 tasks)", "order-4242"),
    ("free phrase (in 1 task)", '"bad input 77777"'),
    ("free word (in 20% of tasks)", "eu-1"),
    ("free word (in none)", "zebra"),
    ("two free words", "order-4242 eu-2"),
    ("a piece of a task id", "{id}"),
    ("short word (2 characters: LIKE)", "zz"),
    ("name:", "name:shop.orders.refund"),
    ("worker: (1 in 8 tasks)", "worker:celery@worker-3"),
    ("name: and state: (one index holds both)", "name:shop.orders.refund state:FAILURE"),
    ("name: and worker:", "name:shop.orders.refund worker:celery@worker-3"),
    ("name: glob", "name:shop.*"),
    ("state:FAILURE", "state:FAILURE"),
    ("args:", "args:4242"),
    ("exception:*Timeout*", "exception:*Timeout*"),
    ("exception: (in ~1,000 failures)", 'exception:"input 77"'),
    ("runtime>2.5", "runtime>2.5"),
    ("retries>=1", "retries>=1"),
    ("priority<3", "priority<3"),
    ("after:", "after:-2h"),
    ("before:-1h", "before:-1h"),
    ("sent:today", "sent:today"),
    ("negation", "-state:SUCCESS"),
    ("negated word", "state:FAILURE -order-4242"),
    ("OR of words", "order-4242 OR order-17"),
    ("OR of words, the common one first", "order-17 OR order-4242"),
    ("OR of rare words", "order-4242 OR order-4243"),
    ("OR of a name and a state", "name:shop.orders.refund OR state:RETRY"),
    ("OR of fields", "state:FAILURE OR retries>=1"),
]
RUNS = 5
COUNT_RUNS = 3


class LikeReader(JournalReader):
    """A reader that never uses the text index: the search as it was before schema 4."""

    def _text_index(self) -> TextIndex | None:
        return None


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def search_figures(path: Path) -> list[dict[str, Any]]:
    indexed, scanned = JournalReader(path), LikeReader(path)
    anchor = indexed._db.execute("SELECT max(received) FROM tasks").fetchone()[0] + 60
    middle = (indexed.count() * 2) // 3
    some_id = indexed._db.execute("SELECT id FROM tasks LIMIT 1 OFFSET ?", (middle,)).fetchone()[0]
    figures = []
    for label, text in EXAMPLES:
        query = TaskQuery(search=parse(text.replace("{id}", some_id[9:23]), now=anchor))
        like_ms, like_rows = median_ms(lambda q=query: scanned.page(q, 0, PAGE_SIZE), RUNS)
        fts_ms, fts_rows = median_ms(lambda q=query: indexed.page(q, 0, PAGE_SIZE), RUNS)
        assert [r["id"] for r in like_rows] == [r["id"] for r in fts_rows], f"{text}: differ"
        like_count_ms, like_count = median_ms(lambda q=query: scanned.count(q), COUNT_RUNS)
        fts_count_ms, fts_count = median_ms(lambda q=query: indexed.count(q), COUNT_RUNS)
        assert like_count == fts_count, f"{text}: counts differ"
        figures.append(
            {
                "label": label,
                "query": query.search.text if query.search else text,
                "rows": len(fts_rows),
                "count": fts_count,
                "like_page_ms": like_ms,
                "fts_page_ms": fts_ms,
                "like_count_ms": like_count_ms,
                "fts_count_ms": fts_count_ms,
            }
        )
        print(
            f"  {label:34} {like_ms:9.1f} {fts_ms:9.1f}   {like_count_ms:9.1f} "
            f"{fts_count_ms:9.1f}   {fts_count:>9,}",
            flush=True,
        )
    indexed.close()
    scanned.close()
    return figures


def drop_text_index(db: sqlite3.Connection) -> None:
    """Back to schema 3: the index and its triggers gone."""
    triggers = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tasks'"
    ).fetchall()
    for (name,) in triggers:
        db.execute(f"DROP TRIGGER {name}")
    db.execute(f"DROP TABLE IF EXISTS {TEXT_TABLE}")
    db.execute(f"DROP TABLE IF EXISTS {PENDING_TABLE}")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")


def migration_s(path: Path) -> float:
    """The journal taken back to schema 3, then the time its writer's open takes to migrate
    it (what the session's pool does once for a journal of an older version)."""
    db = sqlite3.connect(path, isolation_level=None)
    drop_text_index(db)
    db.close()
    started = time.perf_counter()
    connect_writable(path).close()
    return time.perf_counter() - started


def write_ms_per_1000(indexed: bool, tasks: int, batch: int = 1000) -> dict[str, float]:
    """A fresh journal written as the recorder writes it: each task once as received (no
    result), then again finished (its result or exception: the text index's update), in
    batches of `batch`; the median ms of each kind of batch. With the index, the rows the
    writes noted are then indexed as the monitor's thread does (`index_ms`: per 1,000 tasks,
    off the receiving thread)."""
    path = Path(tempfile.mkdtemp(prefix="cd-write-")) / "journal.sqlite3"
    journal = Journal(path)
    if not indexed:
        drop_text_index(journal._db)
    rng = random.Random(7)
    base = time.time() - tasks
    received, finished = [], []
    for start in range(0, tasks, batch):
        rows, events = _rows(start, batch, base, rng)
        early = [
            replace(r, state="RECEIVED", result=None, exception=None, traceback=None) for r in rows
        ]
        heard = [e for e in events if e.type == "task-received"]
        t0 = time.perf_counter()
        journal.write(early, heard)
        t1 = time.perf_counter()
        journal.write(rows, [e for e in events if e.type != "task-received"])
        t2 = time.perf_counter()
        received.append((t1 - t0) * 1000 * 1000 / batch)
        finished.append((t2 - t1) * 1000 * 1000 / batch)
    t0 = time.perf_counter()
    journal.index_text()
    index_ms = (time.perf_counter() - t0) * 1000 * 1000 / tasks
    journal.close()
    for leftover in path.parent.iterdir():
        leftover.unlink()
    path.parent.rmdir()
    return {
        "new_ms": statistics.median(received),
        "finished_ms": statistics.median(finished),
        "index_ms": index_ms,
    }


def search_main(path: Path, tasks: int, *, migrate: bool, as_json: bool) -> int:
    built_s = build(path, tasks)  # reused when it holds enough tasks; migrated to schema 4
    print(f"journal {path}: {tasks:,} tasks ready in {built_s:.1f} s, "
          f"{path.stat().st_size / 1e6:,.0f} MB")  # fmt: skip
    figures: dict[str, Any] = {"tasks": tasks, "page": PAGE_SIZE}
    if migrate:
        figures["migration_s"] = migration_s(path)
        print(f"schema 3 -> 4 (text index made and filled): {figures['migration_s']:.1f} s, "
              f"{path.stat().st_size / 1e6:,.0f} MB after")  # fmt: skip
    print(f"first page of {PAGE_SIZE} (newest first) and count, ms, median of {RUNS} / "
          f"{COUNT_RUNS}:")  # fmt: skip
    print(f"  {'query':34} {'LIKE page':>9} {'FTS page':>9}   {'LIKE cnt':>9} {'FTS cnt':>9}"
          f"   {'matches':>9}")  # fmt: skip
    figures["queries"] = search_figures(path)
    write_tasks = min(tasks, 50_000)
    for round_ in range(2):  # alternated: the machine's drift falls on both
        for indexed in (False, True):
            key = f"write_{'fts' if indexed else 'like'}_{round_}"
            figures[key] = write_ms_per_1000(indexed, write_tasks)
            print(f"write per 1,000 tasks, {'with' if indexed else 'without'} the text index "
                  f"(round {round_ + 1}): new {figures[key]['new_ms']:.1f} ms, finished "
                  f"{figures[key]['finished_ms']:.1f} ms, then indexed "
                  f"{figures[key]['index_ms']:.1f} ms")  # fmt: skip
    if as_json:
        print(json.dumps(figures))
    return 0
