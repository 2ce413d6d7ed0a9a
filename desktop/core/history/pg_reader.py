"""The shared history read back: pages of tasks by the same `TaskQuery` as the SQLite journal
(its conditions said in PostgreSQL's words, task_query.POSTGRESQL), by keyset, a task's row,
the gaps. What `celery-desk tasks --history postgresql://…` prints.

Rows come in SQLite's order (NULLs last descending, first ascending), each page read as the
journal reads one (journal_reader.keyset_parts): the rows with a value and those without, each
a range of the (column, id) index, so a page costs the same at any depth. Free text is matched
by ILIKE over the searched columns, which the text index (pg_schema.TEXT_INDEXES: pg_trgm's GIN
where SQLite has FTS5) serves as it is: no narrowing clause beside it, the planner reads the
index for a word few tasks hold and walks the page's order for one most hold, with the same
rows either way. A history without the index (pg_trgm missing) reads every task for a word.
"""

from __future__ import annotations

import threading
from typing import Any

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import TaskRecord
from desktop.core.history.pg_connect import HistoryUnavailable, connect
from desktop.core.history.pg_journal import said_masked
from desktop.core.monitor.journal_reader import keyset_parts, shown_record
from desktop.core.monitor.journal_schema import SORTABLE, Gap
from desktop.core.monitor.task_query import POSTGRESQL, TaskQuery
from desktop.core.settings import urls

Part = tuple[str, list[Any], str]


def first_parts(query: TaskQuery) -> list[Part]:
    """The first page's reads, in SQLite's order of NULLs (keyset_parts gives the next)."""
    column, way = query.order_by, "DESC" if query.descending else "ASC"
    if column == "id":
        return [("TRUE", [], f"id {way}")]
    valued: Part = (f"{column} IS NOT NULL", [], f"{column} {way}, id {way}")
    empty: Part = (f"{column} IS NULL", [], f"id {way}")
    return [valued, empty] if query.descending else [empty, valued]


class PgReader:
    """Reads a shared history through one connection (a command's); thread-safe. Arguments
    are shown redacted by `redactor`, as the SQLite journal's reader does."""

    def __init__(self, url: str, *, redactor: ArgumentRedactor | None = None) -> None:
        """Raises HistoryUnavailable (not reachable, no history there) or
        HistorySchemaTooNew; never writes."""
        self._password = urls.password_of(url)
        self.path = urls.mask(url)
        self.redactor = redactor or ArgumentRedactor()
        self._lock = threading.Lock()
        self._conn = connect(url, write=False, purpose="reader")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _all(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        try:
            with self._lock, self._conn.cursor(row_factory=dict_row) as cursor:
                return list(cursor.execute(sql.replace("?", "%s"), params).fetchall())
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise HistoryUnavailable(
                f"the history {self.path} cannot be read: {said_masked(exc, self._password)}"
            ) from None

    def count(self, query: TaskQuery | None = None) -> int:
        where, params = (query or TaskQuery()).where(None, POSTGRESQL)
        return int(self._all(f"SELECT count(*) AS n FROM tasks{where}", params)[0]["n"])

    def page(
        self,
        query: TaskQuery | None = None,
        offset: int = 0,
        limit: int = 200,
        *,
        after: tuple[Any, str] | None = None,
    ) -> list[TaskRecord]:
        """Rows in the query's order, after the row whose `query.key()` is `after` (keyset),
        or from the start skipping `offset` rows (read, then dropped)."""
        query = query or TaskQuery()
        if query.order_by not in SORTABLE:
            raise ValueError(f"cannot sort by '{query.order_by}'")
        clauses, params = query.clauses(None, POSTGRESQL)
        parts = first_parts(query) if after is None else keyset_parts(query, after)
        wanted = limit + (offset if after is None else 0)
        rows: list[dict[str, Any]] = []
        for condition, values, order in parts:
            where = " AND ".join([*clauses, condition])
            rows += self._all(
                f"SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT ?",
                [*params, *values, wanted - len(rows)],
            )
            if len(rows) >= wanted:
                break
        skipped = offset if after is None else 0
        return [shown_record(r, self.redactor) for r in rows[skipped:]]

    def plans(self, query: TaskQuery | None = None, limit: int = 200) -> list[str]:
        """EXPLAIN of each read of the query's first page (what the bench and the tests check:
        the index the planner chose)."""
        query = query or TaskQuery()
        clauses, params = query.clauses(None, POSTGRESQL)
        plans = []
        for condition, values, order in first_parts(query):
            where = " AND ".join([*clauses, condition])
            rows = self._all(
                f"EXPLAIN SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT ?",
                [*params, *values, limit],
            )
            plans.append("\n".join(str(r["QUERY PLAN"]) for r in rows))
        return plans

    def get(self, task_id: str, *, real: bool = False) -> TaskRecord | None:
        found = self._all("SELECT * FROM tasks WHERE id = ?", [task_id])
        return shown_record(found[0], self.redactor, real) if found else None

    def gaps(self, limit: int = 100) -> list[Gap]:
        """The newest gaps first."""
        rows = self._all(
            'SELECT id, start, "end", reason, status, found, note FROM gaps '
            "ORDER BY start DESC, id DESC LIMIT ?",
            [limit],
        )
        return [Gap(**r) for r in rows]
