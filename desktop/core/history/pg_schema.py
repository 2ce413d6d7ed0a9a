"""The shared history's schema on PostgreSQL and its versioned migrations.

The tables' concepts are the SQLite journal's (monitor/journal_schema.py): `tasks` (a row per
task, its columns a TaskRecord's keys), `events` kept once per (task_id, timestamp, type),
`gaps`, `meta` (`schema`, `last_write`, `text_index`), `resolved_failures`, `audit`; and
`recorders`, who writes (schema 3, pg_presence.py). Each
migration is a version and its statements; they run in one transaction under an advisory lock,
so two recorders starting at once migrate once. A database whose schema is newer than this
program knows is refused, never written.

The text index (schema 2) is where SQLite has its FTS5 table of trigrams (journal_text.py):
pg_trgm's GIN indexes on the same columns, so the `ILIKE '%word%'` of a free word or a glob
is read from it instead of from every task (the planner chooses; a word most tasks hold is
still found sooner by walking the page's order). pg_trgm ships with PostgreSQL (contrib) and is
trusted: a database's owner may create it. Where it cannot be created (not installed, not
allowed), the migration says so in the log and in `meta.text_index`, the schema moves on and
the search reads every task, as before; each writer that opens the history tries again, so
installing the extension later and restarting a recorder builds the index (in the migration's
transaction: on a large history the other writers wait for the build, not measured yet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from desktop.core.monitor.journal_schema import INDEXED_SORTS
from desktop.core.monitor.journal_text import TEXT_COLUMNS

log = logging.getLogger(__name__)

# Any fixed number, the same in every recorder: the migration's lock (pg_advisory_xact_lock).
MIGRATION_LOCK = 0x43_44_4D_49  # "CDMI"

_COLUMN_TYPES = """
    id TEXT PRIMARY KEY, name TEXT, state TEXT, queue TEXT, routing_key TEXT, exchange TEXT,
    priority BIGINT, worker TEXT, args TEXT, kwargs TEXT, result TEXT, exception TEXT,
    traceback TEXT, sent DOUBLE PRECISION, received DOUBLE PRECISION, started DOUBLE PRECISION,
    finished DOUBLE PRECISION, runtime DOUBLE PRECISION, retries BIGINT, parent_id TEXT,
    root_id TEXT, eta TEXT, expires TEXT, submitted INTEGER NOT NULL DEFAULT 0,
    updated DOUBLE PRECISION NOT NULL, retry_of TEXT
"""

# A GIN index of trigrams per searched column (the columns of SQLite's tasks_fts), so an OR of
# ILIKEs over them is a BitmapOr of six small scans: one index over the six columns was
# costed as six scans of the whole of it, and the planner read every row instead (50,000 tasks,
# a word in one: 51 ms by the scan, 0.4 ms through per-column indexes).
TEXT_INDEXES = {column: f"tasks_text_{column}" for column in TEXT_COLUMNS}
_TEXT_INDEX_DDL = tuple(
    f"CREATE INDEX IF NOT EXISTS {name} ON tasks USING gin ({column} gin_trgm_ops)"
    for column, name in TEXT_INDEXES.items()
)
# What `meta.text_index` holds once the index is there; else the reason it is not.
TEXT_INDEX_READY = "pg_trgm"


def add_text_index(conn: Any, where: str) -> bool:
    """pg_trgm and the text index, in a savepoint of the migration's transaction: where the
    extension cannot be created, nothing else is undone, the reason is logged (a warning that
    searches read every task) and kept in `meta.text_index`. Returns whether the index is
    there."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for statement in _TEXT_INDEX_DDL:
                conn.execute(statement)
        said = TEXT_INDEX_READY
    except psycopg.Error as exc:
        said = f"no text index: pg_trgm cannot be created ({str(exc).strip()})"
        log.warning(
            "the history %s has %s; a free word is searched by reading every task. Install "
            "PostgreSQL's contrib extensions (Debian: postgresql-contrib) or let the database's "
            "owner run CREATE EXTENSION pg_trgm, then restart a recorder to build it",
            where,
            said,
        )
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('text_index', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (said,),
    )
    return said == TEXT_INDEX_READY


def text_index_state(conn: Any) -> str | None:
    """None when the history has its text index; else why not (what the migration said)."""
    there = conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
        "AND indexname = ANY(%s)",
        (list(TEXT_INDEXES.values()),),
    ).fetchone()[0]
    if there == len(TEXT_INDEXES):
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'text_index'").fetchone()
    return str(row[0]) if row and row[0] != TEXT_INDEX_READY else "no text index"


# A migration's step: a statement, or a function of the connection and the database's name
# (shown masked) for a step that decides (the text index, which may not be possible).
Step = str | Callable[[Any, str], object]

# 1: the SQLite journal's schema 6 in PostgreSQL's words, without its text index.
# 2: the text index (pg_trgm's GIN over the searched columns), where the server allows it.
MIGRATIONS: tuple[tuple[int, tuple[Step, ...]], ...] = (
    (
        1,
        (
            f"CREATE TABLE tasks ({_COLUMN_TYPES})",
            "CREATE INDEX tasks_retry_of ON tasks(retry_of) WHERE retry_of IS NOT NULL",
            "CREATE INDEX tasks_updated ON tasks(updated)",
            "CREATE INDEX tasks_name_state_sent ON tasks(name, state, sent)",
            "CREATE INDEX tasks_state_sent ON tasks(state, sent)",
            *(
                f"CREATE INDEX tasks_by_{column} ON tasks({column}, id)"
                for column in sorted(INDEXED_SORTS - {"id", "updated"})
            ),
            "CREATE TABLE events (task_id TEXT NOT NULL, type TEXT NOT NULL, "
            "timestamp DOUBLE PRECISION NOT NULL, fields TEXT NOT NULL, "
            "seq BIGINT GENERATED ALWAYS AS IDENTITY)",
            "CREATE UNIQUE INDEX events_once ON events(task_id, timestamp, type)",
            "CREATE TABLE gaps (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            'start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, '
            "reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', "
            "found INTEGER NOT NULL DEFAULT 0, note TEXT, recorded DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE resolved_failures (fingerprint TEXT PRIMARY KEY, "
            "resolved DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            'at DOUBLE PRECISION NOT NULL, profile TEXT, "user" TEXT, source TEXT, '
            "action TEXT NOT NULL, target TEXT NOT NULL, params TEXT, outcome TEXT NOT NULL, "
            "reply TEXT)",
            "CREATE INDEX audit_at ON audit(at)",
        ),
    ),
    (2, (add_text_index,)),
    # 3: who writes (pg_presence.py): one row per recorder, its last batch and last sign of
    #    life by the server's clock, so a panel says the recorder's lag, or that none writes.
    (
        3,
        (
            "CREATE TABLE recorders (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT "
            "NULL, started DOUBLE PRECISION NOT NULL, last_batch DOUBLE PRECISION, "
            "seen DOUBLE PRECISION NOT NULL, stopped DOUBLE PRECISION)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class HistorySchemaTooNew(Exception):
    """The database was migrated by a newer Celery Desk: this one does not know its tables
    and writes nothing to it."""

    def __init__(self, where: str, found: int, known: int = SCHEMA_VERSION) -> None:
        super().__init__(
            f"the history {where} has schema version {found}, newer than this Celery Desk "
            f"knows (version {known}): upgrade Celery Desk to write to it; nothing was written"
        )
        self.found = found
        self.known = known


def schema_version(conn: Any) -> int:
    """The database's schema version; 0 for a database without the history's tables."""
    found = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: Any, where: str) -> int:
    """Bring the database to SCHEMA_VERSION (a psycopg connection in autocommit); returns the
    version it was at. Raises HistorySchemaTooNew, naming both versions, when it is newer."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise HistorySchemaTooNew(where, found)
        for version, statements in MIGRATIONS:
            if version <= found:
                continue
            for step in statements:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn, where)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
        if found >= 2 and text_index_state(conn) is not None:
            add_text_index(conn, where)  # the extension may have been installed since
    return found
