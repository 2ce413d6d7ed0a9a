"""What a person asks of the task history: filters and an order, said once for both sides.

`TaskQuery` builds the SQL that reads pages from the journal and tests the rows that change
live (the rows arriving in each batch's diff) with the same rule, so the Tasks table never
holds a row the same query would not read back, and never misses one it would. Free text is
matched with `LIKE … ESCAPE '\\'`, with `%`, `_` and `\\` escaped: literal in SQL and in the
live test alike. Qt-free: the CLI and the screens share it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from desktop.core.monitor.task_search import Search

SEARCHED = ("id", "name", "args", "kwargs", "result", "exception")
LIKE_ESCAPE = "\\"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern (with ESCAPE '\\') that finds it anywhere, literally. SQLite
    reads a pattern only up to a NUL (as `as_like_reads` says), which would drop the closing
    `%` and anchor the match at the end: the text is cut there first, as the live test cuts
    it."""
    escaped = (
        text.split("\x00", 1)[0]
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def as_like_reads(text: str) -> str:
    """Text as SQLite's LIKE compares it: ASCII letters in one case, and nothing after a NUL
    (it reads both sides as C strings)."""
    return text.split("\x00", 1)[0].translate(_ASCII_LOWER)


class Condition(Protocol):
    """One condition said twice, alike: `sql()` a WHERE fragment with `?` parameters, and
    `holds(row)` whether that fragment selects the row."""

    def sql(self) -> tuple[str, list[Any]]: ...

    def holds(self, row: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True)
class FilterTerm:
    """One condition of a `TaskQuery`: true when any of `columns` equals `value` or, for free
    text, contains it as SQLite's LIKE does (literally, ignoring case of ASCII letters only)."""

    columns: tuple[str, ...]
    value: str
    contains: bool = False

    def sql(self) -> tuple[str, list[Any]]:
        if self.contains:
            test, param = f"LIKE ? ESCAPE '{LIKE_ESCAPE}'", like_pattern(self.value)
        else:
            test, param = "= ?", self.value
        clause = " OR ".join(f"{column} {test}" for column in self.columns)
        return f"({clause})", [param] * len(self.columns)

    def holds(self, row: Mapping[str, Any]) -> bool:
        values = (row.get(column) for column in self.columns)
        if not self.contains:
            return any(value == self.value for value in values)
        needle = as_like_reads(self.value)
        return any(needle in as_like_reads(str(v)) for v in values if v is not None)


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

    def clauses(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for term in self.terms():
            clause, values = term.sql()
            clauses.append(clause)
            params += values
        return clauses, params

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = self.clauses()
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether `where()` selects this journal row."""
        return all(term.holds(row) for term in self.terms())

    def key(self, row: Mapping[str, Any]) -> tuple[Any, str]:
        """Where a row stands in this query's order: its sort value and its id (the keyset a
        next page is read after)."""
        return row.get(self.order_by), str(row["id"])
