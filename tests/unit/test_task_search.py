"""The task history's query language (issue 15, item 1): every construct, each syntax error
with its column, and SQL and the live test selecting the same rows of a real journal."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from desktop.cli import cli
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.task_query import TaskQuery, like_pattern
from desktop.core.monitor.task_search import Search, parse
from tests.factories import default_profile_journal, task_row

NOW = datetime(2026, 11, 29, 12, 0).timestamp()  # local noon
HOUR = 3600.0


def row(task_id: str = "t", **values: Any) -> dict[str, Any]:
    """A journal row: a TaskRow's columns and those the panel records on sending."""
    return {**dataclasses.asdict(task_row(task_id)), "queue": None, "priority": None, **values}


def holds(query: str, **values: Any) -> bool:
    return parse(query, now=NOW).holds(row(**values))


def test_an_empty_query_holds_for_every_row_and_says_nothing_in_sql() -> None:
    for text in ("", "   ", "\t\n"):
        search = parse(text)
        assert search.sql() == ("", [])
        assert search.holds(row())
    assert TaskQuery(search=parse("")).where() == ("", [])


def test_free_words_and_phrases_are_contains_literal_and_ascii_case_blind() -> None:
    assert holds("bad", exception="ValueError('BAD input')")
    assert holds("bad input", args="('input', 'bad')")  # two words: AND, any order
    assert not holds('"bad input"', args="('input', 'bad')")
    assert holds('"bad input"', result="a bad input here")
    assert holds("déjà", args="('déjà',)")
    assert not holds("déjà", args="('DÉJÀ',)")  # É is not ASCII: LIKE tells it apart
    assert holds("50%", args="('50%',)") and not holds("50%", args="('500',)")
    assert holds("a_b", kwargs="{'a_b': 1}") and not holds("a_b", kwargs="{'axb': 1}")
    assert holds("proj.ADD", name="proj.add")
    assert holds(r'"say \"hi\""', args='("say "hi"",)')


def test_exact_fields_are_exact_and_state_is_upper_cased() -> None:
    assert holds("name:proj.add", name="proj.add")
    assert not holds("name:proj.add", name="proj.add2")
    assert not holds("name:PROJ.ADD", name="proj.add")
    assert holds("state:failure", state="FAILURE")
    assert holds("queue:q1", routing_key="q1") and holds("queue:q1", queue="q1")
    assert holds("worker:w@h", worker="w@h")
    assert parse("id:abc").holds(row("abc")) and not parse("id:ab").holds(row("abc"))
    assert holds("root:r1", root_id="r1") and holds("parent:p1", parent_id="p1")
    assert holds('name:"x y"', name="x y") and not holds("name:x", name="x y")
    assert holds("Name:x", name="x")  # field names ignore case


def test_contains_fields_search_one_column() -> None:
    assert holds("args:42", args="(42, 1)")
    assert not holds("args:42", kwargs="{'a': 42}")
    assert holds("kwargs:a", kwargs="{'a': 42}")
    assert holds("result:ok", result="'OK'")
    assert holds("exception:Value", exception="ValueError()")
    assert not holds("exception:Value")  # NULL never matches


def test_globs_are_anchored_with_percent_and_underscore_literal() -> None:
    assert holds("name:proj.*", name="proj.add")
    assert not holds("name:proj.*", name="x.proj.add")
    assert holds("name:*add", name="proj.add") and not holds("name:*add", name="proj.add2")
    assert holds("name:*.a*d*", name="proj.add")
    assert holds("name:P*D", name="proj.add")  # a glob is LIKE: ASCII case ignored
    assert holds("args:*50%*", args="('50%',)") and not holds("args:*50%*", args="('500',)")
    assert holds("name:a_*", name="a_b") and not holds("name:a_*", name="axb")
    assert holds('name:"a*"', name="a*") and not holds('name:"a*"', name="ab")  # quoted: literal
    assert holds("state:fail*", state="FAILURE")
    assert holds("name:*", name="") and not holds("name:*")  # NULL never matches
    sql, params = parse("name:50%_*").sql()
    assert params == ["50\\%\\_%"] and "ESCAPE" in sql


def test_comparisons_on_numbers_never_match_null() -> None:
    assert holds("runtime>2.5", runtime=3.0) and not holds("runtime>2.5", runtime=2.5)
    assert holds("runtime>=2.5", runtime=2.5)
    assert holds("retries>=1", retries=1) and not holds("retries>=1", retries=0)
    assert holds("priority<3", priority=2) and not holds("priority<3", priority=3)
    assert holds("priority<=3", priority=3)
    assert holds("retries=2", retries=2) and holds("retries:2", retries=2)
    assert holds("runtime:>1e-3", runtime=0.5)
    for query in ("runtime>0", "runtime<0", "runtime=0", "retries>=0"):
        assert not holds(query)
    assert holds("-runtime>2")  # NOT of "no runtime": the NULL is not greater than 2
    assert holds("runtime", args="('runtime',)")  # no operator: a free word


def test_time_ranges_use_sent_falling_back_to_received() -> None:
    today = datetime(2026, 11, 29).timestamp()
    assert holds("after:-1h", sent=NOW - 10)
    assert not holds("after:-1h", sent=NOW - 2 * HOUR)
    assert holds("after:-1h", received=NOW - 10)  # no sent: received
    assert not holds("after:-1h", sent=NOW - 2 * HOUR, received=NOW)  # sent wins
    assert not holds("after:-1h")  # no time at all: never
    assert holds("before:-30m", sent=NOW - HOUR) and not holds("before:-30m", sent=NOW)
    assert holds("after:-2d", sent=NOW - 86400) and holds("after:-45s", sent=NOW - 40)
    assert holds("after:2026-11-29", sent=today) and not holds("after:2026-11-29", sent=today - 1)
    assert holds("before:2026-11-29", sent=today - 1) and not holds("before:2026-11-29", sent=today)
    assert holds("after:2026-11-29T10:00", sent=today + 10 * HOUR)
    assert holds("sent:today", sent=today) and holds("sent:today", sent=today + 86399)
    assert not holds("sent:today", sent=today + 86400) and not holds("sent:today", sent=today - 1)
    assert holds("sent:yesterday", sent=today - 1) and not holds("sent:yesterday", sent=today)
    assert holds("sent:2026-11-28", received=today - 5)
    assert holds("sent:2026-11-29T10:00", sent=today + 10 * HOUR + 59)
    assert not holds("sent:2026-11-29T10:00", sent=today + 10 * HOUR + 60)
    assert holds("sent:-1h", sent=NOW - 5) and not holds("sent:-1h", sent=NOW - 2 * HOUR)


def test_negation_or_and_precedence() -> None:
    assert holds("-state:SUCCESS", state="FAILURE") and not holds("-state:SUCCESS")
    assert holds("-name:x")  # a NULL name is not "x"
    # a b OR c  ==  (a AND b) OR c
    assert holds("name:a state:FAILURE OR worker:w", worker="w")
    assert holds("name:a state:FAILURE OR worker:w", name="a", state="FAILURE")
    assert not holds("name:a state:FAILURE OR worker:w", name="a")
    assert holds("name:a OR name:b OR name:c", name="c")
    assert holds("-name:a OR name:a", name="a")
    assert holds("or", args="('or',)")  # lower case: a word


@pytest.mark.parametrize(
    ("query", "column", "says"),
    [
        ('name:"x y', 6, "never closed"),
        ('ok "bad', 4, "never closed"),
        ("OR name:x", 1, "before"),
        ("name:x OR", 8, "after"),
        ("name:x OR OR name:y", 11, "before"),
        ("foo:bar", 1, "unknown field 'foo'"),
        ("a -b:c", 4, "known: name, state"),
        ("runtime>abc", 9, "not a number"),
        ("retries>=", 10, "not a number"),
        ("priority<1e999", 10, "too large"),
        ("after:tomorrow", 7, "not a time"),
        ("before:2026-13-01", 8, "not a time"),
        ("sent:-1y", 6, "not a time"),
        ("name:", 6, "needs a value"),
        ("x - y", 3, "needs a term"),
    ],
)
def test_syntax_errors_name_their_column(query: str, column: int, says: str) -> None:
    with pytest.raises(SearchSyntaxError) as raised:
        parse(query, now=NOW)
    assert raised.value.column == column, raised.value
    assert says in raised.value.message
    assert f"column {column}" in str(raised.value)


def test_too_many_terms_is_a_syntax_error_not_an_sqlite_one() -> None:
    with pytest.raises(SearchSyntaxError, match="more than"):
        parse(" ".join(["x"] * 101))


def test_a_task_query_with_a_search_is_hashable_and_ands_it_with_the_rest() -> None:
    query = TaskQuery(state="FAILURE", search=parse("name:a* OR worker:w"))
    assert hash(query) == hash(TaskQuery(state="FAILURE", search=parse("name:a* OR worker:w")))
    where, params = query.where()
    assert where.startswith(" WHERE (state = ?) AND ((name LIKE")
    assert params == ["FAILURE", "a%", "w"]
    assert query.matches(row(state="FAILURE", worker="w"))
    assert not query.matches(row(state="SUCCESS", worker="w"))


# -- SQL and the live test agree on a real journal ----------------------------------------------
TEXTS = ["('50%',)", "('500',)", "('a_b',)", "('axb',)", "('Déjà',)", "('DÉJÀ',)", "x\\y", None]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.sqlite3")
    j.write(
        [
            task_row(
                f"t{i:03d}",
                name=(f"proj.{'add' if i % 3 else 'fail'}", "a_b", "50%", None)[i % 4],
                state=("FAILURE", "SUCCESS", "STARTED")[i % 3],
                args=TEXTS[i % len(TEXTS)],
                kwargs=None if i % 5 == 0 else f"{{'n': {i}}}",
                result=TEXTS[(i + 3) % len(TEXTS)],
                exception="ValueError('bad input')" if i % 3 == 0 else None,
                routing_key=f"q{i % 4}" if i % 6 else None,
                worker=f"w{i % 2}@h" if i % 5 else None,
                runtime=None if i % 4 == 0 else i / 10,
                retries=None if i % 9 == 0 else i % 3,
                sent=None if i % 4 == 1 else NOW - i * 1800,
                received=None if i % 8 == 1 else NOW - i * 1800 + 5,
                root_id=f"t{i - i % 5:03d}",
                parent_id=f"t{i - 1:03d}" if i % 5 else None,
                updated=float(i),
            )
            for i in range(50)
        ],
        [],
    )
    # Queue and priority come from what the panel sent, not from events: set them beside.
    with sqlite3.connect(tmp_path / "j.sqlite3") as db:
        db.executemany(
            "UPDATE tasks SET queue = ?, priority = ? WHERE id = ?",
            [
                (f"q{i % 3}" if i % 2 else None, None if i % 7 == 0 else i % 10, f"t{i:03d}")
                for i in range(50)
            ],
        )
    db.close()
    yield j
    j.close()


AGREEMENT = [
    "", "bad", '"bad input"', "50%", "_", "déjà", "DÉJÀ", "\\", "name:proj.add", "name:proj.*",
    "name:*%*", "name:a_*", "name:*_*", "state:failure", "state:S*", "-state:SUCCESS",
    "queue:q1", "worker:w1@h", "-worker:w1@h", "root:t005", "parent:t003", "args:%",
    "args:*é*", "kwargs:1", "result:*,)", "exception:Value", "runtime>2.5", "-runtime>2.5",
    "retries>=1", "priority<3", "priority=4", "after:-3h", "before:-10h", "sent:today",
    "sent:yesterday", "-after:-5h", "name:a_b OR state:STARTED runtime<1",
    "-name:proj.* OR -queue:q0", "id:t007 OR id:t010 OR id:t011", "a_b 50 OR fail",
]  # fmt: skip


@pytest.mark.parametrize("text", AGREEMENT)
def test_sql_and_holds_select_the_same_rows(journal: Journal, text: str) -> None:
    search = parse(text, now=NOW)
    stored = journal.page(TaskQuery(), 0, 1000)
    query = TaskQuery(search=search)
    by_sql = {r["id"] for r in journal.page(query, 0, 1000)}
    assert {r["id"] for r in stored if search.holds(r)} == by_sql
    assert {r["id"] for r in stored if query.matches(r)} == by_sql
    assert journal.count(query) == len(by_sql)


def test_the_agreement_queries_each_select_some_rows_but_not_all(journal: Journal) -> None:
    """The agreement above is not the vacuous one of empty selections."""
    stored = journal.page(TaskQuery(), 0, 1000)
    for text in AGREEMENT[1:]:
        if text in ("DÉJÀ", "\\"):
            continue
        chosen = [r for r in stored if parse(text, now=NOW).holds(r)]
        assert 0 < len(chosen) < len(stored), text


# -- the command line ---------------------------------------------------------------------------
def test_tasks_query_selects_with_the_query_language_and_the_options() -> None:
    journal = default_profile_journal()
    journal.write(
        [
            task_row("one", name="proj.add", state="FAILURE", runtime=3.0, sent=NOW),
            task_row("two", name="proj.add", state="SUCCESS", runtime=5.0, sent=NOW),
            task_row("three", name="other", state="FAILURE", runtime=9.0, sent=NOW),
        ],
        [],
    )
    journal.close()
    result = CliRunner().invoke(cli, ["tasks", "--query", "name:proj.* runtime>2"])
    assert result.exit_code == 0, result.output
    assert {line.split()[0] for line in result.output.splitlines()} == {"one", "two"}
    result = CliRunner().invoke(cli, ["tasks", "--state", "failure", "--query", "runtime>2"])
    assert {line.split()[0] for line in result.output.splitlines()} == {"one", "three"}


def test_tasks_query_with_a_syntax_error_exits_2_naming_the_column() -> None:
    result = CliRunner().invoke(cli, ["tasks", "--query", "foo:bar"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --query: column 1: unknown field 'foo'")
    assert "Traceback" not in result.output


def test_search_is_immutable() -> None:
    search = parse("a")
    assert isinstance(search, Search)
    with pytest.raises(AttributeError):
        search.text = "b"  # type: ignore[misc]


def test_a_nul_cuts_a_contains_pattern_as_sqlite_reads_it() -> None:
    """SQLite reads a LIKE pattern up to a NUL: `%a<NUL>%` would be `%a`, anchored at the end,
    while the live test looked for "a" anywhere (found by the property test)."""
    assert like_pattern("a\x00b") == "%a%"
    assert parse("args:a\x00").holds(row(args="xay"))


def test_words_too_short_for_the_text_index_are_named() -> None:
    assert parse("zz").scanned_words() == ["zz"]
    assert parse("state:FAILURE OR -ab args:x").scanned_words() == ["ab", "x"]
    assert parse('abc "a b" name:x state:FAILURE').scanned_words() == []
