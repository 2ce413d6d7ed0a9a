"""The journal's task record (base/task_record.py) and the one rule of which queue a task is in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.core.base.task_record import (
    TASK_RECORD_KEYS,
    queue_of,
    queue_of_routing_key,
)
from desktop.core.canvas.recall import task_node
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_schema import COLUMNS
from tests.factories import task_row


def test_the_record_keys_are_the_journal_tables_columns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        journal.write([task_row("t1", name="x.add", routing_key="celery")], [])
        table = [r[1] for r in journal._db.execute("PRAGMA table_info(tasks)").fetchall()]
        row = journal.get("t1")
        assert row is not None
        assert tuple(table) == TASK_RECORD_KEYS == COLUMNS
        assert tuple(row) == TASK_RECORD_KEYS
        assert tuple(journal.rows(["t1"])["t1"]) == TASK_RECORD_KEYS
        assert tuple(journal.workflow("t1")[0]) == TASK_RECORD_KEYS
    finally:
        journal.close()


def test_the_recorded_queue_wins_then_where_the_routing_key_delivers() -> None:
    routing = {"hi.#": "high"}
    assert queue_of({"queue": "q", "routing_key": "hi.#"}, routing) == "q"
    assert queue_of({"queue": None, "routing_key": "hi.#"}, routing) == "high"
    assert queue_of({"queue": None, "routing_key": "hi.#"}) == "hi.#"
    assert queue_of({"queue": "", "routing_key": "celery"}, routing) == "celery"
    assert queue_of({"queue": None, "routing_key": None}, routing) is None
    assert queue_of({}) is None
    assert queue_of_routing_key("hi.#", routing) == "high"
    assert queue_of_routing_key("other", routing) == "other"
    assert queue_of_routing_key("", routing) is None


def _row(**values: Any) -> Any:
    row: dict[str, Any] = dict.fromkeys(TASK_RECORD_KEYS)
    row.update(id="a", name="workers.tasks.add", args="(1, 2)", kwargs="{}", **values)
    return row


def test_a_recalled_task_keeps_its_queue_as_sending_it_again_does() -> None:
    """Recall kept only the recorded queue while `send_again` fell back on the routing key: a
    task the panel did not send went back to another queue from the Builder."""
    assert task_node(_row(routing_key="hi.#"), routing={"hi.#": "high"}).options == {
        "queue": "high"
    }
    assert task_node(_row(queue="q", routing_key="hi.#")).options == {"queue": "q"}
    assert task_node(_row()).options == {}
