"""What ran and where priority order broke, by the broker's own rule."""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from desktop.core.broker.run_order import started_order
from tests.factories import app_config

RABBIT = app_config(
    "amqp://",
    task_queues=[
        Queue("q", Exchange("q"), routing_key="q", queue_arguments={"x-max-priority": 10})
    ],
)
REDIS_0_9 = app_config(broker_transport_options={"priority_steps": list(range(10))})
REDIS_KOMBU = app_config()  # kombu's default steps [0, 3, 6, 9]


def _row(task_id: str, priority: int | None, sent: float, started: float | None) -> dict[str, Any]:
    return {"id": task_id, "name": f"t.{task_id}", "priority": priority, "sent": sent,
            "started": started, "worker": "w", "state": "SUCCESS"}  # fmt: skip


def test_an_inversion_is_a_start_while_a_higher_priority_task_waited() -> None:
    rows = [
        _row("low", 1, 0.0, 1.0),  # RabbitMQ: 1 started while 9 waited (sent 0.5, started 2)
        _row("high", 9, 0.5, 2.0),
        _row("late", 5, 3.0, 3.5),  # nothing better waited by then
        _row("blind", None, 0.1, 0.2),  # priority not known: never counted
        {**_row("queued", 8, 0.2, None), "state": "PENDING"},  # may have been purged
        {**_row("gone", 9, 0.2, None), "state": "REVOKED"},  # revoked: left the queue
    ]
    rabbit = started_order(rows, "q", RABBIT)
    assert [r.id for r in rabbit] == ["late", "high", "low", "blind"]  # most recent first
    inverted = {r.id: r.inverted_by for r in rabbit}
    # Only tasks that surely waited (started later) count: "queued" never started.
    assert inverted == {"late": (), "high": (), "low": ("high",), "blind": ()}
    assert rabbit[0].wait_s == 0.5
    # On Redis a lower number runs first: "low" (1) ran before "high" (9), as it should.
    redis = {r.id: r.inverted_by for r in started_order(rows, "q", REDIS_0_9)}
    assert redis == {"late": (), "high": (), "low": (), "blind": ()}


def test_priorities_in_one_redis_step_or_above_a_rabbit_cap_do_not_invert() -> None:
    rows = [_row("a", 5, 0.0, 1.0), _row("b", 4, 0.5, 2.0)]
    assert not started_order(rows, "q", REDIS_KOMBU)[1].inverted_by  # both step 3
    assert started_order(rows, "q", REDIS_0_9)[1].inverted_by == ("b",)
    capped = [_row("a", 12, 0.0, 1.0), _row("b", 15, 0.5, 2.0)]
    assert not started_order(capped, "q", RABBIT)[1].inverted_by
