"""The durable record: every task's latest state and its event timeline, in SQLite (WAL).

One file per profile under the data dir. Written once per batch in one transaction; read in
pages with filters in SQL (a proxy model filtering 100k rows in Qt costs seconds). It also
remembers what the panel itself submitted (queue, priority), which events do not carry.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from desktop.core.base.literals import LITERAL_MAX_CHARS, read_literal
from desktop.core.base.task_record import TASK_RECORD_KEYS, TaskRecord, task_record
from desktop.core.base.task_states import FINISHED_ORDERED, finished_sql
from desktop.core.monitor.state import EventRecord, StateDiff, TaskRow
from desktop.core.settings.config_errors import ConfigFileError
from desktop.core.settings.paths import profile_key

# 2: the `gaps` table (windows the journal did not hear, and how they were filled).
SCHEMA_VERSION = 2
JOURNAL_SUFFIX = ".sqlite3"
# How long a write waits for another writer (the window, its ingest process, `record`) before
# SQLite answers "database is locked".
BUSY_TIMEOUT_S = 5.0
BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)
COLUMNS = TASK_RECORD_KEYS  # the tasks table's columns are a TaskRecord's keys
SORTABLE = frozenset(COLUMNS) - {"traceback"}
_ROW_FIELDS = tuple(f.name for f in fields(TaskRow))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, name TEXT, state TEXT, queue TEXT, routing_key TEXT, exchange TEXT,
    priority INTEGER, worker TEXT, args TEXT, kwargs TEXT, result TEXT, exception TEXT,
    traceback TEXT, sent REAL, received REAL, started REAL, finished REAL, runtime REAL,
    retries INTEGER, parent_id TEXT, root_id TEXT, eta TEXT, expires TEXT,
    submitted INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(updated);
CREATE INDEX IF NOT EXISTS tasks_sent ON tasks(sent);
CREATE INDEX IF NOT EXISTS tasks_name_state_sent ON tasks(name, state, sent);
CREATE INDEX IF NOT EXISTS tasks_state_sent ON tasks(state, sent);
CREATE INDEX IF NOT EXISTS tasks_root ON tasks(root_id);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent_id);
CREATE TABLE IF NOT EXISTS events (
    task_id TEXT NOT NULL, type TEXT NOT NULL, timestamp REAL NOT NULL, fields TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_once ON events(task_id, timestamp, type);
DROP INDEX IF EXISTS events_task;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, start REAL NOT NULL, end REAL NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open', found INTEGER NOT NULL DEFAULT 0, note TEXT,
    recorded REAL NOT NULL
);
"""
# An event stored twice (two recorders on one journal, a spilled batch retried) is kept once.
_INSERT_EVENT = "INSERT OR IGNORE INTO events(task_id, type, timestamp, fields) VALUES (?, ?, ?, ?)"
_DEDUPLICATE_EVENTS = (
    "DELETE FROM events WHERE rowid NOT IN "
    "(SELECT min(rowid) FROM events GROUP BY task_id, timestamp, type)"
)
# What the journal cannot store, whatever the disk: a value SQLite cannot bind (an int past
# 64 bits, text with a lone surrogate), NULL where a value is required (a NaN timestamp).
_VALUE_ERRORS = (
    OverflowError, UnicodeEncodeError, ValueError, TypeError, sqlite3.IntegrityError,
    sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError,
)  # fmt: skip


class JournalUnwritable(Exception):
    """The journal refused a write for a reason that is not the data: the disk is full, the
    file or its directory is read-only, an I/O error, a damaged file. Nothing of the write
    was kept; the caller keeps it and tries again (monitor.py), unless the file is `damaged`
    (not a database, or a malformed one): writing on would not help, and might harm."""

    @property
    def damaged(self) -> bool:
        name = str(getattr(self.__cause__, "sqlite_errorname", ""))
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))

    @property
    def busy(self) -> bool:
        """Another connection held the write lock past the busy timeout: the file is fine,
        trying again later succeeds."""
        name = str(getattr(self.__cause__, "sqlite_errorname", ""))
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


@dataclass(frozen=True)
class Gap:
    """A window of time the journal did not hear events: the recorder was not running or
    could not write. `status` is "open" until filled from the result backend ("filled"), or
    "cannot" when that backend cannot be scanned (`note` says why)."""

    id: int
    start: float
    end: float
    reason: str
    status: str
    found: int
    note: str | None


_FINAL_SQL = finished_sql()
# Event-derived values win when present; what the panel recorded on submission is kept; a
# late event (say task-received after the in-memory state forgot the task) never turns a
# finished task back into a running one.
_SET = ", ".join(
    f"{c} = coalesce(excluded.{c}, tasks.{c})" for c in _ROW_FIELDS if c not in ("id", "state")
)
_UPSERT = f"""
INSERT INTO tasks ({", ".join(_ROW_FIELDS)}) VALUES ({", ".join("?" * len(_ROW_FIELDS))})
ON CONFLICT(id) DO UPDATE SET {_SET},
state = CASE WHEN tasks.state IN ({_FINAL_SQL}) AND excluded.state NOT IN ({_FINAL_SQL})
             THEN tasks.state ELSE excluded.state END
"""


_BACKEND_COLUMNS = (
    "task_id", "name", "state", "queue", "worker", "args", "kwargs", "result", "exception",
    "traceback", "finished", "retries", "parent_id", "root_id",
)  # fmt: skip
_KEPT = ("name", "queue", "worker", "args", "kwargs", "exception", "traceback", "retries",
         "parent_id", "root_id")  # fmt: skip
_KEEP_SQL = ", ".join(f"{c} = coalesce(tasks.{c}, excluded.{c})" for c in _KEPT)
_STORE_RESULT = f"""
INSERT INTO tasks(id, {", ".join(_BACKEND_COLUMNS[1:])}, updated)
VALUES ({", ".join("?" * (len(_BACKEND_COLUMNS) + 1))})
ON CONFLICT(id) DO UPDATE SET {_KEEP_SQL},
    finished = coalesce(tasks.finished, excluded.finished),
    result = coalesce(tasks.result, excluded.result),
    state = excluded.state, updated = excluded.updated
WHERE tasks.state NOT IN ({_FINAL_SQL}) AND tasks.state != excluded.state
"""


def _said(exc: BaseException) -> str:
    """SQLite's own words for a failure, with its error name (SQLITE_FULL, SQLITE_READONLY)."""
    name = getattr(exc, "sqlite_errorname", None)
    return f"{exc} ({name})" if name else str(exc)


def _disk_says(path: Path) -> str:
    """What the file system says about writing beside `path`: SQLite's "unable to open
    database file" names no cause."""
    try:
        disk = os.statvfs(path.parent)
    except OSError as exc:
        return f"; {exc.strerror or exc}"
    if disk.f_flag & os.ST_RDONLY:
        return "; its file system is mounted read-only"
    if disk.f_bavail == 0:
        return "; the disk is full"
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "; no permission to write there"
    return ""


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


def journal_name(profile_name: str) -> str:
    """The journal's file name: one per profile name (paths.profile_key), never shared."""
    return profile_key(profile_name) + JOURNAL_SUFFIX


SEARCHED = ("id", "name", "args", "kwargs", "result", "exception")
_LIKE_ESCAPE = "\\"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class FilterTerm:
    """One condition of a `TaskQuery`: true when any of `columns` equals `value` or, for free
    text, contains it as SQLite's LIKE does (literally, ignoring case of ASCII letters only)."""

    columns: tuple[str, ...]
    value: str
    contains: bool = False

    def sql(self) -> tuple[str, list[Any]]:
        if self.contains:
            escaped = (
                self.value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
                .replace("%", _LIKE_ESCAPE + "%")
                .replace("_", _LIKE_ESCAPE + "_")
            )
            test, param = f"LIKE ? ESCAPE '{_LIKE_ESCAPE}'", f"%{escaped}%"
        else:
            test, param = "= ?", self.value
        clause = " OR ".join(f"{column} {test}" for column in self.columns)
        return f"({clause})", [param] * len(self.columns)

    def holds(self, row: Mapping[str, Any]) -> bool:
        values = (row.get(column) for column in self.columns)
        if not self.contains:
            return any(value == self.value for value in values)
        needle = _as_like_reads(self.value)
        return any(needle in _as_like_reads(str(v)) for v in values if v is not None)


def _as_like_reads(text: str) -> str:
    """Text as SQLite's LIKE compares it: ASCII letters in one case, and nothing after a NUL
    (it reads both sides as C strings)."""
    return text.split("\x00", 1)[0].translate(_ASCII_LOWER)


@dataclass(frozen=True)
class TaskQuery:
    """Filters a person sets on the tasks screen or the CLI.

    `terms()` is the one definition of the filter: `where()` says it in SQL for pages read
    from the journal, `matches()` in Python for rows that change live, so the table never
    holds a row the same query would not read back.
    """

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    text: str | None = None
    order_by: str = "sent"
    descending: bool = True

    def terms(self) -> list[FilterTerm]:
        terms = [
            FilterTerm((column,), value)
            for column in ("state", "name", "worker")
            if (value := getattr(self, column))
        ]
        if self.queue:
            terms.append(FilterTerm(("queue", "routing_key"), self.queue))
        if self.text:
            terms.append(FilterTerm(SEARCHED, self.text, contains=True))
        return terms

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for term in self.terms():
            clause, values = term.sql()
            clauses.append(clause)
            params += values
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether `where()` selects this journal row."""
        return all(term.holds(row) for term in self.terms())


def damaged_journal(path: Path, exc: sqlite3.Error, *, writing: bool = True) -> ConfigFileError:
    """The journal named with what is wrong: a place that cannot be written, or a file that
    is not a journal."""
    text = str(exc)
    if "unable to open" in text and not writing:
        return ConfigFileError(path, f"cannot be read ({text})")
    if writing and ("readonly" in text or "unable to open" in text or "read-only" in text):
        return ConfigFileError(
            path, f"cannot be opened for writing ({text}): is its directory read-only?"
        )
    return ConfigFileError(
        path,
        f"cannot be used as the task history ({exc}): move it aside and a new one is started",
    )


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading only (`mode=ro`), checked to be a journal. In a directory that cannot
    be written, SQLite cannot make the WAL's index file, so the file is read as it stands
    (`immutable=1`: what a writer left in the WAL, never checkpointed, is not seen)."""
    uri = path.resolve().as_uri() + "?mode=ro"
    attempts = [uri] if os.access(path.parent, os.W_OK) else [uri, uri + "&immutable=1"]
    failure: sqlite3.Error | None = None
    for attempt in attempts:
        try:
            db = sqlite3.connect(attempt, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            failure = exc
            continue
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("SELECT count(*) FROM tasks WHERE 0").fetchall()
            return db
        except sqlite3.Error as exc:
            db.close()
            failure = exc
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                break
    assert failure is not None
    raise damaged_journal(path, failure, writing=False) from failure


class Journal:
    """Thread-safe: one connection guarded by a lock (writes come from the batch thread)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """With `read_only` nothing is created or written (a journal on a read-only disk can
        be read); a file that is not a journal raises ConfigFileError naming it."""
        self.path = path
        self._lock = threading.Lock()
        self.refused = 0  # rows and events skipped alone because SQLite cannot hold a value
        if read_only:
            self._db = _connect_read_only(path)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise JournalUnwritable(
                f"cannot open the journal {path}: {_said(exc)}{_disk_says(path)}"
            ) from exc
        try:
            self._db.row_factory = sqlite3.Row
            # Read first: a file that is not a journal is reported, never written over.
            self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # The window and its ingest process both write (submissions, events): wait, not fail.
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._migrate()
            self._db.executescript(_SCHEMA)  # also the migration: every table IF NOT EXISTS
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE "
                "SET value = excluded.value WHERE CAST(value AS INTEGER) < ?",
                (str(SCHEMA_VERSION), SCHEMA_VERSION),
            )
        except sqlite3.Error as exc:
            self._db.close()
            why = _said(exc) + _disk_says(path)
            if str(getattr(exc, "sqlite_errorname", "")).startswith(
                ("SQLITE_CORRUPT", "SQLITE_NOTADB")
            ):  # what to do, since the panel will not write over it
                why += "; move it aside and a new journal is started"
            raise JournalUnwritable(f"cannot use the journal {path}: {why}") from exc

    def _migrate(self) -> None:
        """Schema 1 to 2: events kept once (a unique index, after dropping copies)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "events" in tables and "events_once" not in tables:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(_DEDUPLICATE_EVENTS)
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------------------------
    def write(self, rows: Iterable[TaskRow], events: Iterable[EventRecord]) -> int:
        """Store a batch in one transaction; returns how many rows and events were skipped.

        A value SQLite cannot hold (say `retries` = 2**63) fails the whole `executemany`: then
        the batch is written again one by one, so only what cannot be stored is skipped (and
        counted in `refused`), never the good ones beside it. A failure of the file itself
        (disk full, read-only, I/O) raises `JournalUnwritable` with nothing written.
        """
        task_values = [tuple(getattr(r, f) for f in _ROW_FIELDS) for r in rows]
        event_values = [(e.task_id, e.type, e.timestamp, e.fields) for e in events]
        if not task_values and not event_values:
            return 0
        with self._lock:
            try:
                return self._write_batch(task_values, event_values)
            except sqlite3.Error as exc:
                raise JournalUnwritable(_said(exc)) from exc

    def _write_batch(self, task_values: list[tuple[Any, ...]], event_values: list[Any]) -> int:
        try:
            self._transaction(lambda: self._store_all(task_values, event_values))
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

        self._transaction(one_by_one)
        self.refused += skipped
        return skipped

    def _store_all(self, task_values: list[tuple[Any, ...]], event_values: list[Any]) -> None:
        self._db.executemany(_UPSERT, task_values)
        self._db.executemany(_INSERT_EVENT, event_values)

    def _transaction(self, work: Callable[[], None]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            work()
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('last_write', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (repr(time.time()),),
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
    ) -> None:
        """What the panel sent: priority and queue are not in any event, so keep them here."""
        now = time.time()
        with self._lock:
            self._db.execute(
                """INSERT INTO tasks(id, name, state, queue, priority, args, kwargs, parent_id,
                       root_id, sent, submitted, updated)
                   VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, 1, ?)
                   ON CONFLICT(id) DO UPDATE SET queue = excluded.queue,
                       priority = excluded.priority, submitted = 1""",
                (task_id, name, queue, priority, args, kwargs, parent_id, root_id, now, now),
            )

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

    def prune(self, max_tasks: int, max_age_s: float | None = None) -> int:
        """Retention: keep the newest `max_tasks`, and none older than `max_age_s`."""
        with self._lock:
            removed = 0
            if max_age_s is not None:
                cutoff = time.time() - max_age_s
                removed += self._db.execute(
                    "DELETE FROM tasks WHERE updated < ?", (cutoff,)
                ).rowcount
            count = self._db.execute("SELECT count(*) FROM tasks").fetchone()[0]
            if count > max_tasks:
                removed += self._db.execute(
                    "DELETE FROM tasks WHERE id IN "
                    "(SELECT id FROM tasks ORDER BY updated ASC LIMIT ?)",
                    (count - max_tasks,),
                ).rowcount
            if removed:
                self._db.execute("DELETE FROM events WHERE task_id NOT IN (SELECT id FROM tasks)")
            return removed

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

    def gaps(self, limit: int = 100) -> list[Gap]:
        """The newest gaps first; none in a journal of schema 1 (read-only: never migrated)."""
        return self._gaps_where("", limit)

    def open_gaps(self, limit: int = 100) -> list[Gap]:
        """Gaps not filled yet (a fill that failed, or one never tried), newest first."""
        return self._gaps_where(" WHERE status = 'open'", limit)

    def _gaps_where(self, where: str, limit: int) -> list[Gap]:
        with self._lock:
            if not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gaps'"
            ).fetchone():
                return []
            rows = self._db.execute(
                f"SELECT id, start, end, reason, status, found, note FROM gaps{where} "
                "ORDER BY start DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Gap(*tuple(r)) for r in rows]

    def store_backend_results(self, results: Iterable[Any]) -> int:
        """Tasks read off the result backend (backend_scan.BackendResult): a task the journal
        never heard of is added; one it has unfinished takes the backend's state; what events
        already said is never overwritten. Returns how many rows changed."""
        values = [(*(getattr(r, c) for c in _BACKEND_COLUMNS), time.time()) for r in results]
        changed = 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for value in values:
                    try:
                        changed += self._db.execute(_STORE_RESULT, value).rowcount
                    except _VALUE_ERRORS:
                        self.refused += 1
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise JournalUnwritable(_said(exc)) from exc
        return changed

    # -- reading ------------------------------------------------------------------------------
    def count(self, query: TaskQuery | None = None) -> int:
        where, params = (query or TaskQuery()).where()
        with self._lock:
            row = self._db.execute(f"SELECT count(*) FROM tasks{where}", params).fetchone()
        return int(row[0])

    def page(
        self, query: TaskQuery | None = None, offset: int = 0, limit: int = 200
    ) -> list[TaskRecord]:
        query = query or TaskQuery()
        if query.order_by not in SORTABLE:
            raise ValueError(f"cannot sort by '{query.order_by}'")
        where, params = query.where()
        direction = "DESC" if query.descending else "ASC"
        # A bare column keeps the index usable (an `IS NULL` term forced a sort of every row:
        # 1 s on a million tasks); SQLite puts NULLs last when descending, first ascending.
        sql = (
            f"SELECT * FROM tasks{where} ORDER BY {query.order_by} {direction}, "
            f"id {direction} LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db.execute(sql, [*params, limit, offset]).fetchall()
        return [task_record(r) for r in rows]

    def rows(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]:
        """The stored rows of these tasks, by id: what a batch's events became once merged
        with what the journal already knew (the queue and priority the panel recorded when
        sending, a final state a late event cannot undo)."""
        ids = json.dumps(list(task_ids))
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM tasks WHERE id IN (SELECT value FROM json_each(?))", (ids,)
            ).fetchall()
        return {str(r["id"]): task_record(r) for r in found}

    def get(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return task_record(row) if row else None

    def timeline(self, task_id: str) -> list[dict[str, Any]]:
        """A task's events by time; at the same time (state.py keeps a task's stages in order
        by moving one onto the other's time), in the order of a task's life."""
        with self._lock:
            rows = self._db.execute(
                "SELECT type, timestamp, fields FROM events WHERE task_id = ? "
                "ORDER BY timestamp, CASE type WHEN 'task-sent' THEN 0 "
                "WHEN 'task-received' THEN 1 WHEN 'task-started' THEN 2 ELSE 3 END, rowid",
                (task_id,),
            ).fetchall()
        return [dict(r) for r in rows]

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
        return [task_record(r) for r in rows]

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
        if column not in ("state", "name", "queue", "worker", "routing_key"):
            raise ValueError(f"no distinct values for '{column}'")
        with self._lock:
            rows = self._db.execute(
                f"SELECT DISTINCT {column} FROM tasks WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
        return [str(r[0]) for r in rows]
