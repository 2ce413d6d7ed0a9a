"""The durable record: every task's latest state and its event timeline, in SQLite (WAL).

One file per profile under the data dir. Written once per batch in one transaction; read in
pages with filters in SQL (a proxy model filtering 100k rows in Qt costs seconds). It also
remembers what the panel itself submitted (queue, priority), which events do not carry.

This module is the writer (`Journal`, which reads too, through the same connection); the
file's schema and how it is opened are in journal_schema, the reads in journal_reader, the
filters in task_query.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import Submitted
from desktop.core.base.task_states import finished_sql
from desktop.core.monitor.audit import AUDIT_COLUMNS, AuditEntry
from desktop.core.monitor.journal_reader import FAILED_STATES, JournalReader
from desktop.core.monitor.journal_retention import (
    BREATHE_S,
    CHUNK_FIRST,
    ChunkedPrune,
    PruneReport,
    adapted_chunk,
    retention_rules,
)
from desktop.core.monitor.journal_schema import (
    JournalUnwritable,
    connect_read_only,
    connect_writable,
)
from desktop.core.monitor.journal_schema import said as _said
from desktop.core.monitor.journal_text import (
    defer_text_index,
    index_pending,
    last_pending,
)
from desktop.core.monitor.state import EventRecord, StateDiff, TaskRow

log = logging.getLogger(__name__)

ROW_FIELDS = tuple(f.name for f in fields(TaskRow))
ARGUMENT_FIELDS = frozenset({"args", "kwargs"})  # what the redactor hides values in
_ARGUMENT_AT = [ROW_FIELDS.index(f) for f in sorted(ARGUMENT_FIELDS)]


def as_given(text: Any) -> Any:
    """What a journal that keeps real argument values stores: the text as it came."""
    return text


def row_values(row: TaskRow, hide: Callable[[str | None], str | None]) -> tuple[Any, ...]:
    """A row's values for the upsert, its arguments redacted."""
    values = [getattr(row, f) for f in ROW_FIELDS]
    for at in _ARGUMENT_AT:
        values[at] = hide(values[at])
    return tuple(values)


# An event stored twice (two recorders on one journal, a spilled batch retried) is kept once.
_INSERT_EVENT = "INSERT OR IGNORE INTO events(task_id, type, timestamp, fields) VALUES (?, ?, ?, ?)"
# What the journal cannot store, whatever the disk: a value SQLite cannot bind (an int past
# 64 bits, text with a lone surrogate), NULL where a value is required (a NaN timestamp).
_VALUE_ERRORS = (
    OverflowError, UnicodeEncodeError, ValueError, TypeError, sqlite3.IntegrityError,
    sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError,
)  # fmt: skip

_FINAL_SQL = finished_sql()
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, which the journal keeps outside a prune
_FAILED_SQL = ", ".join(f"'{state}'" for state in FAILED_STATES)
FAILED_WHERE = f"state IN ({_FAILED_SQL})"  # the failed tasks, retention's own rule
# Event-derived values win when present; what the panel recorded on submission is kept; a
# late event (say task-received after the in-memory state forgot the task) never turns a
# finished task back into a running one. The shared history on PostgreSQL upserts by the same
# text (history/pg_journal.py): one rule, both engines.
_SET = ", ".join(
    f"{c} = coalesce(excluded.{c}, tasks.{c})" for c in ROW_FIELDS if c not in ("id", "state")
)
ON_CONFLICT = f"""
ON CONFLICT(id) DO UPDATE SET {_SET},
state = CASE WHEN tasks.state IN ({_FINAL_SQL}) AND excluded.state NOT IN ({_FINAL_SQL})
             THEN tasks.state ELSE excluded.state END
"""
_COLUMNS = ", ".join(ROW_FIELDS)
_PLACES = ", ".join("?" * len(ROW_FIELDS))
_UPSERT = f"INSERT INTO tasks ({_COLUMNS}) VALUES ({_PLACES}) {ON_CONFLICT}"
# A batch's rows are staged in a table of this connection and stored by one statement: the
# text index's triggers (journal_text.py) then write the batch in one piece. SQLite opens a
# savepoint for each statement of a transaction and FTS5 writes out what it holds at each
# one: an `executemany` of the upsert cost 85 us a task in the index, one statement 25 us.
_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS staged_rows ({_COLUMNS})"
_STAGE_ROW = f"INSERT INTO temp.staged_rows ({_COLUMNS}) VALUES ({_PLACES})"
_UPSERT_STAGED = (  # `WHERE true`: SQLite's rule for an upsert after a SELECT
    f"INSERT INTO tasks ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.staged_rows WHERE true "
    f"ORDER BY rowid {ON_CONFLICT}"
)


BACKEND_COLUMNS = (
    "task_id", "name", "state", "queue", "worker", "args", "kwargs", "result", "exception",
    "traceback", "finished", "retries", "parent_id", "root_id",
)  # fmt: skip
KEPT = ("name", "queue", "worker", "args", "kwargs", "exception", "traceback", "retries",
         "parent_id", "root_id")  # fmt: skip
_KEEP_SQL = ", ".join(f"{c} = coalesce(tasks.{c}, excluded.{c})" for c in KEPT)
STORE_RESULT = f"""
INSERT INTO tasks(id, {", ".join(BACKEND_COLUMNS[1:])}, updated)
VALUES ({", ".join("?" * (len(BACKEND_COLUMNS) + 1))})
ON CONFLICT(id) DO UPDATE SET {_KEEP_SQL},
    finished = coalesce(tasks.finished, excluded.finished),
    result = coalesce(tasks.result, excluded.result),
    state = excluded.state, updated = excluded.updated
WHERE tasks.state NOT IN ({_FINAL_SQL}) AND tasks.state != excluded.state
"""


SUBMITTED = """INSERT INTO tasks(id, name, state, queue, priority, args, kwargs, parent_id,
        root_id, sent, submitted, updated, retry_of)
    VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
    ON CONFLICT(id) DO UPDATE SET queue = excluded.queue, priority = excluded.priority,
        submitted = 1, retry_of = coalesce(tasks.retry_of, excluded.retry_of)"""


_AUDIT_INSERT = (
    f"INSERT INTO audit({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"
)


class Journal(JournalReader):
    """Thread-safe: one connection guarded by a lock (writes come from the batch thread)."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        redactor: ArgumentRedactor | None = None,
        keep_argument_values: bool = False,
    ) -> None:
        """With `read_only` nothing is created or written (a journal on a read-only disk can
        be read); a file that is not a journal raises ConfigFileError naming it. Arguments
        are kept with the values under secret-like names hidden (`redactor`: the profile's
        names, Celery Desk's defaults when none is given), in rows and in event timelines;
        with `keep_argument_values` (the profile's choice) they are kept as they were, and
        hidden only when read (JournalReader), so one task's can be revealed on request."""
        self.path = path
        self.redactor = redactor or ArgumentRedactor()
        self.keep_argument_values = keep_argument_values
        self._stored_text = as_given if keep_argument_values else self.redactor.text
        self._stored_json = as_given if keep_argument_values else self.redactor.json_text
        self._lock = threading.Lock()
        self.refused = 0  # rows and events skipped alone because SQLite cannot hold a value
        self._text_chunk = CHUNK_FIRST  # rows the text index takes per hold (index_text)
        # The shared history (a PostgreSQL URL, its password in it: never shown) the screens
        # read instead of this file, for a profile whose history is shared (services.py);
        # this file then keeps only what the panel itself hears and does.
        self.reads_from: str | None = None
        self._db = connect_read_only(path) if read_only else connect_writable(path)
        if not read_only:
            self._db.execute(_STAGE)

    # -- writing ------------------------------------------------------------------------------
    def write(
        self,
        rows: Iterable[TaskRow],
        events: Iterable[EventRecord],
        heard_until: float | None = None,
    ) -> int:
        """Store a batch in one transaction; returns how many rows and events were skipped.
        `heard_until`: when the batch was taken off the stream (all heard until then is in
        it), kept as `last_write`, where a gap after it starts; now, when not given.

        A value SQLite cannot hold (say `retries` = 2**63) fails the whole `executemany`: then
        the batch is written again one by one, so only what cannot be stored is skipped (and
        counted in `refused`), never the good ones beside it. A failure of the file itself
        (disk full, read-only, I/O) raises `JournalUnwritable` with nothing written.
        """
        hide, hide_json = self._stored_text, self._stored_json
        task_values = [row_values(r, hide) for r in rows]
        event_values = [(e.task_id, e.type, e.timestamp, hide_json(e.fields)) for e in events]
        if not task_values and not event_values:
            return 0
        with self._lock:
            try:
                return self._write_batch(task_values, event_values, heard_until)
            except sqlite3.Error as exc:
                raise JournalUnwritable(_said(exc)) from exc

    def _write_batch(
        self,
        task_values: list[tuple[Any, ...]],
        event_values: list[Any],
        heard_until: float | None = None,
    ) -> int:
        try:
            self._transaction(
                lambda: self._store_all(task_values, event_values), heard_until=heard_until
            )
            return 0
        except _VALUE_ERRORS:
            pass
        skipped = 0

        def one_by_one() -> None:
            nonlocal skipped
            for sql, values in ((_UPSERT, task_values), (_INSERT_EVENT, event_values)):
                for value in values:
                    try:
                        self._db.execute(sql, value)
                    except _VALUE_ERRORS:
                        skipped += 1

        self._transaction(one_by_one, heard_until=heard_until)
        self.refused += skipped
        return skipped

    def _store_all(self, task_values: list[tuple[Any, ...]], event_values: list[Any]) -> None:
        if task_values:  # staged, then one statement (see _UPSERT_STAGED)
            self._db.executemany(_STAGE_ROW, task_values)
            self._db.execute(_UPSERT_STAGED)
            self._db.execute("DELETE FROM temp.staged_rows")
        self._db.executemany(_INSERT_EVENT, event_values)

    def _transaction(
        self,
        work: Callable[[], object],
        *,
        events_stored: bool = True,
        heard_until: float | None = None,
    ) -> None:
        """`work` in one write transaction. `events_stored`: it stored what the event stream
        said, so `last_write` (where a gap after it starts) moves, to `heard_until` (now when
        not given) and never back (two recorders on one file); what the panel itself sent
        does not move it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            work()
            if events_stored:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_write', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value "
                    "WHERE CAST(meta.value AS REAL) < CAST(excluded.value AS REAL)",
                    (repr(time.time() if heard_until is None else heard_until),),
                )
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR): a second
            # ROLLBACK would raise "no transaction is active" and hide the real error.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def write_diff(self, diff: StateDiff, *, read_back: bool = True) -> None:
        """One batch of the event stream written; with `read_back`, `diff.journaled` then holds
        the stored rows of its tasks, for views that show what a page read from SQL shows."""
        rows = [*diff.tasks_added, *diff.tasks_changed]
        self.write(rows, diff.events)
        if read_back and rows:
            diff.journaled = self.rows(row.id for row in rows)

    def record_submitted(
        self,
        task_id: str,
        name: str,
        *,
        args: str | None = None,
        kwargs: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
        retry_of: str | None = None,
    ) -> None:
        """What the panel sent: priority and queue are not in any event, so keep them here;
        so is `retry_of`, the task it sends again."""
        self.record_submitted_many(
            [Submitted(task_id, name, args, kwargs, queue, priority, parent_id, root_id, retry_of)]
        )

    def record_submitted_many(self, sent: Sequence[Submitted]) -> None:
        """`record_submitted` of many tasks in one transaction (a bulk retry's flush: one
        commit per task made the journal, not the broker, the slow part)."""
        now, hide = time.time(), self._stored_text
        values = [
            (t.task_id, t.name, t.queue, t.priority, hide(t.args), hide(t.kwargs), t.parent_id,
             t.root_id, now, now, t.retry_of)
            for t in sent
        ]  # fmt: skip
        if not values:
            return
        with self._lock:
            self._transaction(lambda: self._db.executemany(SUBMITTED, values), events_stored=False)

    def resolve_failure(self, fingerprint: str, at: float | None = None) -> None:
        """A failure cause a person marked resolved: its group is hidden until it fails again
        after `at` (now by default). Kept in the journal, so every reader agrees."""
        with self._lock:
            self._db.execute(
                "INSERT INTO resolved_failures(fingerprint, resolved) VALUES (?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET resolved = excluded.resolved",
                (fingerprint, time.time() if at is None else at),
            )

    def record_audit(self, entry: AuditEntry) -> None:
        """One action on the cluster, kept (monitor/audit.py); never pruned with the tasks."""
        with self._lock:
            self._db.execute(_AUDIT_INSERT, entry.stored())

    def unresolve_failure(self, fingerprint: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM resolved_failures WHERE fingerprint = ?", (fingerprint,))

    def learn_priorities(self, seen: Mapping[str, int]) -> list[str]:
        """Priorities read off the broker (a waiting message, a worker's delivery info) or the
        result backend, for tasks the panel did not send: filled where the journal has none,
        never over one it recorded. Returns the ids that learned one."""
        learned = []
        now = time.time()
        with self._lock:
            for task_id, priority in seen.items():
                cursor = self._db.execute(
                    "UPDATE tasks SET priority = ?, updated = ? WHERE id = ? AND priority IS NULL",
                    (priority, now, task_id),
                )
                if cursor.rowcount:
                    learned.append(task_id)
        return learned

    def set_final(self, task_id: str, state: str, result: str | None, finished: float) -> None:
        """A state learned from the result backend during reconciliation."""
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET state = ?, result = coalesce(?, result), "
                "finished = coalesce(finished, ?), updated = ? WHERE id = ?",
                (state, result, finished, time.time(), task_id),
            )

    def note_result(self, task_id: str, text: str) -> bool:
        """Explain a result the panel could not read (pickle): once, never over a real one."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE tasks SET result = ?, updated = ? WHERE id = ? AND result IS NULL",
                (text, time.time(), task_id),
            )
        return cursor.rowcount > 0

    def prune(
        self,
        max_tasks: int,
        max_age_s: float | None = None,
        *,
        failures_kept: int | None = None,
        failures_max_age_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Retention: keep the newest `max_tasks`, and none older than `max_age_s`; returns
        how many tasks were removed (their events with them).

        With `failures_kept`, failed tasks (FAILED_STATES) go by their own rule: the newest
        `failures_kept` of them, none older than `failures_max_age_s`, and they are not counted
        in `max_tasks` -- a failure is what a person comes back for days later, when a busy
        cluster has long pushed it past the task limit. Done in short chunks that each hold
        the writer's lock about as long as a batch write (journal_retention.py); every choice
        is a range of an index (tasks_updated, tasks_state_sent), never a scan of the table.
        """
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
        """`prune`, with how many chunks it took and how long each held the lock."""
        reader = connect_read_only(self.path)
        checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        with self._lock:  # the chunks' commits leave the WAL to the checkpointer
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            prune = ChunkedPrune(self._db, self._lock, reader, should_stop, checkpointer)
            rules = retention_rules(
                max_tasks, max_age_s, failures_kept, failures_max_age_s, FAILED_WHERE
            )
            for which, keep, age_s in rules:
                if age_s is not None:
                    prune.older_than(which, time.time() - age_s)
                prune.beyond(which, keep)
            return prune.report
        finally:
            with self._lock:
                self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            checkpointer.close()
            reader.close()

    def index_text(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """The text index brought up to date with the rows noted so far (journal_text: rows
        are indexed later, in bulk, not by each write), a chunk per short write transaction
        with the lock free between chunks, so a batch write waiting takes it first. Rows
        noted meanwhile wait for the next call: a task still running is indexed once it has
        settled, not at every step. Returns how many rows it indexed."""
        with self._lock:
            if defer_text_index(self._db):  # an older Celery Desk wrote here, its triggers
                log.warning("journal %s: schema 6 triggers found, text index rebuilt", self.path)
            upto = last_pending(self._db)
        indexed = 0
        while upto is not None and not should_stop():
            count = 0

            def chunk_of_rows() -> None:
                nonlocal count
                count = index_pending(self._db, self._text_chunk, upto)

            with self._lock:
                started = time.perf_counter()
                try:
                    self._transaction(chunk_of_rows, events_stored=False)
                except sqlite3.Error as exc:
                    raise JournalUnwritable(_said(exc)) from exc
                held = time.perf_counter() - started
            if not count:
                break
            indexed += count
            self._text_chunk = adapted_chunk(self._text_chunk, held)
            time.sleep(BREATHE_S)
        return indexed

    def open_gap(self, start: float, end: float, reason: str) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO gaps(start, end, reason, recorded) VALUES (?, ?, ?, ?)",
                (start, end, reason, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def close_gap(self, gap_id: int, status: str, found: int, note: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE gaps SET status = ?, found = ?, note = ? WHERE id = ?",
                (status, found, note, gap_id),
            )

    def store_backend_results(self, results: Iterable[Any]) -> int:
        """Tasks read off the result backend (backend_scan.BackendResult): a task the journal
        never heard of is added; one it has unfinished takes the backend's state; what events
        already said is never overwritten. Returns how many rows changed."""
        hide = self._stored_text
        values = [
            (*(hide(getattr(r, c)) if c in ARGUMENT_FIELDS else getattr(r, c)
               for c in BACKEND_COLUMNS), time.time())
            for r in results
        ]  # fmt: skip
        changed = 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for value in values:
                    try:
                        changed += self._db.execute(STORE_RESULT, value).rowcount
                    except _VALUE_ERRORS:
                        self.refused += 1
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise JournalUnwritable(_said(exc)) from exc
        return changed
