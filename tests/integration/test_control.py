"""Control actions against a real broker: send again reads stored arguments without eval."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from desktop.core.app.panel_app import panel_app
from desktop.core.broker.control import ControlError, literal
from desktop.core.broker.retrying import send_again


def test_literal_reads_argsrepr_and_refuses_code() -> None:
    assert literal("(1, 2)", ()) == (1, 2)
    assert literal("{'message': 'hi'}", {}) == {"message": "hi"}
    assert literal(None, ()) == ()
    with pytest.raises(ControlError, match="not a literal"):
        literal("__import__('os').system('true')", ())


def test_send_again_puts_the_same_call_on_the_queue(embedded_redis: Any, run_id: str) -> None:
    queue = f"desk-test-retry-{run_id}"
    app = panel_app(embedded_redis.url(0))
    client = redis.Redis.from_url(embedded_redis.url(0))
    try:
        new_id = send_again(
            app,
            {"name": "workers.tasks.t1", "args": "(1, 2)", "kwargs": "{'message': 'again'}",
             "queue": queue, "priority": None},
        )  # fmt: skip
        waiting = client.lrange(queue, 0, -1)
        assert len(waiting) == 1
        assert new_id.encode() in waiting[0]
        assert b"again" in waiting[0]
        with pytest.raises(ControlError, match="name"):
            send_again(app, {"name": None})
    finally:
        client.delete(queue)
        client.close()
        app.close()


def test_shortened_arguments_are_refused() -> None:
    with pytest.raises(ControlError, match="shortened"):
        literal("('" + "x" * 1100 + "...',)", ())
    with pytest.raises(ControlError, match="shortened"):
        literal("([[[...]]],)", ())


@pytest.mark.rabbitmq
def test_send_again_to_a_priority_queue_on_rabbitmq(amqp_url: str, run_id: str) -> None:
    """The queue is declared with the x-max-priority the workers use, so RabbitMQ accepts it."""
    from kombu import Connection

    from desktop.core.settings.profile_model import QueueSpec

    name = f"cdtest-{run_id}-retry"
    with Connection(amqp_url) as conn:  # created first as the workers would: priority 10
        channel = conn.channel()
        from kombu.entity import Exchange, Queue

        Queue(name, Exchange(name, type="direct"), routing_key=name,
              queue_arguments={"x-max-priority": 10})(channel).declare()  # fmt: skip
    app = panel_app(amqp_url, "", None, [QueueSpec(name, 10, [name])])
    try:
        send_again(app, {"name": "workers.tasks.add", "args": "(1, 2)", "kwargs": "{}",
                         "queue": name, "priority": 9})  # fmt: skip
        with Connection(amqp_url) as conn:
            _, count, _ = conn.channel().queue_declare(name, passive=True)
        assert count == 1
    finally:
        app.close()
        with Connection(amqp_url) as conn:
            channel = conn.channel()
            channel.queue_delete(name)
            channel.exchange_delete(name)
