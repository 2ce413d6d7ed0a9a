"""Cancelling a send part way (issue 17): once the event is set, no further message goes
out, what went out is said (SendError with Cancelled as its cause), and progress counts every
task the broker took. Sent through kombu's in-memory transport: Celery's and kombu's real
sending code."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode


@pytest.fixture
def app() -> Iterator[Any]:
    client = panel_app("memory://", "cache+memory://")
    try:
        yield client
    finally:
        client.close()


def _waiting(app: Any, queue: str) -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def test_cancel_stops_before_the_next_message_and_says_how_many_went(app: Any) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    drawn = Canvas("", GroupNode([TaskNode("t.add", [i], options={"queue": queue})
                                  for i in range(300)]))  # fmt: skip
    cancel = threading.Event()
    told: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        told.append((done, total))
        if done == 40:
            cancel.set()  # as the dialog's Cancel does, from another thread

    with pytest.raises(canvas_sending.SendError) as stopped:
        canvas_sending.send(drawn, app, None, None, progress, cancel)
    assert isinstance(stopped.value.__cause__, canvas_sending.Cancelled)
    assert len(stopped.value.sent) == 40 and stopped.value.total == 300
    assert "40 of 300 task(s) sent" in str(stopped.value)
    assert told == [(n, 300) for n in range(1, 41)]
    assert _waiting(app, queue) == 40  # nothing after the cancel reached the broker
    # The app sends as before once the send is over: the check is gone with it.
    assert "send_task_message" not in vars(app.amqp)
    app.send_task("t.add", [1], queue=queue)
    assert _waiting(app, queue) == 41


def test_a_chain_counts_the_steps_its_first_message_carries(app: Any) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    steps = [TaskNode("t.add", [i], options={"queue": queue}) for i in range(3)]
    told: list[tuple[int, int]] = []
    sent = canvas_sending.send(
        Canvas("", ChainNode(steps)),  # type: ignore[arg-type]
        app, None, None, lambda done, total: told.append((done, total)), threading.Event(),
    )  # fmt: skip
    assert len(sent.nodes) == 3 and told[-1] == (3, 3)
    assert _waiting(app, queue) == 1  # one message; a worker sends the later steps
