"""The journal's file: its schema and migrations, how a connection is opened (for writing, or
read-only beside a writer), and how its failures are named.

Split from the reader and the writer so each opens the file the same way: the window's
recorder writes through one connection while the Tasks screen reads through its own read-only
one (WAL: a reader never waits for the writer's lock).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from desktop.core.base.task_record import TASK_RECORD_KEYS
from desktop.core.monitor.journal_text import TEXT_INDEX_DDL, add_text_index, defer_text_index
from desktop.core.settings.config_errors import ConfigFileError
from desktop.core.settings.paths import profile_key

# 2: the `gaps` table (windows the journal did not hear, and how they were filled).
# 3: an index (column, id) for every column the Tasks screen sorts in SQL, so a page is read
#    by keyset (the sort key and task id of the last row) from an index, never by a sort of
#    every row (1 s on a million tasks).
# 4: `retry_of` on a task the panel sent again (the task it retries), and the failure causes
#    a person marked resolved (`resolved_failures`).
# 5: the `audit` table: every action the panel or its CLI took on the cluster (monitor/audit.py).
# 6: the text index (journal_text.py): an FTS5 table of trigrams over the searched columns,
#    kept by triggers, so a free word found in few tasks is not a scan of every row.
SCHEMA_VERSION = 7
JOURNAL_SUFFIX = ".sqlite3"
# How long a write waits for another writer (the window, its ingest process, `record`) before
# SQLite answers "database is locked".
BUSY_TIMEOUT_S = 5.0
BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)
COLUMNS = TASK_RECORD_KEYS  # the tasks table's columns are a TaskRecord's keys
SORTABLE = frozenset(COLUMNS) - {"traceback"}
# Sorted from an index (schema 3): a page at any depth costs the same. The other SORTABLE
# columns (long text: args, kwargs, result) sort by a scan; the Tasks screen sorts them only
# in the rows it has loaded, and says so in their headers.
INDEXED_SORTS = frozenset(
    {"id", "name", "state", "queue", "priority", "worker", "sent", "received", "started",
     "runtime", "retries", "parent_id", "root_id", "updated"}
)  # fmt: skip

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, name TEXT, state TEXT, queue TEXT, routing_key TEXT, exchange TEXT,
    priority INTEGER, worker TEXT, args TEXT, kwargs TEXT, result TEXT, exception TEXT,
    traceback TEXT, sent REAL, received REAL, started REAL, finished REAL, runtime REAL,
    retries INTEGER, parent_id TEXT, root_id TEXT, eta TEXT, expires TEXT,
    submitted INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL, retry_of TEXT
);
CREATE INDEX IF NOT EXISTS tasks_retry_of ON tasks(retry_of) WHERE retry_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(updated);
CREATE INDEX IF NOT EXISTS tasks_name_state_sent ON tasks(name, state, sent);
CREATE INDEX IF NOT EXISTS tasks_state_sent ON tasks(state, sent);
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
CREATE TABLE IF NOT EXISTS resolved_failures (
    fingerprint TEXT PRIMARY KEY, resolved REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, profile TEXT, user TEXT, source TEXT,
    action TEXT NOT NULL, target TEXT NOT NULL, params TEXT, outcome TEXT NOT NULL, reply TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""
    + "".join(
        # Schema 3. The task id breaks ties, so a column of few values (state, name), or of
        # many NULLs (`sent`: task-sent events are often off), is read in order from the index,
        # never by sorting its largest group; `updated` keeps its one-column index.
        f"CREATE INDEX IF NOT EXISTS tasks_by_{column} ON tasks({column}, id);\n"
        for column in sorted(INDEXED_SORTS - {"id", "updated"})
    )
    + (  # schema 2's one-column indexes, which the (column, id) ones now serve
        "DROP INDEX IF EXISTS tasks_root;\nDROP INDEX IF EXISTS tasks_parent;\n"
        "DROP INDEX IF EXISTS tasks_sent;\n"
    )
    + "".join(f"{statement};\n" for statement in TEXT_INDEX_DDL)  # schema 4
)
# An event stored twice (two recorders on one journal, a spilled batch retried) is kept once.
DEDUPLICATE_EVENTS = (
    "DELETE FROM events WHERE rowid NOT IN "
    "(SELECT min(rowid) FROM events GROUP BY task_id, timestamp, type)"
)


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


def said(exc: BaseException) -> str:
    """SQLite's own words for a failure, with its error name (SQLITE_FULL, SQLITE_READONLY)."""
    name = getattr(exc, "sqlite_errorname", None)
    return f"{exc} ({name})" if name else str(exc)


def disk_says(path: Path) -> str:
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


def journal_name(profile_name: str) -> str:
    """The journal's file name: one per profile name (paths.profile_key), never shared."""
    return profile_key(profile_name) + JOURNAL_SUFFIX


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


def connect_read_only(path: Path) -> sqlite3.Connection:
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


def connect_writable(path: Path) -> sqlite3.Connection:
    """Open (creating it) for writing, in WAL, migrated to SCHEMA_VERSION; failures raise
    JournalUnwritable saying why (a damaged file is never written over)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise JournalUnwritable(
            f"cannot open the journal {path}: {said(exc)}{disk_says(path)}"
        ) from exc
    try:
        db.row_factory = sqlite3.Row
        # Read first: a file that is not a journal is reported, never written over.
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # The window and its ingest process both write (submissions, events): wait, not fail.
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            refuse_newer(db, path)
        except JournalUnwritable:
            db.close()
            raise
        migrate(db)
        db.executescript(SCHEMA)  # also the migration: every table and index IF NOT EXISTS
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE "
            "SET value = excluded.value WHERE CAST(value AS INTEGER) < ?",
            (str(SCHEMA_VERSION), SCHEMA_VERSION),
        )
    except sqlite3.Error as exc:
        db.close()
        why = said(exc) + disk_says(path)
        if str(getattr(exc, "sqlite_errorname", "")).startswith(
            ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        ):  # what to do, since the panel will not write over it
            why += "; move it aside and a new journal is started"
        raise JournalUnwritable(f"cannot use the journal {path}: {why}") from exc
    return db


def refuse_newer(db: sqlite3.Connection, path: Path) -> None:
    """A journal a newer Celery Desk migrated is not written: its tables or triggers may work
    otherwise than this program's (schema 6 put its text index triggers back beside schema
    7's, and rows were indexed twice). Raises JournalUnwritable naming both versions."""
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if has_meta else None
    found = int(row[0]) if row and str(row[0]).isdigit() else 0
    if found > SCHEMA_VERSION:
        raise JournalUnwritable(
            f"the journal {path} has schema version {found}, newer than this Celery Desk knows "
            f"(version {SCHEMA_VERSION}): upgrade Celery Desk to write to it; nothing was written"
        )


def migrate(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: events kept once (a unique index, after dropping copies). Schema 2 to 3
    only adds indexes, which SCHEMA creates (seconds on a million tasks: the session opens the
    journal on its pool, never on the GUI thread). Schema 3 to 4 adds the `retry_of` column
    (at the table's end, where a TaskRecord has it; instant: no row is rewritten); 4 to 5
    only tables SCHEMA creates. Schema 5 to 6: the text index, made and filled from the
    tasks in one transaction (journal_text.add_text_index; about a minute on a million
    tasks, on the same pool). Schema 6 to 7: the text index kept in bulk, later, instead of
    by a trigger per write (journal_text.defer_text_index; instant). A new journal gets all
    of it from SCHEMA."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    if "events" in tables and "events_once" not in tables:
        db.execute("BEGIN IMMEDIATE")
        db.execute(DEDUPLICATE_EVENTS)
        db.execute("COMMIT")
    if "tasks" in tables:
        columns = {r[1] for r in db.execute("PRAGMA table_info(tasks)")}
        if "retry_of" not in columns:
            db.execute("ALTER TABLE tasks ADD COLUMN retry_of TEXT")
        add_text_index(db)  # does nothing when the journal has it
        defer_text_index(db)  # nor this when its triggers note rows already
