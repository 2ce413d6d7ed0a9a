"""The journal on PostgreSQL: what a recorder writes into the shared history.

Batches are copied (COPY) into staging tables of the connection, then upserted by one
statement each, in one transaction a batch, with the SQLite journal's rules (monitor/journal.py:
the same ON CONFLICT text): event-derived values win, what the panel recorded is kept, a
finished state is never overwritten by a later unfinished one; an event is kept once per
(task_id, timestamp, type). So several recorders on one cluster write the same events into one
database without duplicates or regressions. The staged rows are stored in key order, so two
recorders' transactions take their row locks in the same order (a deadlock, should one still
happen, is retried).

Connections come from a psycopg pool; the URL's password is never logged or shown (`path` is
the URL masked). A failure of the server or the network raises JournalUnwritable with
nothing written, as a full disk does for SQLite: the recorder spills and retries.

Readers hear of each batch by one notification sent in its transaction, and see the recorder
alive by its row of `recorders`, beaten every 10 s while idle (pg_presence.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import Submitted, TaskRecord
from desktop.core.base.task_states import FINISHED_ORDERED
from desktop.core.history.pg_connect import CONNECT_TIMEOUT_S, said_masked
from desktop.core.history.pg_presence import Heartbeat, Presence
from desktop.core.history.pg_retention import prune_chunked
from desktop.core.history.pg_schema import migrate, text_index_state
from desktop.core.history.pg_write_sql import (
    AUDIT_INSERT,
    COPY_EVENTS,
    COPY_ROWS,
    EVENT_ONE,
    EVENT_TAIL,
    INSERT_STAGED_EVENTS,
    LAST_WRITE,
    STORE_RESULT_PG,
    SUBMITTED_PG,
    UNREACHABLE,
    UPSERT_ONE,
    UPSERT_STAGED,
    VALUE_ERRORS,
    prepare,
    refuses_value,
    rounds,
    touched,
)
from desktop.core.monitor.audit import AuditEntry
from desktop.core.monitor.journal import (
    ARGUMENT_FIELDS,
    BACKEND_COLUMNS,
    FAILED_WHERE,
    ON_CONFLICT,
    as_given,
    row_values,
)
from desktop.core.monitor.journal_reader import shown_record
from desktop.core.monitor.journal_retention import PruneReport, retention_rules
from desktop.core.monitor.journal_schema import BUSY_TIMEOUT_S, Gap, JournalUnwritable
from desktop.core.monitor.state import EventRecord, TaskRow
from desktop.core.settings import urls

log = logging.getLogger(__name__)

POOL_SIZE = 4  # the batch thread, reconciliation, retention, the status line and heartbeat
DEADLOCK_RETRIES = 3


class PgJournal:
    """A journal in a PostgreSQL database, shared by recorders (and, later, panels).
    Thread-safe: each call takes a connection of the pool."""

    def __init__(
        self,
        url: str,
        *,
        redactor: ArgumentRedactor | None = None,
        keep_argument_values: bool = False,
        pool_size: int = POOL_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        wait_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        """Connects, migrates the database to this program's schema and opens the pool.
        Raises JournalUnwritable (the server cannot be reached, the password is refused) or
        HistorySchemaTooNew, each naming the database with its password masked. Arguments
        are stored as by the SQLite journal (`redactor`, `keep_argument_values`). A call waits
        `wait_s` at most for a connection (the server gone: JournalUnwritable after it)."""
        self._url = url  # for its failures' words, the password masked (said_masked)
        self.shown = urls.mask(url)
        self.redactor = redactor or ArgumentRedactor()
        self.keep_argument_values = keep_argument_values
        self._stored_text = as_given if keep_argument_values else self.redactor.text
        self._stored_json = as_given if keep_argument_values else self.redactor.json_text
        self._refused = 0
        self._timeout = wait_s
        settings: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, int(connect_timeout)),
            "application_name": "celery-desk",
        }
        try:  # a URL psycopg cannot read says so with its text: the password in it
            first = psycopg.connect(url, **settings)
        except (*UNREACHABLE, psycopg.ProgrammingError) as exc:
            raise JournalUnwritable(
                f"cannot use the history {self.shown}: {said_masked(exc, self._url)}"
            ) from None
        try:
            with first:  # the failure's own words
                migrate(first, self.shown)
                # None, or why free words are searched by reading every task (`record` says it)
                self.text_index_missing = text_index_state(first)
        except UNREACHABLE as exc:
            raise JournalUnwritable(
                f"cannot use the history {self.shown}: {said_masked(exc, self._url)}"
            ) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs=settings,
            open=False,
            check=ConnectionPool.check_connection,
            configure=prepare,
            name="celery-desk-history",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise JournalUnwritable(f"cannot use the history {self.shown}: {exc}") from None
        self._presence = Presence()
        self._beat()
        self._heartbeat = Heartbeat(self._beat)
        self._heartbeat.start()

    def _beat(self) -> None:
        with self._connection() as conn:
            self._presence.beat(conn)

    @property
    def path(self) -> str:
        """The database's URL as it may be shown (password masked)."""
        return self.shown

    @property
    def refused(self) -> int:
        return self._refused

    def close(self) -> None:
        """Stops the heartbeat and marks this recorder stopped (readers say at once that it
        no longer writes; one killed is said once its row is SILENT_S old)."""
        self._heartbeat.stop()
        with contextlib.suppress(JournalUnwritable), self._connection() as conn:
            self._presence.leave(conn)
        self._pool.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool; the server's failures become JournalUnwritable."""
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield conn
        except (*UNREACHABLE, psycopg.Error) as exc:  # the database's failure, not a value's
            raise JournalUnwritable(
                f"the history {self.shown} cannot be written: {said_masked(exc, self._url)}"
            ) from None

    # -- writing ------------------------------------------------------------------------------
    def write(
        self,
        rows: Iterable[TaskRow],
        events: Iterable[EventRecord],
        heard_until: float | None = None,
    ) -> int:
        """Store a batch in one transaction; returns how many rows and events were skipped
        (a value PostgreSQL cannot hold fails the batch, which is then written one by one,
        so only that value's row or event is skipped). Idempotent: the same batch written
        twice, by this recorder or another, leaves the same rows and events. `heard_until`
        as the SQLite journal's."""
        heard = repr(time.time() if heard_until is None else heard_until)
        hide, hide_json = self._stored_text, self._stored_json
        task_values = [row_values(r, hide) for r in rows]
        event_values = [(e.task_id, e.type, e.timestamp, hide_json(e.fields)) for e in events]
        if not task_values and not event_values:
            return 0
        with self._connection() as conn:
            for attempt in range(DEADLOCK_RETRIES):
                try:
                    with conn.transaction():
                        self._store_all(conn, task_values, event_values)
                        conn.execute(LAST_WRITE, (heard,))
                        self._presence.stored(conn, touched(task_values, event_values))
                    return 0
                except psycopg.errors.DeadlockDetected:
                    if attempt == DEADLOCK_RETRIES - 1:
                        raise
                except VALUE_ERRORS as exc:
                    if not refuses_value(exc):
                        raise
                    break
            skipped = self._one_by_one(conn, task_values, event_values, heard)
        self._refused += skipped
        return skipped

    def _store_all(
        self, conn: psycopg.Connection[Any], tasks: list[tuple[Any, ...]], events: list[Any]
    ) -> None:
        """COPY, then one upsert a round (a task twice in a batch: two rounds); in a
        transaction, so the staging tables are empty again at its end."""
        with conn.cursor() as cursor:
            for at, statement in enumerate(rounds(tasks)):
                if at:
                    cursor.execute("DELETE FROM staged_rows")
                with cursor.copy(COPY_ROWS) as copy:
                    for row in statement:
                        copy.write_row(row)
                cursor.execute(UPSERT_STAGED)
            if events:
                with cursor.copy(COPY_EVENTS) as copy:
                    for event in events:
                        copy.write_row(event)
                cursor.execute(INSERT_STAGED_EVENTS)

    def _one_by_one(
        self,
        conn: psycopg.Connection[Any],
        tasks: list[tuple[Any, ...]],
        events: list[Any],
        heard: str,
    ) -> int:
        skipped = 0
        with conn.transaction():
            for sql, values in (
                (UPSERT_ONE + ON_CONFLICT, tasks),
                (EVENT_ONE + EVENT_TAIL, events),
            ):
                for value in values:
                    try:
                        with conn.transaction():  # a savepoint: one failure undoes only itself
                            conn.execute(sql, value)
                    except VALUE_ERRORS as exc:
                        if not refuses_value(exc):
                            raise
                        skipped += 1
            conn.execute(LAST_WRITE, (heard,))
            self._presence.stored(conn, touched(tasks, events))
        return skipped

    def record_submitted_many(self, sent: Sequence[Submitted]) -> None:
        """What the panel sent (queue, priority: not in any event), as Journal keeps it."""
        now, hide = time.time(), self._stored_text
        values = [
            (t.task_id, t.name, t.queue, t.priority, hide(t.args), hide(t.kwargs), t.parent_id,
             t.root_id, now, now, t.retry_of)
            for t in sorted(sent, key=lambda t: t.task_id)
        ]  # fmt: skip
        if values:
            with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(SUBMITTED_PG, values)

    def record_audit(self, entry: AuditEntry) -> None:
        """One action on the cluster, kept; never pruned with the tasks."""
        with self._connection() as conn:
            conn.execute(AUDIT_INSERT, entry.stored())

    def learn_priorities(self, seen: Mapping[str, int]) -> list[str]:
        """Priorities learned for tasks the panel did not send, never over a recorded one."""
        learned = []
        now = time.time()
        with self._connection() as conn:
            for task_id, priority in seen.items():
                cursor = conn.execute(
                    "UPDATE tasks SET priority = %s, updated = %s "
                    "WHERE id = %s AND priority IS NULL",
                    (priority, now, task_id),
                )
                if cursor.rowcount:
                    learned.append(task_id)
        return learned

    def set_final(self, task_id: str, state: str, result: str | None, finished: float) -> None:
        """A state learned from the result backend during reconciliation."""
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE tasks SET state = %s, result = coalesce(%s, result), "
                "finished = coalesce(finished, %s), updated = %s WHERE id = %s",
                (state, result, finished, time.time(), task_id),
            )
            self._presence.stored(conn, [task_id])

    def note_result(self, task_id: str, text: str) -> bool:
        """Explain a result the panel could not read (pickle): once, never over a real one."""
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE tasks SET result = %s, updated = %s WHERE id = %s AND result IS NULL",
                (text, time.time(), task_id),
            )
        return cursor.rowcount > 0

    def store_backend_results(self, results: Iterable[Any]) -> int:
        """Tasks read off the result backend, by the SQLite journal's rule (STORE_RESULT):
        unknown ones added, unfinished ones take the backend's state, events' words kept."""
        hide = self._stored_text
        values = sorted(
            (
                (*(hide(getattr(r, c)) if c in ARGUMENT_FIELDS else getattr(r, c)
                   for c in BACKEND_COLUMNS), time.time())
                for r in results
            ),
            key=lambda v: str(v[0]),
        )  # fmt: skip
        changed = 0
        with self._connection() as conn, conn.transaction():
            for value in values:
                try:
                    with conn.transaction():
                        changed += conn.execute(STORE_RESULT_PG, value).rowcount
                except VALUE_ERRORS as exc:
                    if not refuses_value(exc):
                        raise
                    self._refused += 1
            if changed:
                self._presence.stored(conn, [str(v[0]) for v in values])
        return changed

    # -- gaps ---------------------------------------------------------------------------------
    def open_gap(self, start: float, end: float, reason: str) -> int:
        with self._connection() as conn:
            row = conn.execute(
                'INSERT INTO gaps(start, "end", reason, recorded) VALUES (%s, %s, %s, %s) '
                "RETURNING id",
                (start, end, reason, time.time()),
            ).fetchone()
        return int(row[0]) if row else 0

    def close_gap(self, gap_id: int, status: str, found: int, note: str | None = None) -> None:
        with self._connection() as conn:
            conn.execute(
                "UPDATE gaps SET status = %s, found = %s, note = %s WHERE id = %s",
                (status, found, note, gap_id),
            )

    def open_gaps(self, limit: int = 100) -> list[Gap]:
        """Gaps not filled yet, newest first (every recorder's: any of them may fill one)."""
        with self._connection() as conn:
            rows = conn.execute(
                'SELECT id, start, "end", reason, status, found, note FROM gaps '
                "WHERE status = 'open' ORDER BY start DESC, id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [Gap(*tuple(r)) for r in rows]

    def last_write(self) -> float | None:
        """When a batch was last stored (by any recorder): where a gap after it starts."""
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'last_write'").fetchone()
        try:
            return float(row[0]) if row and row[0] is not None else None
        except ValueError:
            return None

    # -- what the recorder reads back ----------------------------------------------------------
    def rows(self, task_ids: Iterable[str], *, real: bool = False) -> dict[str, TaskRecord]:
        """The stored rows of these tasks, by id, arguments redacted unless `real`."""
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            found = cursor.execute(
                "SELECT * FROM tasks WHERE id = ANY(%s)", (list(task_ids),)
            ).fetchall()
        return {str(r["id"]): shown_record(r, self.redactor, real) for r in found}

    def timeline(self, task_id: str) -> list[dict[str, Any]]:
        """A task's events by time, in the order they were stored at the same time; their
        `fields` as stored."""
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(
                "SELECT type, timestamp, fields FROM events WHERE task_id = %s "
                "ORDER BY timestamp, seq",
                (task_id,),
            ).fetchall()

    def count(self) -> int:
        with self._connection() as conn:
            row = conn.execute("SELECT count(*) FROM tasks").fetchone()
        return int(row[0]) if row else 0

    def unfinished_ids(self, limit: int = 10_000, updated_before: float | None = None) -> list[str]:
        """Tasks not in a final state, most recently updated first; with `updated_before`,
        only those no event has touched since then."""
        stale = " AND updated < %s" if updated_before is not None else ""
        params: list[Any] = [list(FINISHED_ORDERED)]
        if updated_before is not None:
            params.append(updated_before)
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT id FROM tasks WHERE state <> ALL(%s){stale} "
                "ORDER BY updated DESC LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # -- retention ----------------------------------------------------------------------------
    def index_text(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Nothing to do: PostgreSQL keeps its indexes in the write's own transaction."""
        return 0

    def prune(
        self,
        max_tasks: int,
        max_age_s: float | None = None,
        *,
        failures_kept: int | None = None,
        failures_max_age_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Retention by the SQLite journal's rules (Journal.prune), in chunks, by one recorder
        at a time: another that finds the lock held prunes nothing this round (returns 0)."""
        return self.prune_report(
            max_tasks,
            max_age_s,
            failures_kept=failures_kept,
            failures_max_age_s=failures_max_age_s,
            should_stop=should_stop,
        ).removed

    def prune_report(
        self,
        max_tasks: int,
        max_age_s: float | None = None,
        *,
        failures_kept: int | None = None,
        failures_max_age_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> PruneReport:
        rules = retention_rules(
            max_tasks, max_age_s, failures_kept, failures_max_age_s, FAILED_WHERE
        )
        with self._connection() as conn:
            return prune_chunked(conn, rules, should_stop)


if TYPE_CHECKING:
    from desktop.core.monitor.journal_writer import JournalWriter

    def _pg_journal_is_one(journal: PgJournal) -> JournalWriter:
        return journal  # mypy checks PgJournal gives every member a recorder uses
