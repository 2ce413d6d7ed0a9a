"""Reading the journal: pages of tasks by keyset, a task's row and timeline, gaps, choices.

Every task row and event read is handed out with the values under the profile's redacted
argument names as **** (`redactor`), whatever the file holds: a journal that keeps real values
(the profile's `keep_argument_values`) shows the same as one that stores them hidden. Only a
caller that asks by name (`real=True`: sending a task again, the detail pane's explicit
"Reveal arguments") gets what is stored.

A `JournalReader` opened on its own is read-only (`mode=ro`): the Tasks screen keeps one
beside the recorder's writing connection, and in WAL mode its reads never wait for the
writer's lock (a search no longer queues behind a batch being stored). Its calls block: the
screens run them off the GUI thread (desktop/ui/common/jobs.py).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.literals import LITERAL_MAX_CHARS, read_literal
from desktop.core.base.task_record import TaskRecord, task_record
from desktop.core.base.task_states import FINISHED_ORDERED
from desktop.core.monitor.audit import AuditEntry, audit_query, entry_of
from desktop.core.monitor.failed_rows import FAILED_STATES as FAILED_STATES
from desktop.core.monitor.failed_rows import failed_rows_of
from desktop.core.monitor.journal_schema import (
    SORTABLE,
    Gap,
    connect_read_only,
)
from desktop.core.monitor.journal_text import TextIndex, has_table, has_text_index
from desktop.core.monitor.task_query import Condition, TaskQuery

# The columns the Tasks screen offers as filter choices, and where each choice is read from.
CHOICE_COLUMNS = ("state", "name", "queue", "routing_key", "worker")


def shown_record(row: Any, redactor: ArgumentRedactor, real: bool = False) -> TaskRecord:
    """A stored row as callers get it (from either engine): its args and kwargs redacted
    unless `real`."""
    record = task_record(row)
    if not real:
        hide = redactor.text
        record["args"], record["kwargs"] = hide(record["args"]), hide(record["kwargs"])
    return record


def stored_value(text: str | None) -> Any:
    """What an args, kwargs or result column holds, as data (a list, an object, a number).

    The journal keeps these as text in two dialects: Celery's events carry them as Python
    reprs (`argsrepr` "(1, 2)", `kwargsrepr` "{'a': 1}", a result "'hi'"), and a result read
    from the backend is stored as JSON. JSON is tried first, then a Python literal
    (`literals.read_literal`, bounded: never eval, never unpickle). Text that is neither (an
    object's repr, a list Celery's repr cut short), longer than LITERAL_MAX_CHARS, or whose
    value JSON cannot hold (a set, bytes, an infinite float, keys that are not text) comes
    back as the text itself.
    """
    if text is None:
        return None
    if len(text) > LITERAL_MAX_CHARS:  # a hostile event's megabytes are shown, not parsed
        return text
    for parse in (json.loads, read_literal):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if _json_holds(value):
            return value
    return text


def _json_holds(value: Any, depth: int = 0) -> bool:
    if depth > 100:  # nesting this deep is shown as text, never a RecursionError later
        return False
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_json_holds(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and _json_holds(item, depth + 1) for key, item in value.items()
        )
    return False


def keyset_parts(query: TaskQuery, after: tuple[Any, str]) -> list[tuple[str, list[Any], str]]:
    """The page after a row as up to two index-friendly reads, in order: (condition,
    parameters, ORDER BY).

    SQLite puts NULLs first ascending and last descending; one read for the rows with a value
    and one for those without keeps each a plain range of an index (column, id): an `OR ...
    IS NULL` in one query made SQLite sort every row. `after` is the (sort value, id) of the
    last row already read.
    """
    column, desc = query.order_by, query.descending
    less, way = ("<", "DESC") if desc else (">", "ASC")
    valued: tuple[str, list[Any], str] = (f"{column} IS NOT NULL", [], f"{column} {way}, id {way}")
    empty: tuple[str, list[Any], str] = (f"{column} IS NULL", [], f"id {way}")
    value, last_id = after
    if column == "id":  # unique: the id alone is the key
        return [(f"id {less} ?", [last_id], f"id {way}")]
    if value is None:  # inside the NULL rows: desc, they come last; asc, the valued ones follow
        rest = (f"{column} IS NULL AND id {less} ?", [last_id], f"id {way}")
        return [rest] if desc else [rest, valued]
    bound = (
        f"{column} {less}= ? AND ({column} {less} ? OR id {less} ?)",
        [value, value, last_id],
        f"{column} {way}, id {way}",
    )
    return [bound, empty] if desc else [bound]


class JournalReader:
    """Reads; thread-safe (one connection guarded by a lock), opened read-only on its own."""

    _db: sqlite3.Connection
    _text: TextIndex | None = None
    redactor: ArgumentRedactor

    def __init__(self, path: Path, *, redactor: ArgumentRedactor | None = None) -> None:
        """Nothing is created or written (a journal on a read-only disk can be read); a file
        that is not a journal raises ConfigFileError naming it. Arguments are read with the
        values under `redactor`'s names hidden (the profile's; Celery Desk's defaults when
        none is given)."""
        self.path = path
        self.redactor = redactor or ArgumentRedactor()
        self._lock = threading.Lock()
        self._db = connect_read_only(path)

    def _record(self, row: Any, real: bool = False) -> TaskRecord:
        return shown_record(row, self.redactor, real)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def interrupt(self) -> None:
        """Stop the statement running on this connection now (from any thread): a superseded
        search stops scanning instead of holding the connection for seconds. The interrupted
        call raises sqlite3.OperationalError ("interrupted")."""
        self._db.interrupt()

    def _text_index(self) -> TextIndex | None:
        """The journal's text index, once it has one: a journal at schema 3 (read-only, not
        migrated yet) is searched by LIKE alone, and through the index from the first query
        after a writer added it. Called with the lock held."""
        if self._text is None and has_text_index(self._db):
            self._text = TextIndex(self._db)
        return self._text

    def _page_index(self, query: TaskQuery) -> TextIndex | None:
        """The text index as it advises a page in the query's order. Called with the lock
        held."""
        index = self._text_index()
        return index.for_page(query.order_by) if index is not None else None

    # -- pages of tasks ---------------------------------------------------------------------
    def count(self, query: TaskQuery | None = None) -> int:
        with self._lock:
            where, params = (query or TaskQuery()).where(self._text_index())
            row = self._db.execute(f"SELECT count(*) FROM tasks{where}", params).fetchone()
        return int(row[0])

    def recent_runtimes(self, limit: int) -> Iterator[tuple[str, float]]:
        """(name, runtime) of the latest `limit` succeeded tasks that have both, newest
        first: a range of the (state, sent) index, never the whole table. Read into a list
        of names and one of runtimes (strings and floats: nothing in them the garbage
        collector tracks) and handed out one pair at a time: 100,000 (name, runtime) tuples
        kept at once made the collector walk them in full collections of 5-15 ms, each a
        pause of every thread's Python, the window's included (bench/gui_journal.py, idle)."""
        names: list[str] = []
        runtimes: list[float] = []
        with self._lock:
            for name, runtime in self._db.execute(
                "SELECT name, runtime FROM tasks WHERE state = 'SUCCESS' AND name IS NOT NULL "
                "AND runtime IS NOT NULL ORDER BY sent DESC LIMIT ?",
                (limit,),
            ):
                names.append(str(name))
                runtimes.append(float(runtime))
        return zip(names, runtimes, strict=True)

    def runs_of(self, name: str, since: float, limit: int) -> list[TaskRecord]:
        """The tasks named `name` sent since `since` (their `task-sent`, else their
        `task-received`), newest first: a periodic task's runs (beat/runs.py)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE name = ? AND coalesce(sent, received) >= ? "
                "ORDER BY coalesce(sent, received) DESC LIMIT ?",
                (name, since, limit),
            ).fetchall()
        return [self._record(r) for r in rows]

    def changed_since(self, names: Iterable[str], updated: float) -> list[TaskRecord]:
        """The tasks of these names whose row changed at or after `updated` (the `updated`
        index: the rows of the last moments, whatever the journal holds)."""
        wanted = list(names)
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                # `+name`: read by the `updated` index, never by name (every row of it)
                f"SELECT * FROM tasks WHERE updated >= ? AND +name IN ({marks})",
                (updated, *wanted),
            ).fetchall()
        return [self._record(r) for r in rows]

    def first_heard(self) -> float | None:
        """When the journal began hearing: the oldest of the first events it stored (by
        insertion, from the table's start; pruning old ones only makes it later)."""
        with self._lock:
            row = self._db.execute(
                "SELECT min(timestamp) FROM (SELECT timestamp FROM events ORDER BY rowid "
                "LIMIT 1000)"
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def page(
        self,
        query: TaskQuery | None = None,
        offset: int = 0,
        limit: int = 200,
        *,
        after: tuple[Any, str] | None = None,
    ) -> list[TaskRecord]:
        """Rows in the query's order: after the row whose `query.key()` is `after` (keyset:
        the same cost at any depth), or from the start skipping `offset` rows (OFFSET reads
        and drops every skipped row: 0.6 s at 990,000; kept for callers that count pages)."""
        query = query or TaskQuery()
        if query.order_by not in SORTABLE:
            raise ValueError(f"cannot sort by '{query.order_by}'")
        if after is None:  # one query: SQLite orders the NULLs itself, from the sort's index
            return self._page_by_offset(query, offset, limit)
        with self._lock:
            clauses, params = query.clauses(self._page_index(query))
        rows: list[TaskRecord] = []
        for condition, values, order in keyset_parts(query, after):
            where = " AND ".join([*clauses, condition])
            sql = f"SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT ?"
            with self._lock:
                found = self._db.execute(sql, [*params, *values, limit - len(rows)]).fetchall()
            rows += (self._record(r) for r in found)
            if len(rows) >= limit:
                break
        return rows

    def _page_by_offset(self, query: TaskQuery, offset: int, limit: int) -> list[TaskRecord]:
        direction = "DESC" if query.descending else "ASC"
        # A bare column keeps the index usable (an `IS NULL` term forced a sort of every row:
        # 1 s on a million tasks); SQLite puts NULLs last when descending, first ascending.
        # By id alone when sorting by id: `ORDER BY id, id` made SQLite sort every row (7 s).
        tie = "" if query.order_by == "id" else f", id {direction}"
        with self._lock:
            where, params = query.where(self._page_index(query))
            sql = f"SELECT * FROM tasks{where} ORDER BY {query.order_by} {direction}{tie} "
            rows = self._db.execute(sql + "LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
        return [self._record(r) for r in rows]

    def rows(self, task_ids: Iterable[str], *, real: bool = False) -> dict[str, TaskRecord]:
        """The stored rows of these tasks, by id: what a batch's events became once merged
        with what the journal already knew (the queue and priority the panel recorded when
        sending, a final state a late event cannot undo). `real`: their arguments as stored
        (to send them again), never for showing."""
        ids = json.dumps(list(task_ids))
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM tasks WHERE id IN (SELECT value FROM json_each(?))", (ids,)
            ).fetchall()
        return {str(r["id"]): self._record(r, real) for r in found}

    def get(self, task_id: str, *, real: bool = False) -> TaskRecord | None:
        """One task's row; `real` as in `rows`."""
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return self._record(row, real) if row else None

    def timeline(self, task_id: str, *, real: bool = False) -> list[dict[str, Any]]:
        """A task's events by time; at the same time (state.py keeps a task's stages in order
        by moving one onto the other's time), in the order of a task's life. Each event's
        `fields` (JSON) has its arguments redacted unless `real`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT type, timestamp, fields FROM events WHERE task_id = ? "
                "ORDER BY timestamp, CASE type WHEN 'task-sent' THEN 0 "
                "WHEN 'task-received' THEN 1 WHEN 'task-started' THEN 2 ELSE 3 END, rowid",
                (task_id,),
            ).fetchall()
        events = [dict(r) for r in rows]
        if not real:
            for event in events:
                if event["fields"]:
                    event["fields"] = self.redactor.json_text(event["fields"])
        return events

    def children(self, task_id: str, limit: int = 100) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM tasks WHERE parent_id = ? ORDER BY sent LIMIT ?", (task_id, limit)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def started_in_queue(self, queue: str, limit: int = 500) -> list[dict[str, Any]]:
        """Tasks of one queue, most recently touched first (the `updated` index keeps this
        cheap on a big journal; a task with no task-sent event has no `sent` to sort by)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, priority, sent, started, worker, state FROM tasks "
                "WHERE (queue = ? OR routing_key = ?) ORDER BY updated DESC LIMIT ?",
                (queue, queue, limit),
            ).fetchall()
        return [dict(r) for r in rows]

    def workflow(self, root_id: str, limit: int = 500) -> list[TaskRecord]:
        """Every task of one workflow (its root and all that share the root id), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE root_id = ? OR id = ? ORDER BY sent, rowid LIMIT ?",
                (root_id, root_id, limit),
            ).fetchall()
        return [self._record(r) for r in rows]

    def unfinished_ids(self, limit: int = 10_000, updated_before: float | None = None) -> list[str]:
        """Tasks not in a final state, most recently updated first; with `updated_before`,
        only those no event has touched since then."""
        placeholders = ", ".join("?" * len(FINISHED_ORDERED))
        stale = " AND updated < ?" if updated_before is not None else ""
        params: list[Any] = [*FINISHED_ORDERED]
        if updated_before is not None:
            params.append(updated_before)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM tasks WHERE state NOT IN ({placeholders}){stale} "
                "ORDER BY updated DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def distinct(self, column: str) -> Sequence[str]:
        """Every value of one column: a scan of the table or of an index (0.1 s a column on
        a million tasks), so read once and then kept from the live rows (`choices`)."""
        if column not in CHOICE_COLUMNS:
            raise ValueError(f"no distinct values for '{column}'")
        with self._lock:
            rows = self._db.execute(
                f"SELECT DISTINCT {column} FROM tasks WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def choices(self) -> dict[str, set[str]]:
        """The values of every filter column, for the Tasks screen's first read."""
        return {column: set(self.distinct(column)) for column in CHOICE_COLUMNS}

    def failed_rows(
        self,
        since: float | None = None,
        states: Sequence[str] = ("FAILURE",),
        search: Condition | None = None,
        newest: int | None = None,
    ) -> list[dict[str, Any]]:
        """See `failed_rows_of`: the rows failures.py groups by cause."""
        with self._lock:
            return failed_rows_of(self._db, since, states, search, newest)

    def resolved_failures(self) -> dict[str, float]:
        """Failure causes marked resolved, and when (none in a journal before schema 4)."""
        with self._lock:
            if not has_table(self._db, "resolved_failures"):
                return {}
            rows = self._db.execute("SELECT fingerprint, resolved FROM resolved_failures")
            return {str(r[0]): float(r[1]) for r in rows}

    def retries_of(self, task_id: str) -> list[str]:
        """The tasks the panel sent to retry `task_id`, oldest first."""
        return self.retried_as([task_id]).get(task_id, [])

    def retried_as(self, task_ids: Iterable[str]) -> dict[str, list[str]]:
        """For each of `task_ids` the panel retried: the new tasks, oldest first (none in a
        journal before schema 4)."""
        ids = json.dumps(list(task_ids))
        with self._lock:
            if "retry_of" not in {r[1] for r in self._db.execute("PRAGMA table_info(tasks)")}:
                return {}
            rows = self._db.execute(
                "SELECT retry_of, id FROM tasks WHERE retry_of IN "
                "(SELECT value FROM json_each(?)) ORDER BY sent, id",
                (ids,),
            ).fetchall()
        found: dict[str, list[str]] = {}
        for old, new in rows:
            found.setdefault(str(old), []).append(str(new))
        return found

    def audit_entries(
        self, limit: int = 500, since: float | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """The audit log, newest first (none in a journal before schema 5)."""
        with self._lock:
            if not has_table(self._db, "audit"):
                return []
            rows = self._db.execute(*audit_query(limit, since, action)).fetchall()
        return [entry_of(r) for r in rows]

    # -- gaps: windows the journal did not hear ----------------------------------------------
    def last_write(self) -> float | None:
        """When a batch was last stored (any writer): where a gap after it starts."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'last_write'").fetchone()
            if row is None:  # a journal written before schema 2
                row = self._db.execute("SELECT max(updated) FROM tasks").fetchone()
        try:
            return float(row[0]) if row and row[0] is not None else None
        except ValueError:
            return None

    def gaps(self, limit: int = 100) -> list[Gap]:
        """The newest gaps first; none in a journal of schema 1 (read-only: never migrated)."""
        return self._gaps_where("", limit)

    def open_gaps(self, limit: int = 100) -> list[Gap]:
        """Gaps not filled yet (a fill that failed, or one never tried), newest first."""
        return self._gaps_where(" WHERE status = 'open'", limit)

    def _gaps_where(self, where: str, limit: int) -> list[Gap]:
        with self._lock:
            if not has_table(self._db, "gaps"):
                return []
            rows = self._db.execute(
                f"SELECT id, start, end, reason, status, found, note FROM gaps{where} "
                "ORDER BY start DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Gap(*tuple(r)) for r in rows]
