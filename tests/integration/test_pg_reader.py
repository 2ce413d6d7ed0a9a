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
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from tests.factories import task_row

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_reader import PgReader  # noqa: E402

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
