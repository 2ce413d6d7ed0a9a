"""Journal query figures over a million tasks: first page filtered by name and state, sorted by
time, what the tasks table pays to open on it, and the saved views' counts (one round of the
Tasks screen's sidebar). Prints figures; asserts nothing.

With `--search JOURNAL`, the search language's examples on a realistic journal (built by
bench/gui_journal.py's `build` when missing, reused after): each query's first page, read
through the text index and by LIKE alone side by side, and what the index costs: the
migration that makes it, and the writer's time per 1,000 tasks with and without it.

With `--engine postgresql --history postgresql://postgres@127.0.0.1:5432/postgres`, the same
million tasks written to the shared history (PgJournal: COPY and upserts) in a database of the
run's own on that server (created as cd_bench_<pid>_0, dropped at the end: the URL's database
only issues CREATE and DROP DATABASE), and the same reads through PgReader: the figures of
`ENGINE_QUERIES` are printed for either engine, side by side in docs/PERFORMANCE.md.

Usage: python bench/journal.py [--tasks 1000000] [--json]
       python bench/journal.py --engine postgresql --history URL [--tasks 1000000] [--json]
       python bench/journal.py --search JOURNAL [--tasks 1000000] [--migrate] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NAMES = [f"workers.tasks.{n}" for n in ("t1", "t2", "t3", "add", "mul", "fail", "demo1", "demo2")]
STATES = ["SUCCESS"] * 8 + ["FAILURE", "STARTED"]


def fill(journal: object, count: int) -> float:
    from desktop.core.monitor.state import TaskRow

    started = time.perf_counter()
    base = time.time() - count
    batch = []
    for i in range(count):
        now = base + i
        batch.append(
            TaskRow(
                id=f"{i:08x}-0000-4000-8000-000000000000",
                name=NAMES[i % len(NAMES)],
                state=STATES[(i // 7) % len(STATES)],
                worker=f"w{i % 4}@host",
                routing_key="tasks",
                exchange="tasks",
                args=f"({i}, {i + 1})",
                kwargs="{}",
                result=str(2 * i + 1),
                exception=None,
                traceback=None,
                sent=now,
                received=now,
                started=now,
                finished=now + 0.01,
                runtime=0.01,
                retries=0,
                parent_id=None,
                root_id=None,
                eta=None,
                expires=None,
                updated=now,
            )
        )
        if len(batch) == 5000:
            journal.write(batch, [])  # type: ignore[attr-defined]
            batch = []
    journal.write(batch, [])  # type: ignore[attr-defined]
    # What the monitor's journal-text thread does within a second (SQLite: rows are noted,
    # then indexed in bulk; PostgreSQL: nothing to do), counted in the writing time.
    journal.index_text()  # type: ignore[attr-defined]
    return time.perf_counter() - started


def timed(fn: object, runs: int = 7) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


# The reads timed on either engine (what a panel's Tasks screen asks): each query's first page
# of 500, and counts. The fill's states: 10% FAILURE; names: 1 in 8 each; args "(i, i + 1)".
RARE_WORD = "(4242, "  # in the args of 1 task (and a few ids and results hold "4242")
COMMON_WORD = "tasks.add"  # in the name of 1 task in 8


def engine_queries() -> dict[str, object]:
    from desktop.core.monitor.task_query import TaskQuery

    return {
        "name+state, by sent": TaskQuery(name="workers.tasks.add", state="FAILURE"),
        "state, by sent": TaskQuery(state="FAILURE"),
        "state, by runtime asc": TaskQuery(state="FAILURE", order_by="runtime", descending=False),
        "state, by name": TaskQuery(state="FAILURE", order_by="name"),
        "unfiltered, by sent": TaskQuery(),
        f"free word {RARE_WORD!r} (rare)": TaskQuery(text=RARE_WORD),
        f"free word {COMMON_WORD!r} (1 in 8)": TaskQuery(text=COMMON_WORD),
    }


def engine_figures(reader: object) -> dict[str, dict[str, float]]:
    """Each query's first page (median of 7 after one untimed read) and count (median of 3)
    through `reader` (a JournalReader or a PgReader)."""
    figures: dict[str, dict[str, float]] = {}
    for name, query in engine_queries().items():
        reader.page(query, 0, 500)  # type: ignore[attr-defined]
        page_ms, page_max = timed(lambda q=query: reader.page(q, 0, 500))  # type: ignore[attr-defined]
        count_ms, _ = timed(lambda q=query: reader.count(q), runs=3)  # type: ignore[attr-defined]
        figures[name] = {"page_ms": page_ms, "page_max_ms": page_max, "count_ms": count_ms}
    return figures


def print_engine_figures(figures: dict[str, dict[str, float]]) -> None:
    print(f"{'first page of 500 / count':40} {'page ms':>9} {'max ms':>9} {'count ms':>9}")
    for name, each in figures.items():
        print(f"{name:40} {each['page_ms']:9.1f} {each['page_max_ms']:9.1f} "
              f"{each['count_ms']:9.1f}")  # fmt: skip


def saved_view_counts(reader: object) -> dict[str, float]:
    """Each default view's count as the sidebar reads it; the Slow view's includes making its
    query (p99 per name of the latest SLOW_SAMPLE runtimes), which the sidebar keeps 60 s."""
    from desktop.core.monitor.saved_views import DEFAULT_VIEWS, SLOW_SAMPLE, slow_query
    from desktop.core.monitor.task_query import TaskQuery
    from desktop.core.monitor.task_search import parse

    def count(text: str | None) -> int:
        return reader.count(TaskQuery(search=parse(text))) if text else 0  # type: ignore[attr-defined]

    def slow() -> int:
        return count(slow_query(reader.recent_runtimes(SLOW_SAMPLE)))  # type: ignore[attr-defined]

    return {
        view.name: timed(slow if view.computed else lambda q=view.query: count(q), runs=3)[0]
        for view in DEFAULT_VIEWS
    }


def sort_figures(path: Path, *, as_json: bool) -> int:
    """The Tasks screen's first page (500 rows) sorted by each indexed column both ways, as
    its reload reads it (a read-only JournalReader), median of 3 after one untimed read."""
    from desktop.core.monitor.journal_reader import JournalReader
    from desktop.core.monitor.journal_schema import INDEXED_SORTS
    from desktop.core.monitor.task_query import TaskQuery

    reader = JournalReader(path)
    figures: dict[str, float] = {}
    for key in sorted(INDEXED_SORTS):
        for descending in (True, False):
            query = TaskQuery(order_by=key, descending=descending)
            reader.page(query, 0, 500)
            figures[f"{key} {'desc' if descending else 'asc'}"] = timed(
                lambda q=query: reader.page(q, 0, 500), runs=3
            )[0]
    reader.close()
    if as_json:
        print(json.dumps(figures))
    else:
        for name, ms in sorted(figures.items(), key=lambda item: -item[1]):
            print(f"{name:20} {ms:8.1f} ms")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--search", type=Path, help="a realistic journal: the search figures")
    parser.add_argument("--migrate", action="store_true", help="with --search: time schema 3->4")
    parser.add_argument("--sorts", type=Path, help="a realistic journal: each sort's first page")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--history",
        default="",
        help="with --engine postgresql: the server (postgresql://user@host:port/db; the run "
        "makes and drops a database of its own there)",
    )
    args = parser.parse_args()
    if args.engine == "postgresql":
        if not args.history:
            parser.error("--engine postgresql needs --history postgresql://…")
        from journal_pg import pg_main

        return pg_main(args.history, args.tasks, as_json=args.json)
    if args.sorts is not None:
        return sort_figures(args.sorts, as_json=args.json)
    if args.search is not None:
        from journal_search import search_main

        return search_main(args.search, args.tasks, migrate=args.migrate, as_json=args.json)

    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.journal_reader import JournalReader
    from desktop.core.monitor.task_query import TaskQuery

    path = Path(tempfile.mkdtemp(prefix="cd-journal-")) / "journal.sqlite3"
    journal = Journal(path)
    fill_s = fill(journal, args.tasks)
    query = TaskQuery(name="workers.tasks.add", state="FAILURE", order_by="sent")
    page_ms, page_max = timed(lambda: journal.page(query, 0, 500))
    count_ms, _count_max = timed(lambda: journal.count(query))
    text_ms, _text_max = timed(lambda: journal.page(TaskQuery(text="(4242, "), 0, 500), runs=3)
    # What the tasks table's reload job reads (off the GUI thread, on a read-only connection).
    reader = JournalReader(path)
    open_ms, _open_max = timed(lambda: (reader.page(query, 0, 500), reader.count(query)))
    unfiltered_ms, _unfiltered_max = timed(
        lambda: (reader.page(TaskQuery(), 0, 500), reader.count(TaskQuery()))
    )
    views_ms = saved_view_counts(reader)
    engines = engine_figures(reader)
    reader.close()
    size_mb = path.stat().st_size / 1e6
    figures = {
        "engine": "sqlite",
        "tasks": args.tasks,
        "fill_s": fill_s,
        "rows_per_s": args.tasks / fill_s,
        "load_average": os.getloadavg(),
        "queries": engines,
        "first_page_ms": page_ms,
        "first_page_max_ms": page_max,
        "count_ms": count_ms,
        "model_filtered_open_ms": open_ms,
        "model_unfiltered_open_ms": unfiltered_ms,
        "text_search_ms": text_ms,
        "db_mb": size_mb,
        "saved_view_count_ms": views_ms,
    }
    print(f"journal with {args.tasks:,} tasks: written in {fill_s:.1f} s "
          f"({args.tasks / fill_s:,.0f} rows/s), {size_mb:.0f} MB")  # fmt: skip
    print(
        f"first page (name+state, by time):   {page_ms:.1f} ms median, {page_max:.1f} ms max "
        "(target 100 ms)"
    )
    print(f"count for the same filter:           {count_ms:.1f} ms median")
    print(f"tasks table reload, filtered:        {open_ms:.1f} ms median (page + count, off GUI)")
    print(f"tasks table reload, unfiltered:      {unfiltered_ms:.1f} ms median")
    for name, ms in views_ms.items():
        print(f"saved view {name + ':':<27}{ms:.1f} ms median (its count, off GUI)")
    print(f"free-text search (the text index):   {text_ms:.1f} ms median (schema 7; --search)")
    print_engine_figures(engines)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps(figures))
    journal.close()
    path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
