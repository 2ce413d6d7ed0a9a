"""What a person asks of the task history: filters and an order, said once for both sides.

`TaskQuery` builds the SQL that reads pages from the journal and tests the rows that change
live (the rows arriving in each batch's diff) with the same rule, so the Tasks table never
holds a row the same query would not read back, and never misses one it would. Free text is
matched with `LIKE … ESCAPE '\\'`, with `%`, `_` and `\\` escaped: literal in SQL and in the
live test alike; given the journal's text index, a piece of text found in few rows is narrowed
through it first (journal_text.py), and an equality many rows hold is left to the walk of the
page's order, never changing which rows are chosen. Qt-free: the CLI and the screens share it.

The same conditions say themselves to PostgreSQL (the shared history, history/pg_reader.py)
given `dialect=POSTGRESQL`: `ILIKE … ESCAPE '\\'` where SQLite has LIKE (PostgreSQL's LIKE
tells case apart), the same escaped patterns and `?` parameters (the reader binds them as
psycopg's `%s`). ILIKE ignores the case of every letter, SQLite's LIKE of ASCII letters only:
on PostgreSQL `é` also finds `É`, as the text index already does before SQLite's LIKE decides.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from desktop.core.monitor.task_search import Search

SEARCHED = ("id", "name", "args", "kwargs", "result", "exception")


@dataclass(frozen=True)
class Dialect:
    """The SQL a condition says, by engine: its "contains" test (`like`)."""

    name: str
    like: str


SQLITE = Dialect("sqlite", "LIKE")  # ASCII case ignored
POSTGRESQL = Dialect("postgresql", "ILIKE")  # LIKE there tells case apart

LIKE_ESCAPE = "\\"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern (with ESCAPE '\\') that finds it anywhere, literally. SQLite
    reads a pattern only up to a NUL (as `as_like_reads` says), which would drop the closing
    `%` and anchor the match at the end: the text is cut there first, as the live test cuts
    it."""
    escaped = (
        like_reads(text)
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def like_reads(text: str) -> str:
    """The part of `text` SQLite's LIKE reads: up to a NUL (it reads both sides as C
    strings)."""
    return text.split("\x00", 1)[0]


def as_like_reads(text: str) -> str:
    """Text as SQLite's LIKE compares it: ASCII letters in one case, and nothing after a NUL."""
    return like_reads(text).translate(_ASCII_LOWER)


def narrowed(
    index: TextIndex, columns: Sequence[str], pieces: Sequence[str], clause: str, params: list[Any]
) -> tuple[str, list[Any]]:
    """A LIKE `clause` over `columns`, read through the text index first when it narrows the
    rows holding `pieces` (the text the LIKE needs to find): the index chooses a superset,
    the LIKE decides, so the rows are those of the LIKE alone."""
    narrowing = index.narrowing(columns, pieces)
    if narrowing is None:
        return f"({clause})", params
    return f"({narrowing[0]} AND ({clause}))", [*narrowing[1], *params]


class TextIndex(Protocol):
    """The journal's text index as a condition asks it (journal_text.TextIndex)."""

    def narrowing(
        self, columns: Sequence[str], pieces: Sequence[str]
    ) -> tuple[str, list[Any]] | None:
        """A WHERE fragment choosing a superset of the rows where one of `columns` holds every
        one of `pieces`, or None when the index would not be faster than LIKE alone."""
        ...

    def few(self, clause: str, params: list[Any]) -> bool:
        """Whether `clause` (on one indexed column) holds in few rows: then they are best read
        from that column's index first, not found by walking the page's order."""
        ...

    def sets_aside(self, column: str, clause: str, params: list[Any]) -> bool:
        """Whether the equality `clause` on `column` is best left to a walk of the page's order
        (`+column`: SQLite sets the column's index aside): it holds in many rows, so the walk
        meets a page of them within its first rows, where the index would give every one of
        them to be sorted. Never for a count, which the column's index serves best."""
        ...

    def beside(self, columns: Iterable[str]) -> TextIndex:
        """This advisor for the conditions ANDed with equalities on `columns`."""
        ...

    def asking(self) -> TextIndex:
        """This advisor, hearing afresh what its counts find."""
        ...

    def only_many(self) -> bool:
        """Whether, for a page, every count since `asking()` found many rows."""
        ...

    def walking(self) -> TextIndex:
        """This advisor sending every condition to the walk of the page's order."""
        ...


class Condition(Protocol):
    """One condition said twice, alike: `sql()` a WHERE fragment with `?` parameters, and
    `holds(row)` whether that fragment selects the row. Given a text index, `sql` may narrow
    its text through it: the rows chosen are the same. `dialect`: SQLite's SQL or
    PostgreSQL's (`index` is None there: its trigram index serves the ILIKE itself)."""

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]: ...

    def holds(self, row: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True)
class FilterTerm:
    """One condition of a `TaskQuery`: true when any of `columns` equals `value` or, for free
    text, contains it as SQLite's LIKE does (literally, ignoring case of ASCII letters only)."""

    columns: tuple[str, ...]
    value: str
    contains: bool = False

    def sql(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        if self.contains:
            test, param = f"{dialect.like} ? ESCAPE '{LIKE_ESCAPE}'", like_pattern(self.value)
        else:
            test, param = "= ?", self.value
        clause = " OR ".join(f"{column} {test}" for column in self.columns)
        params = [param] * len(self.columns)
        if index is None:
            return f"({clause})", params
        if self.contains:
            return narrowed(index, self.columns, [like_reads(self.value)], clause, params)
        if len(self.columns) == 1 and index.sets_aside(self.columns[0], clause, params):
            return f"(+{clause})", params  # the same rows: `+` only hides the column's index
        return f"({clause})", params

    def holds(self, row: Mapping[str, Any]) -> bool:
        values = (row.get(column) for column in self.columns)
        if not self.contains:
            return any(value == self.value for value in values)
        needle = as_like_reads(self.value)
        return any(needle in as_like_reads(str(v)) for v in values if v is not None)


def conjoined(
    parts: Sequence[Condition], index: TextIndex | None, dialect: Dialect = SQLITE
) -> tuple[list[str], list[Any]]:
    """The SQL of conditions to be ANDed, each with its parameters in order. The index
    advisor hears first which columns the parts hold equal: an index that reads them together
    in the page's order is kept (`name:` beside `state:` reads (name, state, sent))."""
    if index is not None:
        index = index.beside(
            part.columns[0]
            for part in parts
            if isinstance(part, FilterTerm) and not part.contains and len(part.columns) == 1
        )
    return _flat([part.sql(index, dialect) for part in parts])


def alternatives(
    parts: Sequence[Condition], index: TextIndex | None, dialect: Dialect = SQLITE
) -> tuple[list[str], list[Any]]:
    """The SQL of conditions to be ORed, each with its parameters in order. An OR holds
    wherever one of its parts holds: once a part is found in many rows (every count it asked
    of the index found many), the walk of the page's order meets a page within its first
    rows, so the parts left are not counted, and none is read through an index (`order-17 OR
    order-4242` at a million tasks: 69-74 -> 55-61 ms; the parts counted before the common
    one are still paid for: docs/PERFORMANCE.md)."""
    found: list[tuple[str, list[Any]]] = []
    for part in parts:
        asked = index.asking() if index is not None else None
        found.append(part.sql(asked, dialect))
        if asked is not None and asked.only_many():
            walking = asked.walking()
            found = [each.sql(walking, dialect) for each in parts]
            break
    return _flat(found)


def _flat(found: list[tuple[str, list[Any]]]) -> tuple[list[str], list[Any]]:
    """Fragments and their parameters as the clauses and one list of parameters in order."""
    return [clause for clause, _ in found], [value for _, values in found for value in values]


@dataclass(frozen=True)
class TaskQuery:
    """Filters a person sets on the tasks screen or the CLI, and the order of the rows.

    `terms()` is the one definition of the filter: `where()` says it in SQL for pages read
    from the journal, `matches()` in Python for rows that change live.
    """

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    text: str | None = None
    order_by: str = "sent"
    descending: bool = True
    search: Search | None = None  # the query language (task_search.parse), ANDed with the rest

    def terms(self) -> list[Condition]:
        terms: list[Condition] = [
            FilterTerm((column,), value)
            for column in ("state", "name", "worker")
            if (value := getattr(self, column))
        ]
        if self.queue:
            terms.append(FilterTerm(("queue", "routing_key"), self.queue))
        if self.text:
            terms.append(FilterTerm(SEARCHED, self.text, contains=True))
        if self.search is not None and self.search.condition is not None:
            terms.append(self.search.condition)
        return terms

    def clauses(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[list[str], list[Any]]:
        return conjoined(self.terms(), index, dialect)

    def where(
        self, index: TextIndex | None = None, dialect: Dialect = SQLITE
    ) -> tuple[str, list[Any]]:
        """The WHERE clause; with the journal's text index, text found in few rows is read
        through it (the same rows, sooner). `dialect`: for SQLite or PostgreSQL."""
        clauses, params = self.clauses(index, dialect)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether `where()` selects this journal row."""
        return all(term.holds(row) for term in self.terms())

    def key(self, row: Mapping[str, Any]) -> tuple[Any, str]:
        """Where a row stands in this query's order: its sort value and its id (the keyset a
        next page is read after)."""
        return row.get(self.order_by), str(row["id"])
