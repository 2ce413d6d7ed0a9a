"""The shared history read back (history/pg_reader.py) against the tests' own PostgreSQL
server: the same TaskQuery and search language pick the same rows, in the same order, page
after page, as from the SQLite journal holding the same tasks; `celery-desk tasks --history`
prints them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from desktop.cli import cli
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.task_query import POSTGRESQL, SEARCHED, TaskQuery
from desktop.core.monitor.task_search import parse
from tests.factories import task_row

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_reader import PgReader  # noqa: E402
from desktop.core.history.pg_schema import SCHEMA_VERSION  # noqa: E402
from desktop.core.monitor.journal_schema import JournalUnwritable  # noqa: E402

NOW = time.time()
STATES = ("SUCCESS", "FAILURE", "STARTED", "RETRY", "REVOKED")


def _at(n: int) -> float:
    """Task n's time: an hour apart, the last at half an hour ago."""
    return NOW - (120 - n) * 3600 + 1800


def _rows() -> list[Any]:
    rows = []
    for n in range(120):
        rows.append(
            task_row(
                f"t{n:04d}",
                state=STATES[n % 5],
                name=("proj.alpha", "proj.beta", "other.gamma")[n % 3],
                worker=f"w{n % 4}@host",
                routing_key=("default", "low")[n % 2],
                args=f"({n}, '50%_off')" if n % 7 == 0 else f"({n}, 'plain')",
                kwargs="{}",
                exception=f"ValueError('Bad Input {n}')" if n % 5 == 1 else None,
                result=repr(n * 2) if n % 5 == 0 else None,
                sent=None if n % 6 == 0 else _at(n),
                received=_at(n),
                runtime=None if n % 4 == 0 else (n % 10) / 10,
                retries=n % 3,
                updated=NOW,
            )
        )
    rows.append(task_row("tpct", name="proj.alpha", args="('5000 off')", sent=NOW, updated=NOW))
    return rows


@pytest.fixture
def url(postgres_server: Any, pg_database: str) -> str:
    return str(postgres_server.url(pg_database))


@pytest.fixture
def both(url: str, tmp_path: Path) -> Iterator[tuple[Journal, PgReader]]:
    sqlite = Journal(tmp_path / "j.sqlite3")
    writer = PgJournal(url)
    for engine in (sqlite, writer):
        engine.write(_rows(), [])
    writer.close()
    reader = PgReader(url)
    yield sqlite, reader
    reader.close()
    sqlite.close()


QUERIES = [
    TaskQuery(),
    TaskQuery(state="FAILURE"),
    TaskQuery(name="proj.alpha", worker="w1@host"),
    TaskQuery(queue="low", state="SUCCESS"),
    TaskQuery(text="50%_off"),  # % and _ literal: not tpct's "5000 off"
    TaskQuery(text="bad input"),  # case of ASCII letters ignored
    TaskQuery(search=parse("name:proj.* -state:SUCCESS runtime>0.4")),
    TaskQuery(search=parse('"bad input" OR retries>=2')),
    TaskQuery(search=parse("worker:w2@host after:-2d")),
    TaskQuery(search=parse("before:-3d OR sent:today")),
    TaskQuery(search=parse("-runtime>0.5 queue:default")),
    TaskQuery(search=parse("args:50%_* OR id:tpct")),
    TaskQuery(order_by="runtime", descending=True, search=parse("-state:REVOKED")),
    TaskQuery(order_by="runtime", descending=False),
    TaskQuery(order_by="name", descending=False, state="RETRY"),
    TaskQuery(order_by="id", descending=True, text="plain"),
]


def _walk(reader: Any, query: TaskQuery, size: int = 7) -> list[str]:
    """Every row of `query`, page after page by keyset."""
    seen: list[str] = []
    page = reader.page(query, 0, size)
    while page:
        seen += [r["id"] for r in page]
        page = reader.page(query, limit=size, after=query.key(page[-1]))
    return seen


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_a_query_reads_the_same_rows_in_the_same_order_as_sqlite(
    both: tuple[Journal, PgReader], query: TaskQuery
) -> None:
    sqlite, pg = both
    expected = _walk(sqlite, query)
    assert expected == [r["id"] for r in sqlite.page(query, 0, 1000)]
    assert _walk(pg, query) == expected
    assert pg.count(query) == sqlite.count(query) == len(expected)
    assert [r["id"] for r in pg.page(query, 5, 10)] == expected[5:15]
    every = sqlite.page(TaskQuery(), 0, 1000)
    assert {r["id"] for r in every if query.matches(r)} == set(expected)


def test_a_search_for_percent_and_underscore_finds_them_literally(
    both: tuple[Journal, PgReader],
) -> None:
    _sqlite, pg = both
    found = {r["id"] for r in pg.page(TaskQuery(text="50%_off"), 0, 1000)}
    assert found and "tpct" not in found
    assert {r["id"] for r in pg.page(TaskQuery(text="0%_o"), 0, 1000)} == found


def test_tasks_with_history_prints_the_shared_history(
    both: tuple[Journal, PgReader], url: str, tmp_path: Path
) -> None:
    sqlite, _pg = both
    result = CliRunner().invoke(
        cli,
        ["--config-dir", str(tmp_path / "cfg"), "tasks", "--history", url, "--state", "FAILURE",
         "--query", "name:proj.*", "--limit", "5", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    query = TaskQuery(state="FAILURE", search=parse("name:proj.*"))
    assert [t["id"] for t in printed] == [r["id"] for r in sqlite.page(query, 0, 5)]
    assert printed and all(t["state"] == "FAILURE" for t in printed)
    one = CliRunner().invoke(
        cli, ["--config-dir", str(tmp_path / "cfg"), "tasks", "--history", url, "t0001", "--json"]
    )
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["exception"] == "ValueError('Bad Input 1')"


def test_tasks_since_reads_only_the_recent(
    both: tuple[Journal, PgReader], url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["--config-dir", str(tmp_path / "cfg"), "tasks", "--history", url, "--since", "1d",
         "--json", "--limit", "1000"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = {f"t{n:04d}" for n in range(96, 120)} | {"tpct"}  # within the last 24 h
    assert {t["id"] for t in json.loads(result.stdout)} == expected


def test_tasks_with_an_unreachable_history_says_so_without_its_password(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(
        cli,
        ["--config-dir", str(tmp_path / "cfg"), "tasks", "--history",
         f"postgresql://desk:pw-s3cret@127.0.0.1:{port}/x"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot use the history postgresql://desk:****@127.0.0.1" in result.stderr
    assert "pw-s3cret" not in result.output


@pytest.mark.parametrize("written", ["se%zzcret", "p%41ss%zz-s3cret"])
def test_a_malformed_password_is_never_said(written: str, unused_port: int) -> None:
    """psycopg's ProgrammingError for a malformed percent-encoding quotes the token as
    written (not the decoded password): it is said masked, as any other failure."""
    from desktop.core.history.pg_connect import HistoryUnavailable, connect

    url = f"postgresql://desk:{written}@127.0.0.1:{unused_port}/x"
    with pytest.raises(HistoryUnavailable) as opened:
        PgReader(url)
    with pytest.raises(HistoryUnavailable) as connected:
        connect(url, write=False, purpose="test")
    with pytest.raises(JournalUnwritable) as recording:  # `record --history URL`
        PgJournal(url)
    for said in (str(opened.value), str(connected.value), str(recording.value)):
        assert "percent-encoded" in said and "****" in said
        assert "cret" not in said and "%zz" not in said, said


# Free text and globs on the searched columns: what the text index (pg_trgm) serves.
TEXT_QUERIES = [
    TaskQuery(text="50%_off"),
    TaskQuery(text="bad input"),
    TaskQuery(text="Input 1"),  # Input 1, 11, 111…
    TaskQuery(text="plain", state="FAILURE"),
    TaskQuery(text="alpha", order_by="runtime", descending=False),
    TaskQuery(text="t00"),  # a piece of an id
    TaskQuery(text="5"),  # shorter than a trigram: the index reads all of itself
    TaskQuery(search=parse('"bad input" OR args:plain')),
    TaskQuery(search=parse("name:proj.* exception:*input 4*")),
    TaskQuery(search=parse("-args:plain kwargs:{}")),
]


@pytest.mark.parametrize("query", TEXT_QUERIES, ids=range(len(TEXT_QUERIES)))
def test_a_search_through_the_text_index_reads_the_same_rows_as_sqlite(
    both: tuple[Journal, PgReader], url: str, query: TaskQuery
) -> None:
    """The planner made to use an index wherever it can (a table of 121 rows is otherwise
    scanned; its count has no other index to read): the trigram index decides nothing, ILIKE
    does, so the rows are SQLite's."""
    sqlite, _pg = both
    no_scan = url + "?options=-c%20enable_seqscan%3Doff"
    indexed = PgReader(no_scan)
    try:
        expected = _walk(sqlite, query)
        assert _walk(indexed, query) == expected
        assert indexed.count(query) == len(expected)
    finally:
        indexed.close()
    where, params = query.where(None, POSTGRESQL)
    with psycopg.connect(no_scan, autocommit=True) as conn:
        plan = conn.execute(
            f"EXPLAIN SELECT count(*) FROM tasks{where}".replace("?", "%s"), params
        ).fetchall()
    if query.state is None:
        assert "tasks_text" in str(plan)


def test_the_planner_reads_a_rare_word_from_the_text_index_and_walks_for_a_common_one(
    url: str,
) -> None:
    """At scale (50,000 tasks, vacuumed and analyzed as autovacuum does after inserts: till
    then the GIN indexes' pending lists make them look dear) the planner chooses by itself: a
    word in one task is read from the trigram index, a word every task holds by walking the
    page's order."""
    PgJournal(url).close()  # migrated: the tables and the text index
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tasks(id, name, state, args, kwargs, sent, updated) "
            "SELECT 'id-' || n, 'proj.t' || (n % 8), 'SUCCESS', '(' || n || ', ''x'')', '{}', "
            "n, n FROM generate_series(1, 50000) AS n"
        )
        conn.execute("VACUUM ANALYZE tasks")
    reader = PgReader(url)
    try:
        rare = TaskQuery(text="(31337, 'x')")
        assert [r["id"] for r in reader.page(rare, 0, 500)] == ["id-31337"]
        assert "tasks_text_args" in reader.plans(rare, 500)[0]  # the rows with a time
        common = TaskQuery(text="proj.t")
        assert len(reader.page(common, 0, 500)) == 500
        assert "tasks_by_sent" in reader.plans(common, 500)[0]
    finally:
        reader.close()


def test_without_pg_trgm_the_migration_says_so_and_searches_read_every_task(
    postgres_server: Any, pg_database: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may create tables but not extensions (no CREATE on the database): schema 2
    without the index, said in the log, on `record`'s stderr (text_index_missing) and in
    meta; the search still finds the rows. Once the extension is there, the next writer that
    opens the history builds the index."""
    role = f"r_{pg_database}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{postgres_server.password}'")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    limited = url.replace("//desk:", f"//{role}:")
    try:
        with caplog.at_level("WARNING"):
            writer = PgJournal(limited)
        assert writer.text_index_missing is not None
        assert "pg_trgm cannot be created" in writer.text_index_missing
        assert "permission denied" in writer.text_index_missing
        writer.write(_rows(), [])
        writer.close()
        assert "a free word is searched by reading every task" in caplog.text
        with psycopg.connect(url, autocommit=True) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            # The schema moves on all the same (the recorders' table of schema 3 too).
            assert meta["schema"] == str(SCHEMA_VERSION) and SCHEMA_VERSION >= 2
            assert meta["text_index"].startswith("no text index")
            assert conn.execute("SELECT to_regclass('tasks_text_args')").fetchone() == (None,)
        reader = PgReader(limited)
        found = {r["id"] for r in reader.page(TaskQuery(text="bad input 1"), 0, 1000)}
        reader.close()
        assert found == {r.id for r in _rows() if "Bad Input 1" in (r.exception or "")}
        assert len(found) == 7  # 1, 11, 16, 101, 106, 111, 116

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_trgm")
        again = PgJournal(limited)
        assert again.text_index_missing is None
        again.close()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT value FROM meta WHERE key = 'text_index'").fetchone() == (
                "pg_trgm",
            )
            indexes = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'tasks_text%'"
            )
            assert sorted(r[0] for r in indexes) == sorted(f"tasks_text_{c}" for c in SEARCHED)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_an_interrupt_never_cancels_the_next_statement_on_its_connection(url: str) -> None:
    """A reader interrupted just as its statement ends: its connection goes back to the pool
    only once the cancel has landed, so another screen's statement on it is never hit."""
    import sqlite3

    PgJournal(url).close()  # a history there
    first, second = PgReader(url), PgReader(url)
    try:

        def ends_as_interrupted(conn: Any) -> int:
            first.interrupt()  # the cancel is on its way while the statement ends
            return 1

        for _ in range(5):
            assert first._run(ends_as_interrupted) == 1
            try:
                slept = second._all("SELECT true AS slept FROM pg_sleep(0.3)", [])
            except sqlite3.OperationalError as exc:  # the cancel meant for `first`
                raise AssertionError("another reader's statement was cancelled") from exc
            assert slept == [{"slept": True}]
    finally:
        first.close()
        second.close()
