"""The broker's priority rules (desktop/core/app/priorities.py): caps, notes and delivery."""

from __future__ import annotations

from kombu import Exchange, Queue

from desktop.core.app import priorities
from desktop.core.app.effective_config import EffectiveConfig
from tests.factories import app_config


def _rabbit() -> EffectiveConfig:
    return app_config(
        "amqp://",
        task_queues=[
            Queue("hi", Exchange("hi"), routing_key="hi", queue_arguments={"x-max-priority": 10}),
            Queue("flat", Exchange("flat"), routing_key="flat"),
        ],
    )


def test_what_each_broker_does_to_a_priority_it_does_not_take_as_given() -> None:
    rabbit = _rabbit()
    assert priorities.capped(rabbit, 5, "hi") == ""
    assert priorities.capped(rabbit, 12, "hi") == (
        "priority 12 is above the x-max-priority 10 of queue 'hi': it is treated as 10"
    )
    assert priorities.capped(rabbit, 3, "flat") == (
        "queue 'flat' has no x-max-priority: RabbitMQ ignores priority 3"
    )
    redis = app_config()
    assert redis.priority_range is not None
    top = redis.priority_range[1]
    assert priorities.capped(redis, top, "q") == ""
    assert priorities.capped(redis, top + 1, "q") == (
        f"priority {top + 1} is above kombu's maximum {top}: it is treated as {top}"
    )


def test_the_queues_screen_note_follows_the_broker_and_its_steps() -> None:
    rabbit = priorities.broker_note(_rabbit())
    assert rabbit.startswith("RabbitMQ: a higher number runs first") and "x-max-priority" in rabbit
    redis = app_config(broker_transport_options={"priority_steps": [0, 5, 9]})
    note = priorities.broker_note(redis)
    assert note.startswith("Redis: a lower number runs first; priorities go to the steps 0, 5, 9")


def test_the_steps_a_queue_keeps_are_the_panels_and_the_apps() -> None:
    redis = app_config(broker_transport_options={"priority_steps": [0, 5]})
    assert priorities.stored_steps(redis) == [0, 5]
    assert [priorities.step_key(redis, "q", s) for s in (0, 5)] == ["q", f"q{redis.sep}5"]
    assert priorities.redis_step(redis, 4) == 0 and priorities.redis_step(redis, 7) == 5
