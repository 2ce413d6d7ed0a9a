"""The shared history read back: everything a screen reads of a history (monitor/
history_reader.HistoryReader, which the SQLite journal's reader gives too), with the same rows
in the same order: pages of tasks by the same `TaskQuery` (its conditions said in PostgreSQL's
words, task_query.POSTGRESQL) by keyset, a task's row, timeline and children, the filter
choices, failures, the audit log, beat's runs, the gaps; and the recorders' status
(pg_presence.py). What `celery-desk tasks --history postgresql://…` prints and what a panel on
a profile with a shared history shows.

SQLite's orders are kept where PostgreSQL's differ: NULLs first ascending and last descending
(said with NULLS FIRST / LAST), text by its bytes (COLLATE "C"), "insertion order" by the
events' `seq` and the tasks' id (a task row has no rowid here).

Rows come in SQLite's order (NULLs last descending, first ascending), each page read as the
journal reads one (journal_reader.keyset_parts): the rows with a value and those without, each
a range of the (column, id) index, so a page costs the same at any depth. Free text is matched
by ILIKE over the searched columns, which the text index (pg_schema.TEXT_INDEXES: pg_trgm's GIN
where SQLite has FTS5) serves as it is: no narrowing clause beside it, the planner reads the
index for a word few tasks hold and walks the page's order for one most hold, with the same
rows either way. A history without the index (pg_trgm missing) reads every task for a word.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import TaskRecord
from desktop.core.history import pg_reader_pool
from desktop.core.history.pg_connect import HistoryUnavailable, said_masked
from desktop.core.history.pg_presence import RecorderStatus, read_status
from desktop.core.monitor.audit import AuditEntry, audit_query, entry_of
from desktop.core.monitor.failed_rows import failed_rows_sql
from desktop.core.monitor.journal_reader import CHOICE_COLUMNS, keyset_parts, shown_record
from desktop.core.monitor.journal_schema import SORTABLE, Gap
from desktop.core.monitor.task_query import POSTGRESQL, Condition, TaskQuery
from desktop.core.settings import urls

Part = tuple[str, list[Any], str]
WAIT_S = 10.0  # for a connection of the pool: the server away, HistoryUnavailable after it
CANCEL_S = 5.0  # for a cancel request to land; one that does not: its connection is closed
T = TypeVar("T")


class _Cancel(threading.Thread):
    """A cancel request on its way to a connection's statement (PgReader.interrupt)."""

    def __init__(self, conn: Any) -> None:
        super().__init__(name="history-cancel", daemon=True)
        self.conn = conn
        self.landed = False

    def run(self) -> None:
        try:
            self.conn.cancel_safe(timeout=CANCEL_S)
            self.landed = True
        except Exception:  # timed out, or the server away: the connection is closed after
            pass


def first_parts(query: TaskQuery) -> list[Part]:
    """The first page's reads, in SQLite's order of NULLs (keyset_parts gives the next)."""
    column, way = query.order_by, "DESC" if query.descending else "ASC"
    if column == "id":
        return [("TRUE", [], f"id {way}")]
    valued: Part = (f"{column} IS NOT NULL", [], f"{column} {way}, id {way}")
    empty: Part = (f"{column} IS NULL", [], f"id {way}")
    return [valued, empty] if query.descending else [empty, valued]


class PgReader:
    """Reads a shared history; thread-safe, reads side by side on the connections it shares
    with the process's other readers of the same URL (pg_reader_pool.py). Arguments are
    shown redacted by `redactor`, as the SQLite journal's reader does. A call that meets a
    connection the server cut is tried once more on another (HistoryUnavailable only while
    the server cannot be reached)."""

    def __init__(self, url: str, *, redactor: ArgumentRedactor | None = None) -> None:
        """Raises HistoryUnavailable (not reachable, no history there) or
        HistorySchemaTooNew; never writes."""
        self._url = url
        self.path = urls.mask(url)
        self.redactor = redactor or ArgumentRedactor()
        self._lock = threading.Lock()
        self._busy: set[Any] = set()  # the connections this reader's calls are using
        self._cancels: dict[Any, _Cancel] = {}  # those of them a cancel is on its way to
        self._pool: Any = pg_reader_pool.acquire(url)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pg_reader_pool.release(self._url)

    def interrupt(self) -> None:
        """Stop the statements this reader is running now, without waiting: the cancel
        request travels to the server on a thread of its own (this is called from the GUI
        thread). The call using the connection waits for it before giving the connection
        back (`_run`): landing later, it would cancel whatever another reader runs there."""
        with self._lock:
            for conn in self._busy - self._cancels.keys():
                cancel = self._cancels[conn] = _Cancel(conn)
                cancel.start()

    def _run(self, work: Callable[[Any], T]) -> T:
        """`work(connection)` on a connection of the pool; on one the server cut (restarted,
        the network gone and back: the pool drops it), tried once more: every call here only
        reads, so a second try repeats nothing. The server's failures are said as
        HistoryUnavailable, the password masked."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise HistoryUnavailable(f"the reader of {self.path} is closed")
        for again in (False, True):
            try:
                with pool.connection(timeout=WAIT_S) as conn:
                    with self._lock:
                        self._busy.add(conn)
                    try:
                        return work(conn)
                    finally:
                        with self._lock:
                            self._busy.discard(conn)
                            cancel = self._cancels.pop(conn, None)
                        if cancel is not None:
                            cancel.join()
                            if not cancel.landed:  # it may land any time: never lent again
                                conn.close()
            except psycopg.errors.QueryCanceled:
                # as the SQLite reader's interrupted call, so callers retry either the same way
                raise sqlite3.OperationalError("interrupted") from None
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                if not again and not isinstance(exc, PoolTimeout):
                    pool.check()  # the others idle may be cut too: dropped, made again
                    continue
                raise HistoryUnavailable(
                    f"the history {self.path} cannot be read: {said_masked(exc, self._url)}"
                ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _all(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        def read(conn: Any) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cursor:
                return list(cursor.execute(sql.replace("?", "%s"), params).fetchall())

        return self._run(read)

    def _records(self, sql: str, params: Sequence[Any]) -> list[TaskRecord]:
        return [shown_record(r, self.redactor) for r in self._all(sql, params)]

    # -- pages of tasks ---------------------------------------------------------------------
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

    def rows(self, task_ids: Iterable[str], *, real: bool = False) -> dict[str, TaskRecord]:
        """The stored rows of these tasks, by id (what a notification named)."""
        found = self._all("SELECT * FROM tasks WHERE id = ANY(?)", [list(task_ids)])
        return {str(r["id"]): shown_record(r, self.redactor, real) for r in found}

    def timeline(self, task_id: str, *, real: bool = False) -> list[dict[str, Any]]:
        """A task's events by time, in the order of a task's life at the same time (as the
        SQLite reader), `fields` redacted unless `real`."""
        events = self._all(
            "SELECT type, timestamp, fields FROM events WHERE task_id = ? "
            "ORDER BY timestamp, CASE type WHEN 'task-sent' THEN 0 "
            "WHEN 'task-received' THEN 1 WHEN 'task-started' THEN 2 ELSE 3 END, seq",
            [task_id],
        )
        if not real:
            for event in events:
                if event["fields"]:
                    event["fields"] = self.redactor.json_text(event["fields"])
        return events

    def children(self, task_id: str, limit: int = 100) -> list[str]:
        rows = self._all(
            "SELECT id FROM tasks WHERE parent_id = ? ORDER BY sent NULLS FIRST, id LIMIT ?",
            [task_id, limit],
        )
        return [str(r["id"]) for r in rows]

    def distinct(self, column: str) -> list[str]:
        if column not in CHOICE_COLUMNS:
            raise ValueError(f"no distinct values for '{column}'")
        rows = self._all(
            f'SELECT DISTINCT {column} COLLATE "C" AS v FROM tasks WHERE {column} IS NOT NULL '
            "ORDER BY v",
            [],
        )
        return [str(r["v"]) for r in rows]

    def choices(self) -> dict[str, set[str]]:
        return {column: set(self.distinct(column)) for column in CHOICE_COLUMNS}

    # -- what the views, beat and failures read ---------------------------------------------
    def recent_runtimes(self, limit: int) -> Iterator[tuple[str, float]]:
        """(name, runtime) of the latest `limit` succeeded tasks that have both."""
        rows = self._all(
            "SELECT name, runtime FROM tasks WHERE state = 'SUCCESS' AND name IS NOT NULL "
            "AND runtime IS NOT NULL ORDER BY sent DESC NULLS LAST LIMIT ?",
            [limit],
        )
        return ((str(r["name"]), float(r["runtime"])) for r in rows)

    def runs_of(self, name: str, since: float, limit: int) -> list[TaskRecord]:
        return self._records(
            "SELECT * FROM tasks WHERE name = ? AND coalesce(sent, received) >= ? "
            "ORDER BY coalesce(sent, received) DESC LIMIT ?",
            [name, since, limit],
        )

    def changed_since(self, names: Iterable[str], updated: float) -> list[TaskRecord]:
        wanted = list(names)
        if not wanted:
            return []
        return self._records(
            "SELECT * FROM tasks WHERE updated >= ? AND name = ANY(?)", [updated, wanted]
        )

    def first_heard(self) -> float | None:
        found = self._all(
            "SELECT min(timestamp) AS t FROM (SELECT timestamp FROM events ORDER BY seq "
            "LIMIT 1000) AS first",
            [],
        )
        return float(found[0]["t"]) if found and found[0]["t"] is not None else None

    def last_write(self) -> float | None:
        """When a batch was last stored (by any recorder)."""
        found = self._all("SELECT value FROM meta WHERE key = 'last_write'", [])
        try:
            return float(found[0]["value"]) if found and found[0]["value"] else None
        except ValueError:
            return None

    def failed_rows(
        self,
        since: float | None = None,
        states: Sequence[str] = ("FAILURE",),
        search: Condition | None = None,
        newest: int | None = None,
    ) -> list[dict[str, Any]]:
        """The rows failures.py groups by cause (failed_rows.failed_rows_sql)."""
        sql, params = failed_rows_sql(since, states, search, newest, POSTGRESQL)
        return self._all(sql, params)

    def resolved_failures(self) -> dict[str, float]:
        rows = self._all("SELECT fingerprint, resolved FROM resolved_failures", [])
        return {str(r["fingerprint"]): float(r["resolved"]) for r in rows}

    def retries_of(self, task_id: str) -> list[str]:
        return self.retried_as([task_id]).get(task_id, [])

    def retried_as(self, task_ids: Iterable[str]) -> dict[str, list[str]]:
        rows = self._all(
            "SELECT retry_of, id FROM tasks WHERE retry_of = ANY(?) ORDER BY sent NULLS FIRST, id",
            [list(task_ids)],
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(str(row["retry_of"]), []).append(str(row["id"]))
        return found

    def audit_entries(
        self, limit: int = 500, since: float | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        return [entry_of(r) for r in self._all(*audit_query(limit, since, action))]

    # -- gaps and the recorders ---------------------------------------------------------------
    def gaps(self, limit: int = 100) -> list[Gap]:
        """The newest gaps first."""
        rows = self._all(
            'SELECT id, start, "end", reason, status, found, note FROM gaps '
            "ORDER BY start DESC, id DESC LIMIT ?",
            [limit],
        )
        return [Gap(**r) for r in rows]

    def recorders(self) -> RecorderStatus:
        """Who writes: how many recorders are alive, and the age of the newest batch."""
        return self._run(read_status)


if TYPE_CHECKING:
    from desktop.core.monitor.history_reader import HistoryReader

    def _pg_reader_is_one(reader: PgReader) -> HistoryReader:
        return reader  # mypy checks PgReader gives every member a screen reads
