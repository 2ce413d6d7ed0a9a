"""How a search's first page is read (issue 15, "every query's first page in < 100 ms at a
million tasks"): the plan SQLite is given, checked with EXPLAIN QUERY PLAN, and the rows,
which are those of the plain SQL whatever the plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.journal_text import TextIndex
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from tests.factories import task_row

TASKS = 300
MOST = 10  # the advisor's "few": a name 30 tasks hold is many here, one 5 hold is few


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "plans.sqlite3")
    j.write(
        [
            task_row(
                f"t{n:04d}",
                name="proj.rare" if n % 60 == 0 else ("proj.common", "proj.other")[n % 2],
                state=("SUCCESS", "FAILURE")[n % 10 == 0],
                worker=f"w{n % 3}",
                routing_key=("celery", "low")[n % 4 == 0],
                runtime=(n % 13) / 10 if n % 5 else None,
                args=f"('order-{n % 50}', 'word-{n}')",
                sent=float(n) if n % 7 else None,
                received=float(n),
                updated=float(n),
            )
            for n in range(TASKS)
        ],
        [],
    )
    j.index_text()  # as the monitor's thread does within a second of the write
    yield j
    j.close()


def plan(journal: Journal, where: str, params: list[object], order: str) -> str:
    rows = journal._db.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE {where} ORDER BY {order} LIMIT 500",
        params,
    ).fetchall()
    return " / ".join(str(row[-1]) for row in rows)


def page_ids(reader: JournalReader, query: TaskQuery) -> list[str]:
    return [r["id"] for r in reader.page(query, 0, 1000)]


def test_an_equality_many_rows_hold_walks_the_page_order_few_read_their_index(
    journal: Journal,
) -> None:
    """`name:` of 83,265 tasks at a million: SQLite read all of them from the name's index
    and sorted them (190-250 ms); set aside (`+name`), it walks the time order and stops at a
    page. A name few tasks hold keeps its index, and a count always does."""
    index = TextIndex(journal._db, most_rows=MOST)
    page = index.for_page("sent")
    common, params = parse("name:proj.common").sql(page)
    assert common == "(+name = ?)"
    assert "USING INDEX tasks_by_sent" in plan(journal, common, params, "sent DESC, id DESC")
    assert "TEMP B-TREE" not in plan(journal, common, params, "sent DESC, id DESC")
    rare, params = parse("name:proj.rare").sql(page)
    assert rare == "(name = ?)"
    assert "tasks_by_name (name=?)" in plan(journal, rare, params, "sent DESC, id DESC")
    assert parse("name:proj.common").sql(index)[0] == "(name = ?)"  # a count


@pytest.mark.parametrize(
    ("text", "order", "aside"),
    [
        ("name:proj.common", "sent", True),
        ("worker:w1", "received", True),
        ("name:proj.common", "name", False),  # (name, id) reads it in the page's order
        ("state:SUCCESS", "sent", False),  # (state, sent) reads it in the page's order
        ("state:SUCCESS", "runtime", True),
        ("queue:celery", "sent", False),  # queue OR routing_key: no one index to set aside
        ("name:proj.common state:SUCCESS", "sent", False),  # (name, state, sent) reads both
        ("name:proj.common worker:w1", "sent", True),
        ("id:t0001", "sent", False),  # one row
        ("name:proj.common", "args", False),  # no index reads that order: nothing to walk
    ],
)
def test_which_equalities_are_set_aside(
    journal: Journal, text: str, order: str, aside: bool
) -> None:
    where, _ = parse(text).sql(TextIndex(journal._db, most_rows=MOST).for_page(order))
    assert ("+" in where) is aside, where
    reader = JournalReader(journal.path)
    try:
        for descending in (True, False):
            query = TaskQuery(search=parse(text), order_by=order, descending=descending)
            reader._text = TextIndex(reader._db, most_rows=MOST)
            through = page_ids(reader, query)
            reader._text = TextIndex(reader._db, most_rows=None)  # every equality its index
            assert through == page_ids(reader, query), text
            assert reader.count(query) == len(through)
    finally:
        reader.close()


def test_the_screens_filters_and_searches_read_the_same_rows_either_way(journal: Journal) -> None:
    """The Tasks screen's own filters (state, name, worker) go through the same rule; a page
    after a key (keyset) reads on from where the first stopped."""
    reader = JournalReader(journal.path)
    try:
        reader._text = TextIndex(reader._db, most_rows=MOST)
        query = TaskQuery(name="proj.common", worker="w1", state="SUCCESS")
        first = reader.page(query, 0, 10)
        rest = reader.page(query, 0, 1000, after=query.key(first[-1]))
        everything = [r["id"] for r in first + rest]
        stored = journal.page(TaskQuery(), 0, 1000)
        expected = sorted(
            (r for r in stored if query.matches(r)),
            key=lambda r: (r["sent"] is not None, r["sent"] or 0, r["id"]),
            reverse=True,
        )
        assert everything == [r["id"] for r in expected]
        assert len(everything) == reader.count(query) > MOST
    finally:
        reader.close()


def test_an_or_with_a_part_many_rows_hold_is_walked_and_one_of_rare_parts_reads_their_union(
    journal: Journal,
) -> None:
    """`order-4242 OR order-17` at a million: the rare word read through the text index
    beside a scan for the common one cost both counts and the scan (74 ms); once a part is
    found common, the OR is left to the walk of the page's order, nothing read through an
    index. Rare parts only: each read through its index, their union sorted."""
    page = TextIndex(journal._db, most_rows=MOST).for_page("sent")
    order = "sent DESC, id DESC"
    for text in ("word-123 OR order-1", "order-1 OR word-123", "name:proj.common OR word-123"):
        where, params = parse(text).sql(page)
        assert "MATCH" not in where, where
        assert ("+name = ?" in where) is ("name:" in text), where
        assert plan(journal, where, params, order) == "SCAN tasks USING INDEX tasks_by_sent"
    rare, params = parse("word-123 OR word-124 OR name:proj.rare").sql(page)
    assert rare.count("MATCH") == 2, rare
    assert plan(journal, rare, params, order).startswith("MULTI-INDEX OR")
    counted, _ = parse("word-123 OR order-1").sql(TextIndex(journal._db, most_rows=MOST))
    assert "MATCH" in counted  # a count reads every row it counts: no walk
    reader = JournalReader(journal.path)
    try:
        for text in (
            "word-123 OR order-1",
            "order-1 OR word-123",
            "word-123 OR word-124",
            "name:proj.common OR word-123",
            "state:FAILURE word-9 OR order-1",
        ):
            query = TaskQuery(search=parse(text))
            reader._text = TextIndex(reader._db, most_rows=MOST)
            walked = page_ids(reader, query)
            assert walked == [r["id"] for r in journal.page(query, 0, 1000)], text
            assert walked and len(walked) == reader.count(query), text
        assert reader._text._answers is None  # the reader's advisor keeps no search's counts
    finally:
        reader.close()
