"""The SQL a recorder's write runs on PostgreSQL (history/pg_journal.py), and the small rules
around it: which failures are a value's (skipped alone) and which the server's (kept to
retry), a batch's rows in rounds that each hold a task once, the ids a batch touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from desktop.core.monitor.audit import AUDIT_COLUMNS
from desktop.core.monitor.journal import ON_CONFLICT, ROW_FIELDS, STORE_RESULT, SUBMITTED

COLUMNS = ", ".join(ROW_FIELDS)
EVENT_TAIL = " ON CONFLICT (task_id, timestamp, type) DO NOTHING"
# One row, one event: the batch written again one by one after a value failed it.
UPSERT_ONE = f"INSERT INTO tasks ({COLUMNS}) VALUES ({', '.join(['%s'] * len(ROW_FIELDS))})"
EVENT_ONE = "INSERT INTO events(task_id, type, timestamp, fields) VALUES (%s, %s, %s, %s)"
# A batch is copied (COPY) into tables of the connection's own, then stored by one statement
# each: 3.5x the rows a second of multi-row VALUES upserts (20,000 tasks: 0.75 s against
# 2.66 s), 2.5x the events. Emptied at each commit.
STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS staged_rows (LIKE tasks INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS staged_events (task_id TEXT, type TEXT, "
    "timestamp DOUBLE PRECISION, fields TEXT) ON COMMIT DELETE ROWS",
)
COPY_ROWS = f"COPY staged_rows ({COLUMNS}) FROM STDIN"
COPY_EVENTS = "COPY staged_events (task_id, type, timestamp, fields) FROM STDIN"
UPSERT_STAGED = (
    f"INSERT INTO tasks ({COLUMNS}) SELECT {COLUMNS} FROM staged_rows ORDER BY id {ON_CONFLICT}"
)
INSERT_STAGED_EVENTS = (
    "INSERT INTO events(task_id, type, timestamp, fields) SELECT task_id, type, timestamp, "
    "fields FROM staged_events ORDER BY task_id, timestamp, type" + EVENT_TAIL
)
STORE_RESULT_PG = STORE_RESULT.replace("?", "%s")
SUBMITTED_PG = SUBMITTED.replace("?", "%s")
AUDIT_INSERT = (
    f"INSERT INTO audit({', '.join(f'{chr(34)}{c}{chr(34)}' for c in AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(AUDIT_COLUMNS))})"
)
LAST_WRITE = (
    "INSERT INTO meta(key, value) VALUES ('last_write', %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
    "WHERE meta.value::float8 < excluded.value::float8"  # never back: several recorders
)
# What PostgreSQL cannot store, whatever the server: an int past 64 bits, text with a NUL or
# a lone surrogate, a value psycopg cannot adapt. Skipped alone, counted in `refused`.
VALUE_ERRORS = (
    psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError, OverflowError,
    UnicodeEncodeError, ValueError, TypeError,
)  # fmt: skip
# The server or the way to it failed: nothing was written, try again later.
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def refuses_value(exc: BaseException) -> bool:
    """A failure of one value, not of the database: a ProgrammingError counts only when
    psycopg raised it itself (it could not adapt a value); from the server (a table missing,
    say) it is the database's, and the batch is kept to retry, never skipped as "refused"."""
    if isinstance(exc, psycopg.ProgrammingError):
        return exc.sqlstate is None
    return isinstance(exc, VALUE_ERRORS)


def rounds(values: Sequence[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Rows in statements that each hold a task once (PostgreSQL refuses an upsert that
    touches a row twice), in the batch's order."""
    rounds: list[list[tuple[Any, ...]]] = []
    seen: dict[Any, int] = {}
    for value in values:
        at = seen.get(value[0], 0)
        seen[value[0]] = at + 1
        if at == len(rounds):
            rounds.append([])
        rounds[at].append(value)
    return rounds


def touched(tasks: Sequence[tuple[Any, ...]], events: Sequence[tuple[Any, ...]]) -> set[str]:
    """The task ids a batch's rows and events name (each value's first item)."""
    return {str(v[0]) for v in tasks} | {str(v[0]) for v in events}


def prepare(conn: psycopg.Connection[Any]) -> None:
    """Each new connection of the pool: its staging tables (temporary: its own)."""
    for statement in STAGING:
        conn.execute(statement)
