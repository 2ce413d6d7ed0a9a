"""A journal that fails around a send (issue 13 review): a full journal (SQLite's own
SQLITE_FULL through `max_page_count`) never makes sent tasks look unsent, and each task is
journaled as its message is published, with the tasks it carries (a chain's later steps).
Sent through kombu's in-memory transport: Celery's and kombu's real sending code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import after_task_publish

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from desktop.core.monitor.journal import Journal
from tests.unit.test_journal_durability import fill_up


@pytest.fixture
def app() -> Iterator[Any]:
    client = panel_app("memory://", "cache+memory://")
    try:
        yield client
    finally:
        client.close()


def full_journal(path: Path) -> Journal:
    """A journal whose file may not grow: SQLite answers SQLITE_FULL to a row needing a page
    (a fresh journal has no free ones)."""
    journal = Journal(path)
    fill_up(journal)
    return journal


# A name too long for any page's free space: its row and index entries need new pages.
LONG = "t." + "x" * 3000


def _recorder(journal: Journal) -> Any:
    def record(node: canvas_sending.SentNode) -> None:
        journal.record_submitted(node.id, node.task, queue=node.queue, priority=node.priority)

    return record


def test_a_full_journal_is_said_as_sent_but_not_journaled(app: Any, tmp_path: Path) -> None:
    journal = full_journal(tmp_path / "j.sqlite3")
    before = journal.count()
    queue = f"q-{uuid.uuid4().hex}"  # the memory transport's queues live as long as the process
    drawn = Canvas("", GroupNode([TaskNode(LONG, [i], options={"queue": queue}) for i in range(3)]))
    sent = canvas_sending.send(drawn, app, _recorder(journal))  # no exception: the tasks went out
    assert len(sent.nodes) == 3
    assert sent.unjournaled is not None
    assert [n.id for n in sent.unjournaled.nodes] == [n.id for n in sent.nodes]
    assert sent.unjournaled.said(3) == "sent 3 task(s), 3 of them not journaled: " + (
        "database or disk is full"
    )
    with app.connection_for_write() as conn:  # the broker has all three
        assert conn.default_channel.queue_declare(queue, passive=True).message_count == 3
    assert journal.count() == before
    journal.close()


def test_a_full_journal_leaves_a_failed_send_said_as_a_send_failure(
    app: Any, tmp_path: Path
) -> None:
    journal = full_journal(tmp_path / "j.sqlite3")
    children = [TaskNode(LONG, [1]), TaskNode(LONG, [2]), TaskNode(LONG, [object()])]
    with pytest.raises(canvas_sending.SendError) as failed:
        canvas_sending.send(Canvas("", GroupNode(children)), app, _recorder(journal))
    assert [n.path for n in failed.value.sent] == ["0", "1"]
    assert failed.value.unjournaled is not None
    assert [n.path for n in failed.value.unjournaled.nodes] == ["0", "1"]
    assert "2 of 3 task(s) sent, then " in str(failed.value)
    assert "2 of them not journaled: database or disk is full" in str(failed.value)
    assert journal.count() == 0
    journal.close()


def test_each_task_is_journaled_as_its_message_is_published(app: Any) -> None:
    """A process ended mid-send (the run command's watchdog) has journaled what went out."""
    happened: list[str] = []

    def published(headers: Any = None, **_: Any) -> None:
        happened.append(f"published {headers['id']}")

    after_task_publish.connect(published, weak=False)
    try:
        drawn = Canvas("", GroupNode([TaskNode("t.add", [i]) for i in range(3)]))
        sent = canvas_sending.send(drawn, app, lambda node: happened.append(f"recorded {node.id}"))
    finally:
        after_task_publish.disconnect(published)
    assert happened == [f"{what} {n.id}" for n in sent.nodes for what in ("published", "recorded")]


def test_a_chains_later_steps_are_journaled_with_the_message_that_carries_them(
    app: Any,
) -> None:
    """The chain's first message went out carrying its two later steps (a worker sends
    them): all three are journaled; the task after it, never sent, is not."""
    recorded: list[str] = []
    chain = ChainNode([TaskNode("t.add", [1]), TaskNode("t.add", [2]), TaskNode("t.add", [3])])
    drawn = Canvas("", GroupNode([chain, TaskNode("t.add", [object()])]))
    with pytest.raises(canvas_sending.SendError) as failed:
        canvas_sending.send(drawn, app, lambda node: recorded.append(node.path))
    assert sorted(recorded) == ["0.0", "0.1", "0.2"]
    assert sorted(n.path for n in failed.value.sent) == ["0.0", "0.1", "0.2"]
