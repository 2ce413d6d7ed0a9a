"""The journal bench on PostgreSQL (`bench/journal.py --engine postgresql --history URL`): the
same million tasks as the SQLite run written by the recorder's PgJournal (COPY into staging,
one upsert a batch of 5,000) into a database of the run's own (pg_scratch.py), then the same
reads (journal.engine_figures) through PgReader, as `tasks --history` and a panel read them.

The reads are timed after VACUUM ANALYZE, which autovacuum runs by itself after so many inserts
(its time is printed): till then the planner has no statistics, and the trigram indexes' GIN
pending lists, not yet merged, make them look dear. The rare word's page is also timed before
it, as a panel reading straight after the burst would see it. Each query's plan is printed
(the indexes it reads), so a page that is slow says why. Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from journal import RARE_WORD, engine_figures, engine_queries, fill, print_engine_figures, timed
from pg_scratch import scratch_database

from desktop.core.history.pg_journal import PgJournal
from desktop.core.history.pg_reader import PgReader
from desktop.core.history.pg_schema import TEXT_INDEXES
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.settings import urls

_READ = re.compile(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?"
                   r" (?:using |on )(\w+)")  # fmt: skip


def reads_of(plan: str) -> list[str]:
    """The indexes (or `tasks` for a scan of every row) a plan reads, in its order."""
    return _READ.findall(plan)


def _sizes(url: str) -> dict[str, float]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        text = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(to_regclass(name))), 0) "
            "FROM unnest(%s::text[]) name",
            (list(TEXT_INDEXES.values()),),
        ).fetchone()
    return {
        "db_mb": float(total[0] if total else 0) / 1e6,
        "text_index_mb": float(text[0] if text else 0) / 1e6,
    }


def _vacuum(url: str) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks")
    return time.perf_counter() - started


def pg_main(server_url: str, count: int, *, as_json: bool) -> int:
    with scratch_database(server_url) as url:
        print(f"writing {count:,} tasks into {urls.mask(url)} ...", flush=True)
        journal = PgJournal(url)
        fill_s = fill(journal, count)
        journal.close()
        reader = PgReader(url)
        rare = TaskQuery(text=RARE_WORD)
        reader.page(rare, 0, 500)
        before_ms, _ = timed(lambda: reader.page(rare, 0, 500), runs=3)
        vacuum_s = _vacuum(url)
        queries = engine_figures(reader)
        plans = {name: [reads_of(p) for p in reader.plans(q, 500)]
                 for name, q in engine_queries().items()}  # fmt: skip
        reader.close()
        sizes = _sizes(url)
    figures: dict[str, Any] = {
        "engine": "postgresql",
        "tasks": count,
        "fill_s": fill_s,
        "rows_per_s": count / fill_s,
        "rare_word_before_vacuum_ms": before_ms,
        "vacuum_analyze_s": vacuum_s,
        **sizes,
        "load_average": os.getloadavg(),
        "queries": queries,
        "plans": plans,
    }
    print(
        f"history with {count:,} tasks: written in {fill_s:.1f} s ({count / fill_s:,.0f} "
        f"rows/s), {sizes['db_mb']:.0f} MB ({sizes['text_index_mb']:.0f} MB text index)"
    )
    print(f"rare word's first page before VACUUM ANALYZE: {before_ms:.1f} ms median; "
          f"VACUUM ANALYZE took {vacuum_s:.1f} s")  # fmt: skip
    print_engine_figures(queries)
    for name, reads in plans.items():
        print(f"plan of {name}: " + " | ".join(", ".join(r) for r in reads))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if as_json:
        print(json.dumps(figures))
    return 0
