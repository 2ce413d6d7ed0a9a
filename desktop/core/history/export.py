"""Moving a task history between engines: `celery-desk history export` (issue 20).

The source (a SQLite journal, or a shared history on PostgreSQL) is read in chunks, each table
by a key that only grows: tasks by (updated, id), so a row changed since is read again; events
by the order they were stored (SQLite's rowid, PostgreSQL's seq); audit entries by id. Gaps and
resolved failures (a few rows) are read whole. Each chunk is stored in the target (a SQLite
journal, a PostgreSQL history, or a JSON lines file, export_places.py) together with the point
it reached, in one transaction: an export stopped anywhere (killed, the server gone,
`max_chunks`) goes on where it stopped when run again, and stores nothing twice. The target's
own rules keep it so even without the point: a task is upserted by id (the newer `updated`
wins), an event kept once per (task, time, type), an audit entry or a gap once. Run again
later, an export copies what changed since.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop.core.history.export_places import (
    ExportError,
    ExportStopped,
    JsonlFile,
    Place,
    Sql,
    open_postgresql,
    open_sqlite,
    value_errors,
)
from desktop.core.monitor.audit import AUDIT_COLUMNS
from desktop.core.monitor.journal_schema import COLUMNS

CHUNK_ROWS = 1000  # rows a chunk: a PostgreSQL statement's parameters stay far below 65,535
TABLES = ("tasks", "events", "audit", "gaps", "resolved_failures")
EVENT_COLUMNS = ("task_id", "type", "timestamp", "fields")
GAP_COLUMNS = ("start", "end", "reason", "status", "found", "note", "recorded")
RESOLVED_COLUMNS = ("fingerprint", "resolved")
COLUMNS_OF: dict[str, tuple[str, ...]] = {
    "tasks": COLUMNS,
    "events": EVENT_COLUMNS,
    "audit": AUDIT_COLUMNS,
    "gaps": GAP_COLUMNS,
    "resolved_failures": RESOLVED_COLUMNS,
}
_UPDATED_AT = COLUMNS.index("updated")
_ID_AT = COLUMNS.index("id")


def _listed(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)  # "end", "user": words of SQL, quoted in both


def _marks(count: int) -> str:
    return ", ".join("?" * count)


_TASK_LIST = _listed(COLUMNS)
_STORE_TASK = (
    f"INSERT INTO tasks ({_TASK_LIST}) VALUES ({_marks(len(COLUMNS))}) ON CONFLICT(id) DO "
    "UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in COLUMNS if c != "id")
    + " WHERE excluded.updated > tasks.updated"
)
_STORE_EVENT = (
    f"INSERT INTO events ({_listed(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (task_id, timestamp, type) DO NOTHING"
)
_STORE_RESOLVED = (
    "INSERT INTO resolved_failures (fingerprint, resolved) VALUES (?, ?) ON CONFLICT "
    "(fingerprint) DO UPDATE SET resolved = excluded.resolved "
    "WHERE excluded.resolved > resolved_failures.resolved"
)
_AUDIT_ONCE = "SELECT 1 FROM audit WHERE at = ? AND action = ? AND target = ? AND outcome = ?"
_AUDIT_KEYS = [AUDIT_COLUMNS.index(c) for c in ("at", "action", "target", "outcome")]
_STORE_AUDIT = f"INSERT INTO audit ({_listed(AUDIT_COLUMNS)}) VALUES ({_marks(len(AUDIT_COLUMNS))})"
_GAP_FOUND = 'SELECT status, found, note FROM gaps WHERE start = ? AND "end" = ? AND reason = ?'
_GAP_UPDATE = (
    'UPDATE gaps SET status = ?, found = ?, note = ? WHERE start = ? AND "end" = ? AND reason = ?'
)
_STORE_GAP = f"INSERT INTO gaps ({_listed(GAP_COLUMNS)}) VALUES ({_marks(len(GAP_COLUMNS))})"


@dataclass
class Moved:
    """One table's rows in a run: `read` from the source, `stored` new or changed in the
    target (a row it already held as it is: read, not stored), `refused` (a value the target
    cannot hold: that row alone skipped)."""

    read: int = 0
    stored: int = 0
    refused: int = 0


@dataclass
class ExportReport:
    source: str
    target: str
    tables: dict[str, Moved] = field(default_factory=lambda: {t: Moved() for t in TABLES})
    chunks: int = 0
    resumed: bool = False  # went on from an earlier run's point
    complete: bool = False  # every table read to its end (else: stopped after `max_chunks`)
    in_target: dict[str, int] = field(default_factory=dict)  # rows the target holds, at the end
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "complete": self.complete,
            "resumed": self.resumed,
            "chunks": self.chunks,
            "tables": {t: vars(m) for t, m in self.tables.items()},
            "in_target": self.in_target,
            "seconds": round(self.seconds, 3),
        }


class _Source:
    """Reads a history's tables in key order (module docstring)."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self.order = "seq" if sql.pg else "rowid"

    def read(self, table: str, after: Any, limit: int) -> list[tuple[Any, tuple[Any, ...]]]:
        """Up to `limit` (key, values) of `table` after `after` (None: from its start)."""
        if table == "tasks":
            where, params = "", []
            if after is not None:
                where = " WHERE updated >= ? AND (updated > ? OR id > ?)"
                params = [after[0], after[0], after[1]]
            rows = self.sql.all(
                f"SELECT {_TASK_LIST} FROM tasks{where} ORDER BY updated, id LIMIT ?",
                [*params, limit],
            )
            return [([r[_UPDATED_AT], r[_ID_AT]], r) for r in rows]
        if table in ("events", "audit"):
            key = self.order if table == "events" else "id"
            rows = self.sql.all(
                f"SELECT {key}, {_listed(COLUMNS_OF[table])} FROM {table} WHERE {key} > ? "
                f"ORDER BY {key} LIMIT ?",
                [-1 if after is None else after, limit],
            )
            return [(r[0], r[1:]) for r in rows]
        order = "id" if table == "gaps" else "fingerprint"
        rows = self.sql.all(f"SELECT {_listed(COLUMNS_OF[table])} FROM {table} ORDER BY {order}")
        return [(None, r) for r in rows]


class _DbTarget:
    """A journal or a shared history written by chunks, each with the point reached, under
    `meta`'s key "export from <source>"."""

    def __init__(self, sql: Sql, source: str) -> None:
        self.sql = sql
        self.key = f"export from {source}"
        self.errors = value_errors()

    def resume_point(self) -> dict[str, Any]:
        row = self.sql.all("SELECT value FROM meta WHERE key = ?", [self.key])
        return dict(json.loads(row[0][0])) if row and row[0][0] else {}

    def store(
        self, table: str, rows: list[tuple[Any, tuple[Any, ...]]], point: dict[str, Any]
    ) -> tuple[int, int]:
        """The chunk and the point it reached, in one transaction; (stored, refused)."""
        values = [v for _, v in rows]
        with self.sql.transaction():
            try:
                with self.sql.savepoint():
                    stored, refused = self._store(table, values), 0
            except self.errors:
                stored, refused = self._one_by_one(table, values)
            self.sql.run(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [self.key, json.dumps(point)],
            )
        return stored, refused

    def _one_by_one(self, table: str, values: list[tuple[Any, ...]]) -> tuple[int, int]:
        stored = refused = 0
        for value in values:
            try:
                with self.sql.savepoint():
                    stored += self._store(table, [value])
            except self.errors:
                refused += 1
        return stored, refused

    def _store(self, table: str, values: list[tuple[Any, ...]]) -> int:
        if table == "tasks":
            return self.sql.run_many(_STORE_TASK, values)
        if table == "events":
            return self.sql.run_many(_STORE_EVENT, values)
        if table == "resolved_failures":
            return self.sql.run_many(_STORE_RESOLVED, values)
        stored = 0
        for value in values:
            if table == "audit":
                if not self.sql.all(_AUDIT_ONCE, [value[i] for i in _AUDIT_KEYS]):
                    stored += self.sql.run(_STORE_AUDIT, value)
                continue
            start, end, reason, status, found, note, _recorded = value
            held = self.sql.all(_GAP_FOUND, [start, end, reason])
            if not held:
                stored += self.sql.run(_STORE_GAP, value)
            elif held[0] != (status, found, note):
                stored += self.sql.run(_GAP_UPDATE, [status, found, note, start, end, reason])
        return stored

    def count(self, table: str) -> int:
        return int(self.sql.all(f"SELECT count(*) FROM {table}")[0][0])

    def close(self) -> None:
        self.sql.close()


class _JsonlTarget:
    def __init__(self, file: JsonlFile) -> None:
        self.file = file

    def resume_point(self) -> dict[str, Any]:
        return dict(self.file.point)

    def store(
        self, table: str, rows: list[tuple[Any, tuple[Any, ...]]], point: dict[str, Any]
    ) -> tuple[int, int]:
        return self.file.store(table, COLUMNS_OF[table], rows), 0

    def count(self, table: str) -> int:
        return self.file.counts.get(table, 0)

    def close(self) -> None:
        self.file.close()


def _open_source(place: Place) -> _Source:
    if place.kind == "postgresql":
        return _Source(open_postgresql(place, write=False))
    return _Source(open_sqlite(place, write=False))


def _open_target(place: Place, source: str) -> _DbTarget | _JsonlTarget:
    if place.kind == "jsonl":
        return _JsonlTarget(JsonlFile(place, source))
    if place.kind == "postgresql":
        return _DbTarget(open_postgresql(place, write=True), source)
    return _DbTarget(open_sqlite(place, write=True), source)


def export(
    source: Place,
    target: Place,
    *,
    chunk: int = CHUNK_ROWS,
    max_chunks: int | None = None,
    on_chunk: Callable[[str, Moved], None] | None = None,
) -> ExportReport:
    """Copy `source`'s history into `target` (module docstring), `chunk` rows at a time;
    after `max_chunks` chunks, stop (the next run goes on). Raises ExportError (a place that
    cannot be used; a failure midway, whose chunks so far are kept), JournalUnwritable (a
    SQLite target that cannot be written), HistorySchemaTooNew, ConfigFileError (a SQLite
    source that is not a journal). `on_chunk(table, moved)` after each chunk."""
    if source.kind == target.kind and source.shown == target.shown:
        raise ExportError(f"{source.shown} is both the source and the target")
    report = ExportReport(source.shown, target.shown)
    reader = _open_source(source)
    try:
        writer = _open_target(target, source.shown)
    except BaseException:
        reader.sql.close()
        raise
    started = time.monotonic()
    try:
        _run(reader, writer, report, chunk, max_chunks, on_chunk)
    except ExportError:
        raise
    except Exception as exc:
        if isinstance(exc, value_errors()) or not _is_database_failure(exc):
            raise
        from desktop.core.settings import urls

        text = str(exc)
        for place in (source, target):
            password = urls.password_of(place.where) if place.kind == "postgresql" else None
            if password:
                text = text.replace(password, urls.MASK)
        raise ExportStopped(
            f"the export stopped after {report.chunks} chunk(s): {text}; what was stored is "
            "kept, run it again to go on"
        ) from None
    finally:
        report.seconds = time.monotonic() - started
        writer.close()
        reader.sql.close()
    return report


def _is_database_failure(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.Error)


def _run(
    reader: _Source,
    writer: _DbTarget | _JsonlTarget,
    report: ExportReport,
    chunk: int,
    max_chunks: int | None,
    on_chunk: Callable[[str, Moved], None] | None,
) -> None:
    point = writer.resume_point()
    report.resumed = bool(point)
    for table in TABLES:
        if not reader.sql.has_table(table):  # a journal from before gaps (2) or audit (5)
            continue
        moved = report.tables[table]
        whole = table in ("gaps", "resolved_failures")
        found = reader.read(table, None, 0) if whole else []
        at = 0
        while True:
            if max_chunks is not None and report.chunks >= max_chunks:
                return
            if whole:
                rows, at = found[at : at + chunk], at + chunk
            else:
                rows = reader.read(table, point.get(table), chunk)
            if not rows:
                break
            if not whole:
                point[table] = rows[-1][0]
            stored, refused = writer.store(table, rows, point)
            moved.read += len(rows)
            moved.stored += stored
            moved.refused += refused
            report.chunks += 1
            if on_chunk is not None:
                on_chunk(table, moved)
            if len(rows) < chunk:
                break
    report.complete = True
    report.in_target = {t: writer.count(t) for t in TABLES}
