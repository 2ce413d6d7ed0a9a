"""Where `celery-desk history export` reads and writes (export.py): a SQLite journal, a shared
history on PostgreSQL, or (as a target only) a JSON lines file; each opened, each said with its
password masked, and the two connections' SQL written once with `?` for both engines."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from desktop.core.monitor.journal_schema import connect_read_only, connect_writable
from desktop.core.settings import urls

SQLITE_URL = "sqlite://"
JSONL_SUFFIX = ".jsonl"
EXPORT_HEADER = "celery_desk_export"  # the first line of a JSON lines export names its source


class ExportError(Exception):
    """A place that cannot be used, or an export stopped by a failure, said with every
    password masked."""


class ExportStopped(ExportError):
    """A failure midway (the server gone, the disk full): the chunks stored so far are kept,
    and the next run goes on from them."""


@dataclass(frozen=True)
class Place:
    """A history to read or write: `kind` "sqlite", "postgresql" or "jsonl"; `where` the file
    or the URL with its password (never shown: `shown`)."""

    kind: str
    where: str

    @property
    def shown(self) -> str:
        if self.kind == "postgresql":
            return urls.mask(self.where)
        return str(Path(self.where).resolve())


def place_of(text: str, *, target: bool) -> Place:
    """A SOURCE or TARGET as given: postgresql://…, sqlite:///absolute/path (a file URL), a
    path of a SQLite journal, or (a target only) a path ending in .jsonl."""
    if urls.is_shared_history(text):
        return Place("postgresql", text)
    if text.lower().startswith(SQLITE_URL):
        path = unquote(urlsplit(text).path)
        if not path:
            raise ExportError(f"'{text}' names no file: write sqlite:///path/to/journal.sqlite3")
        return Place("sqlite", path)
    if "://" in text:
        raise ExportError(
            f"'{urls.mask(text)}' is neither postgresql://…, sqlite:///path nor a file path"
        )
    if text.lower().endswith(JSONL_SUFFIX):
        if not target:
            raise ExportError(f"{text}: JSON lines are an export's target only, not a source")
        return Place("jsonl", text)
    return Place("sqlite", text)


class Sql:
    """One connection of either engine (sqlite3 in autocommit, or psycopg in autocommit), its
    statements written with `?`."""

    def __init__(self, conn: Any, *, pg: bool) -> None:
        self.conn = conn
        self.pg = pg

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(self._q(sql), params).fetchall()]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(self._q(sql), params).rowcount or 0)

    def run_many(self, sql: str, values: Sequence[Sequence[Any]]) -> int:
        if self.pg:
            with self.conn.cursor() as cursor:
                cursor.executemany(self._q(sql), values)
                return int(cursor.rowcount or 0)
        return int(self.conn.executemany(sql, values).rowcount or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.pg:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside `transaction`: a failure undoes only what this block did."""
        if self.pg:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("SAVEPOINT one")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO one")
            self.conn.execute("RELEASE one")
            raise
        self.conn.execute("RELEASE one")

    def has_table(self, name: str) -> bool:
        if self.pg:
            found = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            return bool(found and found[0])
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def close(self) -> None:
        self.conn.close()


def open_sqlite(place: Place, *, write: bool) -> Sql:
    """A journal file: read-only as a source (it must exist), created and migrated as a
    target (JournalUnwritable says why it cannot be)."""
    path = Path(place.where)
    if write:
        return Sql(connect_writable(path), pg=False)
    if not path.is_file():
        raise ExportError(f"no journal at {place.shown}")
    return Sql(connect_read_only(path), pg=False)


def open_postgresql(place: Place, *, write: bool) -> Sql:
    """A shared history: migrated to this program's schema as a target; as a source, checked
    to be one (pg_connect.connect: HistoryUnavailable, HistorySchemaTooNew)."""
    from desktop.core.history.pg_connect import connect

    return Sql(connect(place.where, write=write, purpose="export"), pg=True)


def value_errors() -> tuple[type[BaseException], ...]:
    """What one row's values can raise, in either engine: that row is skipped and counted,
    never the chunk."""
    errors: list[type[BaseException]] = [
        sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError,
        sqlite3.ProgrammingError, OverflowError, UnicodeEncodeError, ValueError, TypeError,
    ]  # fmt: skip
    with contextlib.suppress(ImportError):
        import psycopg

        errors += [psycopg.DataError, psycopg.IntegrityError]
    return tuple(errors)


class JsonlFile:
    """A JSON lines export: a header naming the source, then one line a row,
    `{"table": …, "key": …, "row": {column: value}}`, in each table's key order. A run after
    an interruption drops a line cut short and goes on after the last key each table reached;
    rows of the tables read whole (gaps, resolved failures) are written once unless changed."""

    def __init__(self, place: Place, source: str) -> None:
        self.path = Path(place.where)
        self.shown = place.shown
        self.point: dict[str, Any] = {}
        self.seen: set[str] = set()
        self.counts: dict[str, int] = {}
        kept = 0
        if self.path.exists():
            with self.path.open("rb") as file:
                for number, raw in enumerate(file):
                    try:
                        line = json.loads(raw) if raw.endswith(b"\n") else None
                    except ValueError:
                        line = None
                    if not isinstance(line, dict):
                        if number == 0 and not raw.startswith(b'{"' + EXPORT_HEADER.encode()):
                            raise ExportError(f"{self.shown} is not a Celery Desk export")
                        break  # cut short by an interruption: written again
                    if number == 0:
                        if line.get(EXPORT_HEADER) is None:
                            raise ExportError(f"{self.shown} is not a Celery Desk export")
                        if line.get("from") != source:
                            raise ExportError(
                                f"{self.shown} holds an export of {line.get('from')}, not of "
                                f"{source}: choose another file"
                            )
                    else:
                        self._heard(line)
                    kept += len(raw)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("ab")
            self.file.truncate(kept)
        except OSError as exc:
            raise ExportError(f"cannot write {self.shown}: {exc.strerror or exc}") from None
        if kept == 0:
            self._write([{EXPORT_HEADER: 1, "from": source}])

    def _heard(self, line: dict[str, Any]) -> None:
        table = str(line.get("table"))
        self.counts[table] = self.counts.get(table, 0) + 1
        if line.get("key") is not None:
            self.point[table] = line["key"]
        else:
            self.seen.add(json.dumps([table, line.get("row")], sort_keys=True))

    def _write(self, lines: list[dict[str, Any]]) -> None:
        # ensure_ascii (json's default): every line ASCII, a lone surrogate escaped too
        text = "".join(json.dumps(line, default=str) + "\n" for line in lines)
        self.file.write(text.encode("ascii"))
        self.file.flush()
        os.fsync(self.file.fileno())

    def store(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, tuple[Any, ...]]]
    ) -> int:
        lines = []
        for key, values in rows:
            line = {"table": table, "key": key, "row": dict(zip(columns, values, strict=True))}
            if key is None:
                seen = json.dumps([table, line["row"]], sort_keys=True, default=str)
                if seen in self.seen:
                    continue
                self.seen.add(seen)
            lines.append(line)
        if lines:
            self._write(lines)
        for line in lines:
            self.counts[table] = self.counts.get(table, 0) + 1
            if line["key"] is not None:
                self.point[table] = line["key"]
        return len(lines)

    def close(self) -> None:
        self.file.close()
