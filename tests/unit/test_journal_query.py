"""The journal's read path: one filter rule for SQL and live rows, pages by keyset that read
what OFFSET reads, an index behind every column the Tasks screen sorts in SQL, and a read-only
connection that never waits for the writer."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.journal_schema import INDEXED_SORTS, SCHEMA_VERSION, SORTABLE
from desktop.core.monitor.task_query import TaskQuery, like_pattern
from tests.factories import task_row

TEXTS = [
    "('50%',)", "('500',)", "('a_b',)", "('axb',)", "('back\\slash',)", "('backxslash',)",
    "('Déjà',)", "('DÉJÀ',)", "('OK',)", "('ok',)", None,
]  # fmt: skip


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite3")
    j.write(
        [
            task_row(
                f"t{i:03d}",
                name=f"x.{'add' if i % 3 else 'fail'}",
                state=("FAILURE", "SUCCESS", "STARTED")[i % 3],
                args=text,
                routing_key=f"q{i % 4}",
                worker=f"w{i % 2}@h" if i % 5 else None,
                # Ties and NULLs in the sort columns, as a real journal has.
                sent=None if i % 4 == 0 else float(i // 3),
                retries=i % 2 if i % 7 else None,
                updated=float(i),
            )
            for i, text in enumerate(TEXTS * 3)
        ],
        [],
    )
    yield j
    j.close()


@pytest.mark.parametrize(
    "query",
    [
        *(TaskQuery(text=t) for t in ("50%", "%", "_", "a_b", "\\", "back\\slash", "ok", "OK")),
        *(TaskQuery(text=t) for t in ("déjà", "DÉJÀ", "')", "%_", "x")),
        TaskQuery(state="FAILURE"),
        TaskQuery(queue="q1"),
        TaskQuery(state="SUCCESS", queue="q0", text="0"),
        TaskQuery(name="x.add", worker="w1@h"),
        TaskQuery(name="X.ADD"),  # an equality filter is exact, case included
    ],
    ids=repr,
)
def test_sql_and_the_live_test_select_the_same_rows(journal: Journal, query: TaskQuery) -> None:
    stored = journal.page(TaskQuery(), 0, 1000)
    by_sql = {r["id"] for r in journal.page(query, 0, 1000)}
    assert {r["id"] for r in stored if query.matches(r)} == by_sql
    assert journal.count(query) == len(by_sql)


def test_percent_underscore_and_backslash_are_literal_and_ascii_case_is_ignored(
    journal: Journal,
) -> None:
    def found(text: str) -> set[str | None]:
        return {r["args"] for r in journal.page(TaskQuery(text=text), 0, 1000)}

    assert found("50%") == {"('50%',)"}
    assert found("a_b") == {"('a_b',)"}
    assert found("back\\slash") == {"('back\\slash',)"}
    assert found("ok") == {"('OK',)", "('ok',)"}
    assert found("déjà") == {"('Déjà',)"}  # É is not an ASCII letter: LIKE tells it apart
    assert like_pattern("5%_\\") == "%5\\%\\_\\\\%"


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("column", sorted(SORTABLE))
def test_keyset_pages_read_what_offset_pages_read(
    journal: Journal, column: str, descending: bool
) -> None:
    query = TaskQuery(
        order_by=column, descending=descending, queue="q1" if column == "id" else None
    )
    everything = [r["id"] for r in journal.page(query, 0, 1000)]
    by_offset = [r["id"] for start in range(0, 40, 4) for r in journal.page(query, start, 4)]
    assert by_offset == everything
    by_keyset: list[str] = []
    after = None
    while True:
        page = journal.page(query, 0, 4, after=after)
        by_keyset += (r["id"] for r in page)
        if len(page) < 4:
            break
        after = query.key(page[-1])
    assert by_keyset == everything


@pytest.mark.parametrize("column", sorted(INDEXED_SORTS))
def test_every_column_sorted_in_sql_is_read_from_an_index(journal: Journal, column: str) -> None:
    """No sort of every row (USE TEMP B-TREE) for a page after a key, on a column of ties."""
    db = sqlite3.connect(journal.path)
    for way, less in (("DESC", "<"), ("ASC", ">")):
        if column == "id":  # unique: the id alone is the key
            where, order, params = f"id {less} ?", f"id {way}", ["x"]
        else:
            where = f"{column} {less}= ? AND ({column} {less} ? OR id {less} ?)"
            order, params = f"{column} {way}, id {way}", [1, 1, "x"]
        plan = db.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT 500",
            params,
        ).fetchall()
        text = " ".join(str(step[-1]) for step in plan)
        assert "INDEX" in text, text
        if column != "updated":  # a one-column index: no screen sorts by it
            assert "TEMP B-TREE" not in text, text
    db.close()


def test_a_read_only_reader_does_not_wait_for_the_writer(journal: Journal) -> None:
    reader = JournalReader(journal.path)
    writer = sqlite3.connect(journal.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the recorder holding the write lock mid-batch
    writer.execute("UPDATE tasks SET state = 'REVOKED'")
    try:
        started = time.perf_counter()
        assert reader.count(TaskQuery(state="REVOKED")) == 0  # the last committed state
        assert len(reader.page(TaskQuery(), 0, 10)) == 10
        assert time.perf_counter() - started < 1.0  # the busy timeout is 5 s
        with pytest.raises(sqlite3.OperationalError):
            reader._db.execute("DELETE FROM tasks")  # read-only: it cannot write
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        reader.close()


def test_an_older_journal_gains_the_sort_indexes_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    names = db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'tasks_by_%'").fetchall()
    for (name,) in names:
        db.execute(f"DROP INDEX {name}")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    db.commit()
    db.close()
    Journal(path).close()
    db = sqlite3.connect(path)
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
    db.close()
    wanted = {f"tasks_by_{c}" for c in INDEXED_SORTS - {"id", "updated"}}
    assert wanted <= indexes and schema == str(SCHEMA_VERSION)
