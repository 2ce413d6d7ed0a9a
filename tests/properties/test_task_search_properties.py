"""The query language on generated text: `parse` raises nothing but SearchSyntaxError, and
for every valid query SQLite and `holds` select the same rows: by LIKE alone, through the
journal's text index for every piece of text, through it only for the rare ones, and as a
page's first rows are read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.monitor.journal_schema import SCHEMA
from desktop.core.monitor.journal_text import TextIndex
from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.task_search import parse

NOW = datetime(2026, 11, 29, 12, 0).timestamp()
CASES = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ALPHABET = "aAbéÉ%_*\\\x00"
TEXTS = [None, "", "a", "A", "ab", "a%b", "a_b", "aAb", "é", "É", "*", "\\", "b\x00a", "%_",
         "xAbÉ%_a", 'say "aAb"', "bAb\x00aAb", "ÉéÉa"]  # fmt: skip
COLUMNS = ("id", "name", "state", "queue", "routing_key", "worker", "args", "kwargs", "result",
           "exception", "root_id", "parent_id", "priority", "runtime", "retries", "sent",
           "received", "updated")  # fmt: skip


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(40):
        text = TEXTS[i % len(TEXTS)]
        other = TEXTS[(i * 7 + 3) % len(TEXTS)]
        rows.append(
            {
                "id": f"id{i}{other or ''}",
                "name": text, "state": ("SUCCESS", "FAILURE", "A", None)[i % 4],
                "queue": other, "routing_key": text if i % 3 else None,
                "worker": other, "args": text, "kwargs": other, "result": text,
                "exception": other if i % 2 else None, "root_id": text, "parent_id": other,
                "priority": None if i % 5 == 0 else i % 4,
                "runtime": None if i % 6 == 0 else (i % 7) / 2,
                "retries": None if i % 4 == 1 else i % 3,
                "sent": None if i % 3 == 0 else NOW - i * 3000,
                "received": None if i % 5 == 0 else NOW - i * 2000,
                "updated": float(i),
            }
        )  # fmt: skip
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(SCHEMA)
    placeholders = ", ".join("?" * len(COLUMNS))
    connection.executemany(
        f"INSERT INTO tasks({', '.join(COLUMNS)}) VALUES ({placeholders})",
        [[row[c] for c in COLUMNS] for row in ROWS],
    )
    yield connection
    connection.close()


@CASES
@given(st.text())
def test_parse_raises_only_syntax_errors(text: str) -> None:
    try:
        search = parse(text, now=NOW)
    except SearchSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    search.sql()


values = st.text(alphabet=ALPHABET, min_size=1, max_size=4)


def quoted(value: str) -> str:
    """A value in double quotes, its backslashes and quotes escaped (`\\` and `\\"`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Pieces of the rows' own text, long enough for the text index (3 characters and more), in
# other cases: the index folds É to é where LIKE does not, and finds a glob's part anywhere.
PIECES = sorted(
    {text[i : i + n] for text in TEXTS if text for n in (3, 4) for i in range(len(text) - n + 1)}
)
_FLIP = str.maketrans("aAbBéÉ", "AaBbÉé")
pieces = st.sampled_from(PIECES).flatmap(
    lambda piece: st.sampled_from([piece, piece.translate(_FLIP), piece.upper(), piece.lower()])
)
piece_terms = st.builds(
    lambda form, field, piece: form.format(field=field, piece=quoted(piece)),
    st.sampled_from(["{piece}", "{field}:{piece}", "{field}:*{piece}", "{field}:{piece}*",
                     "{field}:*{piece}*"]),
    st.sampled_from(["name", "id", "args", "kwargs", "result", "exception"]),
    pieces,
)  # fmt: skip


field_terms = st.builds(
    lambda field, value: f"{field}:{quoted(value)}",
    st.sampled_from(["name", "state", "queue", "worker", "id", "root", "parent", "args",
                     "kwargs", "result", "exception"]),
    values,
)  # fmt: skip
glob_terms = st.builds(
    lambda field, value: f"{field}:{value}",
    st.sampled_from(["name", "queue", "args", "state", "id"]),
    st.text(alphabet=ALPHABET, min_size=1, max_size=5),
)
comparisons = st.builds(
    "{}{}{}".format,
    st.sampled_from(["runtime", "retries", "priority"]),
    st.sampled_from([">", ">=", "<", "<=", "="]),
    st.sampled_from(["0", "1", "1.5", "2", "3", "-1"]),
)
times = st.builds(
    "{}:{}".format,
    st.sampled_from(["after", "before", "sent"]),
    st.sampled_from(["-1h", "-30m", "-2d", "-45s", "2026-11-29", "2026-11-28T10:00", "today",
                     "yesterday"]),
)  # fmt: skip
words = st.one_of(values, values.map(lambda v: quoted(f"{v} {v}")))
terms = st.one_of(field_terms, glob_terms, comparisons, times, words, piece_terms, piece_terms)
negated = st.builds(lambda neg, term: ("-" if neg else "") + term, st.booleans(), terms)
queries = st.lists(st.lists(negated, min_size=1, max_size=3), max_size=3).map(
    lambda groups: " OR ".join(" ".join(group) for group in groups)
)


@CASES
@given(
    queries,
    st.sampled_from(["like", "index", "index for rare text", "a page by sent", "a page by name"]),
)
def test_sql_and_holds_agree_on_every_valid_query(
    db: sqlite3.Connection, text: str, reading: str
) -> None:
    """A page's advisor also sets common equalities' indexes aside (`+name = ?`) and leaves an
    OR with a common part to the walk of the page's order: the same rows."""
    search = parse(text, now=NOW)  # every generated query is valid
    index = {
        "like": None,
        "index": TextIndex(db, most_rows=None),
        "a page by sent": TextIndex(db, 3).for_page("sent"),
        "a page by name": TextIndex(db, 3).for_page("name"),
    }.get(reading, TextIndex(db, 3))
    where, params = search.sql(index)
    sql = "SELECT id FROM tasks" + (f" WHERE {where}" if where else "")
    by_sql = {r[0] for r in db.execute(sql, params)}
    assert {row["id"] for row in ROWS if search.holds(row)} == by_sql
