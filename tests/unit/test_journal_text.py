"""The journal's text index (schema 4, issue 15 "fast at scale"; indexed later, in bulk, since
schema 7): searches read through it find the rows LIKE finds, whether the rows are indexed yet
or only noted; the triggers note every write and `index_text` brings the index in step; an
older journal gains it when opened for writing, and a reader of one not migrated yet still
searches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.journal_schema import SCHEMA_VERSION, JournalUnwritable
from desktop.core.monitor.journal_text import (
    LONGEST,
    PENDING_TABLE,
    TEXT_TABLE,
    TextIndex,
    has_text_index,
)
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from tests.factories import task_row

ARGS = [
    "('Hello World',)", "('hello world',)", "('HELLO',)", "('DÉJÀ vu',)", "('déjà vu',)",
    "('50%',)", "('500',)", "('a_b',)", "('axb',)", '("say "hi"",)', None,
]  # fmt: skip


def _pending(db: sqlite3.Connection) -> int:
    return int(db.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0])


def _integrity(journal: Journal) -> None:
    """Once the noted rows are indexed, FTS5's own check that the index holds exactly the
    text of `tasks` (external content): raises when a trigger missed a write."""
    journal.index_text()
    assert _pending(journal._db) == 0
    db = journal._db
    db.execute(f"INSERT INTO {TEXT_TABLE}({TEXT_TABLE}, rank) VALUES ('integrity-check', 1)")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.sqlite3")
    j.write(
        [
            task_row(
                f"task-{i:03d}",
                name=("proj.add", "proj.fail")[i % 2],
                state=("SUCCESS", "FAILURE")[i % 2],
                args=ARGS[i % len(ARGS)],
                result=None if i % 2 else f"'{ARGS[(i + 1) % len(ARGS)]}'",
                exception="TimeoutError('slow')" if i % 2 else None,
                sent=float(i),
            )
            for i in range(44)
        ],
        [],
    )
    yield j
    j.close()


def ids(journal: JournalReader, text: str) -> set[str]:
    return {r["id"] for r in journal.page(TaskQuery(search=parse(text)), 0, 1000)}


def selected(journal: Journal, where: str, params: list[Any]) -> set[str]:
    return {r[0] for r in journal._db.execute(f"SELECT id FROM tasks WHERE {where}", params)}


def test_a_new_journal_has_the_index_and_its_schema_says_so(journal: Journal) -> None:
    assert has_text_index(journal._db)
    assert SCHEMA_VERSION == 7
    (schema,) = journal._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    assert schema == "7"
    assert _pending(journal._db) == 44  # written: noted, not indexed yet
    assert journal.index_text() == 44
    assert journal.index_text() == 0
    _integrity(journal)


@pytest.mark.parametrize("indexed", [False, True], ids=["noted", "indexed"])
@pytest.mark.parametrize(
    ("text", "through_index"),
    [
        ("hello", True), ("HELLO", True), ("déjà", True), ("DÉJÀ", True), ("50%", True),
        ("a_b", True), (r'"say \"hi\""', True), ("args:hello", True), ("exception:timeout", True),
        ("exception:*Timeout*", True), ("name:proj.a*", True), ("task-01", True),
        ("-hello", False), ("hello OR 500", True), ("hi", False), ("args:%", False),
        ("queue:q", False), ("state:FAILURE", False),
    ],
)  # fmt: skip
def test_searches_through_the_index_select_what_like_and_holds_select(
    journal: Journal, text: str, through_index: bool, indexed: bool
) -> None:
    """Trigram matching ignores case (of every letter: `déjà` finds `DÉJÀ` in the index, which
    LIKE tells apart), so the LIKE stays beside it: SQL, the live test and LIKE alone agree,
    before the rows are indexed (read beside the index) and after."""
    if indexed:
        journal.index_text()
    assert _pending(journal._db) == (0 if indexed else 44)
    search = parse(text)
    where, params = search.sql(TextIndex(journal._db))
    assert (f"{TEXT_TABLE} MATCH" in where) is through_index, where
    stored = journal.page(TaskQuery(), 0, 1000)
    by_index = selected(journal, where, params)
    by_like = selected(journal, *search.sql())
    assert by_index == by_like == {r["id"] for r in stored if search.holds(r)}
    assert by_index == ids(journal, text)


def test_case_is_ignored_for_ascii_letters_as_like_ignores_it(journal: Journal) -> None:
    assert ids(journal, "hello") == ids(journal, "HeLLo")
    in_args = ids(journal, "args:hello")
    assert in_args == ids(journal, "args:HELLO")
    assert len(in_args) == 12  # 'Hello World', 'hello world', 'HELLO': 4 rows each
    assert ids(journal, "déjà") != ids(journal, "DÉJÀ")  # É is not ASCII: told apart


def test_a_word_in_many_rows_is_found_by_like_alone(journal: Journal) -> None:
    """More rows than `most_rows` hold it: the scan in the page's order finds a page sooner.
    Rows not indexed yet are candidates of every word: 44 noted rows make any word many."""
    assert TextIndex(journal._db, most_rows=4).narrowing(["args"], ["say"]) is None
    journal.index_text()
    index = TextIndex(journal._db, most_rows=4)
    assert index.narrowing(["args"], ["hello"]) is None  # in 12 rows
    assert index.narrowing(["args"], ["say"]) is not None  # in 4
    assert TextIndex(journal._db).narrowing(["args"], ["hello"]) is not None
    assert TextIndex(journal._db).narrowing(["queue"], ["hello"]) is None  # not in the index


def test_the_triggers_keep_the_index_in_step_with_every_write(journal: Journal) -> None:
    """Every write is found at once (noted, read beside the index) and the index holds
    exactly the table's text once brought up to date, an indexed row's old text taken out."""
    journal.index_text()
    journal.write([task_row("task-000", args="('fresh text',)", state="SUCCESS")], [])
    assert _pending(journal._db) == 1  # its old text out of the index, the row noted
    assert ids(journal, "fresh") == {"task-000"}
    journal.set_final("task-001", "SUCCESS", "'brand new result'", 5.0)
    assert ids(journal, "brand new") == {"task-001"}
    assert journal.note_result("task-003", "'an explained result'")
    assert ids(journal, "explained") == {"task-003"}
    journal.record_submitted("sent-1", "proj.sent", args="('submitted text',)")
    assert ids(journal, "submitted") == {"sent-1"}
    journal.learn_priorities({"task-002": 5})  # no searched column: the index is not touched
    assert _pending(journal._db) == 4
    journal.prune(max_tasks=10)  # noted and indexed rows deleted alike
    assert len(ids(journal, "proj")) == 10
    _integrity(journal)


def test_a_row_noted_and_not_indexed_yet_changes_its_text_again(journal: Journal) -> None:
    """A running task's text changes twice before the index takes it (received, then its
    result): noted once, both writes stored whole, nothing refused."""
    for text in ("'first result'", "'second result'"):
        journal.write([task_row("task-000", result=text, state="SUCCESS")], [])
    assert journal.refused == 0
    assert journal.get("task-000")["result"] == "'second result'"
    assert _pending(journal._db) == 44
    assert ids(journal, "second result") == {"task-000"}
    _integrity(journal)
    assert ids(journal, "first result") == set()


def test_an_update_of_unsearched_columns_leaves_the_index_alone(journal: Journal) -> None:
    """A state change rewrites every column through the upsert (`coalesce`): the searched
    ones keep their text, so the trigger writes nothing and notes nothing."""
    journal.index_text()
    before = journal._db.execute(f"SELECT count(*) FROM {TEXT_TABLE}_data").fetchone()[0]
    journal.write([task_row(f"task-{i:03d}", state="REVOKED", runtime=1.0) for i in range(9)], [])
    assert journal.get("task-002")["state"] == "REVOKED"
    after = journal._db.execute(f"SELECT count(*) FROM {TEXT_TABLE}_data").fetchone()[0]
    assert after == before  # no row of the index written
    assert _pending(journal._db) == 0
    _integrity(journal)


def _as_schema_3(path: Path) -> None:
    """The journal as schema 3 left it: no index, no triggers."""
    db = sqlite3.connect(path, isolation_level=None)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute(f"DROP TABLE {TEXT_TABLE}")
    db.execute(f"DROP TABLE {PENDING_TABLE}")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    db.close()


def test_a_journal_of_schema_3_gains_the_index_filled_when_opened(journal: Journal) -> None:
    path, expected = journal.path, ids(journal, "hello")
    journal.close()
    _as_schema_3(path)
    old = JournalReader(path)  # read-only, before the migration: LIKE alone
    assert old._text_index() is None
    assert ids(old, "hello") == expected
    migrated = Journal(path)
    assert has_text_index(migrated._db)
    assert ids(migrated, "hello") == expected
    assert _pending(migrated._db) == 0  # the migration indexed every row
    _integrity(migrated)
    (schema,) = migrated._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    assert schema == str(SCHEMA_VERSION)
    assert old._text_index() is not None  # the open reader reads through it from now on
    assert ids(old, "hello") == expected
    old.close()
    migrated.close()


def test_a_batch_with_a_value_sqlite_cannot_hold_keeps_the_others_indexed(tmp_path: Path) -> None:
    """The batch is staged and stored by one statement; a refused value rolls the staging
    back and the rows are written one by one, each in the index."""
    journal = Journal(tmp_path / "j.sqlite3")
    rows = [task_row("good-1", args="('kept one',)"), task_row("bad", retries=2**63),
            task_row("good-2", args="('kept two',)")]  # fmt: skip
    assert journal.write(rows, []) == 1
    assert ids(journal, "kept") == {"good-1", "good-2"}
    assert journal._db.execute("SELECT count(*) FROM temp.staged_rows").fetchone()[0] == 0
    _integrity(journal)
    journal.close()


def test_a_long_piece_is_asked_of_the_index_by_its_start_and_decided_by_like(
    tmp_path: Path,
) -> None:
    """Only LONGEST characters go to the index (a phrase of thousands of trigrams took it
    seconds); the LIKE beside it still tells rows with the same start apart."""
    journal = Journal(tmp_path / "j.sqlite3")
    start = "x" * (LONGEST + 10)
    journal.write(
        [task_row("end", args=start + "END"), task_row("other", args=start + "OTHER")], []
    )
    where, _params = parse(start + "END").sql(TextIndex(journal._db))
    assert f"{TEXT_TABLE} MATCH" in where
    assert ids(journal, start + "END") == {"end"}
    assert ids(journal, start) == {"end", "other"}
    journal.close()


def test_a_comparison_few_rows_hold_is_read_from_its_column_index_first(tmp_path: Path) -> None:
    """`runtime>2.5` in a big journal walked the page's time order testing every row (~1 s at
    a million); held by few rows, it now picks them from the runtime index first. The rows are
    the same either way, and a comparison most rows hold keeps the plain form."""
    journal = Journal(tmp_path / "cmp.sqlite3")
    try:
        journal.write(
            [task_row(f"t{n:04d}", runtime=3.0 if n < 5 else 0.1, retries=n % 3, sent=float(n),
                      updated=float(n)) for n in range(300)],
            [],
        )  # fmt: skip
        index = TextIndex(journal._db, most_rows=10)
        rare, _ = parse("runtime>2.5").sql(index)
        common, _ = parse("runtime<1").sql(index)
        assert "rowid IN (SELECT rowid FROM tasks WHERE (runtime > ?))" in rare
        assert "rowid IN" not in common
        for text in ("runtime>2.5", "runtime<1", "priority<3", "-runtime>2.5", "retries>=1"):
            through = selected(journal, *parse(text).sql(index))
            plain = selected(journal, *parse(text).sql(None))
            assert through == plain, text
        assert ids(journal, "runtime>2.5") == {f"t{n:04d}" for n in range(5)}
    finally:
        journal.close()


# Schema 6's triggers, which indexed every write in its own statement.
_COLUMNS = "id, name, args, kwargs, result, exception"
_OLD = ", ".join(f"old.{c}" for c in _COLUMNS.split(", "))
_NEW = ", ".join(f"new.{c}" for c in _COLUMNS.split(", "))
_SCHEMA_6_TRIGGERS = (
    f"CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN INSERT INTO {TEXT_TABLE}"
    f"(rowid, {_COLUMNS}) VALUES (new.rowid, {_NEW}); END",
    f"CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN INSERT INTO {TEXT_TABLE}"
    f"({TEXT_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_OLD}); END",
)


def test_a_journal_of_schema_6_keeps_its_index_and_notes_rows_from_then_on(
    journal: Journal,
) -> None:
    """Schema 6 indexed by triggers: opened for writing, its triggers are replaced, its index
    kept as it is (every row in it current), and rows written after are noted; a reader
    opened before the migration searches through the index alone, then beside the notes."""
    journal.index_text()
    path, expected = journal.path, ids(journal, "hello")
    journal.close()
    db = sqlite3.connect(path, isolation_level=None)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute(f"DROP TABLE {PENDING_TABLE}")
    for statement in _SCHEMA_6_TRIGGERS:
        db.execute(statement)
    db.execute("UPDATE meta SET value = '6' WHERE key = 'schema'")
    db.close()
    old = JournalReader(path)
    assert ids(old, "hello") == expected  # no notes table: the index alone
    migrated = Journal(path)
    triggers = {r[0] for r in migrated._db.execute("SELECT name FROM sqlite_master "
                                                   "WHERE type = 'trigger'")}  # fmt: skip
    assert not triggers & {"tasks_fts_insert", "tasks_fts_delete"}
    assert _pending(migrated._db) == 0
    assert ids(migrated, "hello") == expected
    migrated.write([task_row("late", args="('hello again',)")], [])
    assert _pending(migrated._db) == 1
    assert ids(migrated, "hello") == expected | {"late"}
    old.close()
    reopened = JournalReader(path)
    assert ids(reopened, "hello") == expected | {"late"}
    reopened.close()
    _integrity(migrated)
    migrated.close()


def test_an_older_celery_desk_writing_the_same_file_is_repaired_and_a_newer_refused(
    journal: Journal, tmp_path: Path
) -> None:
    """Schema 6's program opening a schema 7 journal puts its triggers back beside these (rows
    indexed twice, FTS5 then reports the index damaged): the next pass of the text index finds
    them, drops them and rebuilds. And a journal of a newer schema is not written at all."""
    journal.index_text()
    for statement in _SCHEMA_6_TRIGGERS:  # what schema 6's open does (IF NOT EXISTS)
        journal._db.execute(statement)
    journal.write([task_row("twice", args="('hello twice',)")], [])  # indexed by both
    journal.index_text()
    triggers = {r[0] for r in journal._db.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'trigger'")}  # fmt: skip
    assert not triggers & {"tasks_fts_insert", "tasks_fts_delete"}
    assert "twice" in ids(journal, "hello")
    _integrity(journal)
    journal._db.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),)
    )
    with pytest.raises(JournalUnwritable) as refused:
        Journal(journal.path)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(refused.value)
