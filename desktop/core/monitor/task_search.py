"""The task history's query language: what a person types in one line, said once for SQL and
for live rows.

    bad input                 free words: each found (literally, ASCII case ignored) in the id,
                              name, args, kwargs, result or exception
    "bad input"               a phrase: the quoted words as one piece of text
    name:proj.add             a field: exact for name, state, queue, worker, id, root, parent;
    args:42                   "contains" for args, kwargs, result, exception
    name:proj.*               a value with `*` is a glob over the whole value (`*` any run of
                              characters; `%`, `_` and a quoted `*` are literal)
    runtime>2.5 retries>=1    comparisons on runtime, retries, priority: > >= < <= =
    after:2026-11-29          times (see TASK_TIME): after: at or after, before: strictly
    before:-1h sent:today     before, sent: within a day / minute / since a relative time
    -state:SUCCESS            `-` negates the term it stands before
    a b OR c                  juxtaposition is AND, OR (upper case) joins; AND binds tighter

`parse` builds a `Search` or raises `SearchSyntaxError` naming the column; every term is a
condition with `sql()` (a WHERE fragment, `?` parameters) and `holds(row)` (the same rule in
Python), as `task_query.FilterTerm` is, whose equality and "contains" rules it reuses. A NULL
never satisfies a field, a comparison or a time; under `-` the NULL counts as "not satisfied",
so `-runtime>2` holds for a task with no runtime, in SQL as in Python (`NOT COALESCE(…,
FALSE)`, which SQLite and PostgreSQL both read: `sql(dialect=POSTGRESQL)` says every term for
the shared history, task_query.Dialect).
Given the journal's text index (journal_text.py), `sql(index)` reads a word or a glob's part of
3 characters or more that few tasks hold through it, the LIKE kept beside: the same rows,
without a scan of every task. Qt-free: the CLI and the screens share it.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from desktop.core.monitor.journal_text import SHORTEST
from desktop.core.monitor.search_time import SearchSyntaxError, named_time
from desktop.core.monitor.task_query import (
    LIKE_ESCAPE,
    SEARCHED,
    SQLITE,
    Condition,
    Dialect,
    FilterTerm,
    TextIndex,
    alternatives,
    as_like_reads,
    conjoined,
    like_reads,
    narrowed,
)

# A task's time for after:/before:/sent: (one rule): when it was sent, or, for a task whose
# task-sent event was not heard (they are often off), when a worker received it.
TASK_TIME_SQL = "COALESCE(sent, received)"


def task_time(row: Mapping[str, Any]) -> float | None:
    """TASK_TIME_SQL in Python."""
    sent = row.get("sent")
    return sent if sent is not None else row.get("received")


EXACT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "state": ("state",),
    "queue": ("queue", "routing_key"),
    "worker": ("worker",),
    "id": ("id",),
    "root": ("root_id",),
    "parent": ("parent_id",),
}
CONTAINS_FIELDS = ("args", "kwargs", "result", "exception")
NUMERIC_FIELDS = ("runtime", "retries", "priority")
TIME_FIELDS = ("after", "before", "sent")
KNOWN_FIELDS = (*EXACT_FIELDS, *CONTAINS_FIELDS, *NUMERIC_FIELDS, *TIME_FIELDS)
# What the language offers, in a few lines (the search box's tooltip).
SEARCH_HELP = (
    "Free words are found in the id, name, args, kwargs, result and exception.\n"
    'Quotes keep words together: "bad input".\n'
    "Fields: name: state: queue: worker: id: root: parent: (exact, * for any run of "
    "characters), args: kwargs: result: exception: (contained).\n"
    "Numbers: runtime>2.5 retries>=1 priority<3. Times: after:2026-11-29T10:00 "
    "before:-1h sent:today.\n"
    "-term leaves out what matches; OR between terms."
)
# SQLite refuses an expression deeper than 1000 (a chain of ORs nests one level a term, and a
# free word is six columns): a longer query is refused here, with its column, not by SQLite.
MAX_TERMS = 100

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FIELD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class GlobTerm:
    """True when any of `columns` matches the glob `parts` (the text between its `*`s) as a
    whole, as SQLite's LIKE reads the pattern: literally, ASCII case ignored, and a pattern or
    value ending at its first NUL."""

    columns: tuple[str, ...]
    parts: tuple[str, ...]

    def pattern(self) -> str:
        return "%".join(
            part.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
            .replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_")
            for part in self.parts
        )

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        test = f"{dialect.like} ? ESCAPE '{LIKE_ESCAPE}'"
        clause = " OR ".join(f"{column} {test}" for column in self.columns)
        params = [self.pattern()] * len(self.columns)
        if index is None:
            return f"({clause})", params
        return narrowed(index, self.columns, self._read_parts(), clause, params)

    def _read_parts(self) -> list[str]:
        """The parts as SQLite reads the pattern: up to a NUL in one of them."""
        parts: list[str] = []
        for part in self.parts:
            parts.append(like_reads(part))
            if "\x00" in part:  # SQLite stops reading the pattern there
                break
        return parts

    def holds(self, row: Mapping[str, Any]) -> bool:
        parts = [as_like_reads(part) for part in self._read_parts()]
        return any(
            _glob_matches(as_like_reads(str(v)), parts)
            for v in (row.get(column) for column in self.columns)
            if v is not None
        )


def _glob_matches(text: str, parts: list[str]) -> bool:
    """Whether `text` is parts[0] + anything + parts[1] + … + parts[-1] (leftmost search
    finds a match whenever there is one, as only `*` is a wildcard)."""
    if len(parts) == 1:
        return text == parts[0]
    first, *middle, last = parts
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    rest, at = text[len(first) : len(text) - len(last)], 0
    for part in middle:
        found = rest.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


@dataclass(frozen=True)
class Comparison:
    """A numeric column compared with a number; NULL (and anything not a number) never
    holds."""

    column: str
    op: str
    number: float

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        """With an index advisor, a comparison that holds in few rows (`runtime>2.5` in a
        million) picks its rows from the column's own index (schema 3) first: SQLite would
        otherwise walk the page's time order testing every row (~1 s at a million). The rows
        chosen are the same."""
        clause, params = f"({self.column} {self.op} ?)", [self.number]
        if index is not None and index.few(clause, params):
            return f"(rowid IN (SELECT rowid FROM tasks WHERE {clause}))", params
        return clause, params

    def holds(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.column)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _COMPARE[self.op](value, self.number)


@dataclass(frozen=True)
class TimeRange:
    """The task's time (TASK_TIME_SQL) in [start, end); either bound may be open."""

    start: float | None
    end: float | None

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        tests, params = [], []
        if self.start is not None:
            tests.append(f"{TASK_TIME_SQL} >= ?")
            params.append(self.start)
        if self.end is not None:
            tests.append(f"{TASK_TIME_SQL} < ?")
            params.append(self.end)
        if not tests:
            tests.append(f"{TASK_TIME_SQL} IS NOT NULL")
        return "(" + " AND ".join(tests) + ")", params

    def holds(self, row: Mapping[str, Any]) -> bool:
        value = task_time(row)
        if value is None:
            return False
        return (self.start is None or value >= self.start) and (
            self.end is None or value < self.end
        )


@dataclass(frozen=True)
class Negation:
    """NOT, with a NULL of the inner condition read as false on both sides."""

    inner: Condition

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        """Never through the text index: it is asked only for text few rows hold, so most rows
        hold its negation and the scan finds a page at once (through the index, SQLite chose
        a worse plan: `state:FAILURE -word` 59 ms against 8.5 ms on a million tasks)."""
        clause, params = self.inner.sql(None, dialect)
        return f"(NOT COALESCE({clause}, FALSE))", params

    def holds(self, row: Mapping[str, Any]) -> bool:
        return not self.inner.holds(row)


@dataclass(frozen=True)
class Junction:
    """All (AND) or any (OR) of `parts`."""

    word: str  # "AND" or "OR"
    parts: tuple[Condition, ...]

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        join = conjoined if self.word == "AND" else alternatives
        clauses, params = join(self.parts, index, dialect)
        return "(" + f" {self.word} ".join(clauses) + ")", params

    def holds(self, row: Mapping[str, Any]) -> bool:
        test = all if self.word == "AND" else any
        return test(part.holds(row) for part in self.parts)


@dataclass(frozen=True)
class Search:
    """A parsed query: `sql()` for pages read from the journal, `holds()` for live rows; an
    empty query (`condition` None) holds for every row and says "" in SQL."""

    text: str
    condition: Condition | None = None

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        """The WHERE fragment; with the journal's text index (journal_text.py), text found in
        few rows is read through it: the same rows, without a scan."""
        if self.condition is None:
            return "", []
        return self.condition.sql(index, dialect)

    def holds(self, row: Mapping[str, Any]) -> bool:
        return self.condition is None or self.condition.holds(row)

    def scanned_words(self) -> list[str]:
        """The "contains" texts too short for the text index (SHORTEST), which only a read of
        every task finds: what a person is told, since such a search is slow on a big history."""
        found: list[str] = []

        def visit(condition: Condition) -> None:
            if isinstance(condition, FilterTerm) and condition.contains:
                if len(condition.value) < SHORTEST:
                    found.append(condition.value)
            elif isinstance(condition, Negation):
                visit(condition.inner)
            elif isinstance(condition, Junction):
                for part in condition.parts:
                    visit(part)

        if self.condition is not None:
            visit(self.condition)
        return found


# -- reading the text ------------------------------------------------------------------------
@dataclass
class _Chunk:
    """One whitespace-separated piece: its characters, which were quoted, and the 1-based
    column of each in the query (an empty "" is one empty character, so the piece is
    known to be quoted)."""

    chars: list[str]
    quoted: list[bool]
    columns: list[int]
    column: int

    def text(self, start: int = 0, end: int | None = None) -> str:
        return "".join(self.chars[start:end])

    def column_of(self, index: int) -> int:
        if index < len(self.columns):
            return self.columns[index]
        return self.columns[-1] + 1 if self.columns else self.column


def _chunks(text: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        chunk = _Chunk([], [], [], i + 1)
        while i < n and not text[i].isspace():
            if text[i] != '"':
                chunk.chars.append(text[i])
                chunk.quoted.append(False)
                chunk.columns.append(i + 1)
                i += 1
                continue
            opened, i = i, i + 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    i += 1  # \" and \\ inside quotes
                chunk.chars.append(text[i])
                chunk.quoted.append(True)
                chunk.columns.append(i + 1)
                i += 1
            if i >= n:
                raise SearchSyntaxError("this quote is never closed", opened + 1)
            if opened + 1 == i:  # "" : an empty phrase still marks the chunk as quoted
                chunk.chars.append("")
                chunk.quoted.append(True)
                chunk.columns.append(opened + 1)
            i += 1
        chunks.append(chunk)
    return chunks


def field_term(field: str, value: str) -> str:
    """`field:value` as this language reads it back: quoted (with `\\` and `\\"`) when the
    value has a space, a quote or a `*` that must stay literal, as a task name or a worker
    name may."""
    if value and not any(c.isspace() or c in '"*\\' for c in value):
        return f"{field}:{value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def parse(text: str, now: float | None = None) -> Search:
    """`text` as a Search (see the module's docstring); `now` (UNIX seconds, default the
    clock) anchors relative times and today/yesterday."""
    moment = time.time() if now is None else now
    alternatives: list[list[Condition]] = [[]]
    last_or: int | None = None
    terms = 0
    for chunk in _chunks(text):
        if chunk.text() == "OR" and not any(chunk.quoted):
            if not alternatives[-1]:
                raise SearchSyntaxError("OR needs a term before it", chunk.column)
            alternatives.append([])
            last_or = chunk.column
            continue
        terms += 1
        if terms > MAX_TERMS:
            raise SearchSyntaxError(f"more than {MAX_TERMS} terms", chunk.column)
        alternatives[-1].append(_term(chunk, moment))
    if last_or is not None and not alternatives[-1]:
        raise SearchSyntaxError("OR needs a term after it", last_or)
    ands: list[Condition] = [
        group[0] if len(group) == 1 else Junction("AND", tuple(group))
        for group in alternatives
        if group
    ]
    if not ands:
        return Search(text)
    return Search(text, ands[0] if len(ands) == 1 else Junction("OR", tuple(ands)))


def _term(chunk: _Chunk, now: float) -> Condition:
    if chunk.chars[0] == "-" and not chunk.quoted[0]:
        if len(chunk.chars) == 1:
            raise SearchSyntaxError("'-' needs a term after it", chunk.column)
        rest = _Chunk(chunk.chars[1:], chunk.quoted[1:], chunk.columns[1:], chunk.column_of(1))
        return Negation(_positive(rest, now))
    return _positive(chunk, now)


def _leading_field(chunk: _Chunk) -> str:
    """The unquoted letters the chunk starts with (a field name, if a ':' or an operator
    follows)."""
    name = []
    for char, quoted in zip(chunk.chars, chunk.quoted, strict=True):
        if quoted or not _FIELD.fullmatch(char):
            break
        name.append(char)
    return "".join(name)


def _positive(chunk: _Chunk, now: float) -> Condition:
    name = _leading_field(chunk)
    after = len(name)
    following = chunk.chars[after] if after < len(chunk.chars) else ""
    follows_bare = after < len(chunk.chars) and not chunk.quoted[after]
    field = name.lower()
    if name and follows_bare and following == ":":
        if field not in KNOWN_FIELDS:
            raise SearchSyntaxError(
                f"unknown field '{name}' (known: {', '.join(KNOWN_FIELDS)})", chunk.column
            )
        return _field(field, chunk, after + 1, now)
    if field in NUMERIC_FIELDS and follows_bare and following in "<>=":
        return _comparison(field, chunk, after)
    return FilterTerm(SEARCHED, chunk.text(), contains=True)


def _field(field: str, chunk: _Chunk, start: int, now: float) -> Condition:
    column = chunk.column_of(start)
    if start >= len(chunk.chars):
        raise SearchSyntaxError(f"{field}: needs a value", column)
    if field in NUMERIC_FIELDS:
        return _comparison(field, chunk, start)
    value = chunk.text(start)
    if field in TIME_FIELDS:
        return _time(field, value, column, now)
    if field == "state":
        value = value.upper()
    stars = [i for i in range(start, len(chunk.chars)) if chunk.chars[i] == "*"]
    globbed = [i for i in stars if not chunk.quoted[i]]
    columns = EXACT_FIELDS.get(field, (field,))
    if globbed:
        parts, at = [], start
        for i in globbed:
            parts.append(chunk.text(at, i))
            at = i + 1
        parts.append(chunk.text(at))
        if field == "state":
            parts = [part.upper() for part in parts]
        return GlobTerm(columns, tuple(parts))
    return FilterTerm(columns, value, contains=field in CONTAINS_FIELDS)


def _comparison(field: str, chunk: _Chunk, start: int) -> Comparison:
    rest = chunk.text(start)
    op = next((o for o in (">=", "<=", ">", "<", "=") if rest.startswith(o)), "=")
    number_text = rest[len(op) :] if rest.startswith(op) else rest
    column = chunk.column_of(start + (len(op) if rest.startswith(op) else 0))
    if not _NUMBER.fullmatch(number_text):
        raise SearchSyntaxError(f"{field}: '{number_text}' is not a number", column)
    number = float(number_text)
    if not math.isfinite(number):
        raise SearchSyntaxError(f"{field}: '{number_text}' is too large", column)
    return Comparison(field, op, number)


def _time(field: str, value: str, column: int, now: float) -> TimeRange:
    start, end = named_time(field, value, column, now)
    if field == "after":
        return TimeRange(start, None)
    if field == "before":
        return TimeRange(None, start)
    return TimeRange(start, end)
