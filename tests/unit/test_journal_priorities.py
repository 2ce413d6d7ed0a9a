"""Priorities of tasks the panel did not send: learned off the broker, never over its own."""

from __future__ import annotations

from pathlib import Path

from desktop.core.broker.queue_messages import Message
from desktop.core.broker.queue_types import Held, Waiting
from desktop.core.broker.queues import Snapshot
from desktop.core.monitor.journal import Journal
from tests.factories import task_row


def test_a_learned_priority_fills_only_what_is_unknown(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        journal.write([task_row("theirs", state="PENDING"), task_row("mine", state="PENDING")], [])
        journal.record_submitted("mine", "t", priority=2)
        learned = journal.learn_priorities({"theirs": 7, "mine": 9, "unknown": 1})
        assert learned == ["theirs"]
        rows = journal.rows(["theirs", "mine"])
        assert rows["theirs"]["priority"] == 7
        assert rows["mine"]["priority"] == 2  # what the panel sent is never overwritten
        assert journal.learn_priorities({"theirs": 3}) == []  # learned once
    finally:
        journal.close()


def test_a_snapshot_says_the_priority_of_every_message_it_read() -> None:
    taken = Snapshot(
        [],
        "q",
        waiting=[
            Waiting(0, 0, Message(id="a", priority=3)),
            Waiting(1, 0, Message(id="b")),  # none in the message: not guessed
            Waiting(2, 0, Message(decoded=False)),
        ],
        held=[Held("q", "tag", Message(id="c", priority=0))],
    )
    assert taken.priorities_seen() == {"a": 3, "c": 0}
