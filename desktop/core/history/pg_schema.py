"""The shared history's schema on PostgreSQL and its versioned migrations.

The tables' concepts are the SQLite journal's (monitor/journal_schema.py): `tasks` (a row per
task, its columns a TaskRecord's keys), `events` kept once per (task_id, timestamp, type),
`gaps`, `meta` (`schema`, `last_write`), `resolved_failures`, `audit`; and `recorders`,
who writes (pg_presence.py). Each migration is a
version and its statements; they run in one transaction under an advisory lock, so two
recorders starting at once migrate once. A database whose schema is newer than this program
knows is refused, never written.
"""

from __future__ import annotations

from typing import Any

from desktop.core.monitor.journal_schema import INDEXED_SORTS

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

# 1: the SQLite journal's schema 6 in PostgreSQL's words, without its text index (issue 20's
#    reader part brings search: trigram indexes where SQLite has FTS5).
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
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
    # 2: who writes (pg_presence.py): one row per recorder, its last batch and last sign of
    #    life by the server's clock, so a panel says the recorder's lag, or that none writes.
    (
        2,
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
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
    return found
