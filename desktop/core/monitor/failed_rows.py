"""The rows failures are grouped from (failures.py): one read, said in either engine's SQL,
so the SQLite journal and the shared history on PostgreSQL pick the same tasks."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from desktop.core.monitor.task_query import SQLITE, Condition, Dialect

# The states a failure can be read from (failures.py): FAILURE, and RETRY (a failure Celery
# will try again) and REVOKED (stopped) when asked for.
FAILED_STATES = ("FAILURE", "RETRY", "REVOKED")
# A failure's time: when it finished, else when the journal last heard of it.
FAILURE_TIME_SQL = "COALESCE(finished, updated)"


def failed_rows_sql(
    since: float | None = None,
    states: Sequence[str] = ("FAILURE",),
    search: Condition | None = None,
    newest: int | None = None,
    dialect: Dialect = SQLITE,
) -> tuple[str, list[Any]]:
    """The statement of `failed_rows_of`, with `?` parameters, in `dialect`'s words."""
    unknown = [s for s in states if s not in FAILED_STATES]
    if unknown or not states:
        raise ValueError(f"not a failed state: {', '.join(unknown) or '(none given)'}")
    placeholders = ", ".join("?" * len(states))
    params: list[Any] = list(states)
    recent = ""
    if since is not None:
        recent = f" AND {FAILURE_TIME_SQL} >= ?"
        params.append(since)
    if search is not None:
        clause, found = search.sql(None, dialect)
        recent += f" AND {clause}"
        params.extend(found)
    limit = ""
    if newest is not None:
        limit = " ORDER BY at DESC LIMIT ?"
        params.append(newest)
    sql = (
        "SELECT id, name, worker, queue, routing_key, exception, "
        f"{FAILURE_TIME_SQL} AS at FROM tasks WHERE state IN ({placeholders}){recent}{limit}"
    )
    return sql, params


def failed_rows_of(
    db: sqlite3.Connection,
    since: float | None = None,
    states: Sequence[str] = ("FAILURE",),
    search: Condition | None = None,
    newest: int | None = None,
) -> list[dict[str, Any]]:
    """The tasks in `states` (among FAILED_STATES) whose time (FAILURE_TIME_SQL, as `at`) is
    at or after `since`, and that `search` (the query language) finds: only what grouping
    failures needs (id, name, worker, queue, routing_key, exception, at), never args, results
    or tracebacks. `newest`: only that many, the most recent (a glance, not a census)."""
    sql, params = failed_rows_sql(since, states, search, newest)
    cursor = db.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
