"""Reading many queues by hand (issue 17): the counts come COUNT_CHUNK queues per round, each
round told to the progress, and a Cancel stops the read before the next round, on Redis and on
RabbitMQ. One queue of the read holds messages, counted wherever it falls."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from desktop.core.broker import queues
from tests.factories import app_config
from tests.integration.worker_process import delete_rabbitmq_entities
from workers import create_app

pytestmark = pytest.mark.slow


def test_a_read_by_hand_reports_each_round_and_cancel_stops_it(broker_url: str) -> None:
    prefix = f"many{uuid.uuid4().hex[:6]}-"
    names = [f"{prefix}{i}" for i in range(250)]
    app = create_app(broker_url, "", queue_prefix=prefix)
    source: Any = None
    try:
        busy = names[130]
        app.send_task("workers.tasks.t1", [1, 2], queue=busy)
        app.send_task("workers.tasks.t1", [3, 4], queue=busy)
        source = queues.inspector(broker_url, app_config())
        told: list[tuple[int, int]] = []
        taken = queues.snapshot(
            source, names, None, 0, False, progress=lambda *n: told.append(n),
            cancel=threading.Event(),
        )  # fmt: skip
        assert told == [(100, 250), (200, 250), (250, 250)]
        assert [c.queue for c in taken.counts] == names
        assert {c.queue: c.waiting for c in taken.counts if c.waiting} == {busy: 2}

        cancel = threading.Event()

        def stop_after_two(done: int, total: int) -> None:
            if done == 200:
                cancel.set()  # as the dialog's Cancel, from the GUI thread

        with pytest.raises(queues.ReadCancelled) as stopped:
            queues.snapshot(source, names, None, 0, False, progress=stop_after_two, cancel=cancel)
        assert (stopped.value.done, stopped.value.total) == (200, 250)
        assert "cancelled after 200 of 250 queues" in str(stopped.value)
    finally:
        if source is not None:
            source.purge(names[130])
            source.close()
        app.close()
        if broker_url.startswith("amqp"):
            delete_rabbitmq_entities(broker_url, [names[130]])
