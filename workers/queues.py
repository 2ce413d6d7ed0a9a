"""Queues and routes of the shipped app, built for an optional name prefix.

The prefix exists so that tests (and people sharing one RabbitMQ) can use names unique to them:
it goes in front of every queue, exchange and routing key, and the routes follow it, so a task
never lands in an unprefixed queue by accident.
"""

from __future__ import annotations

import os

from kombu.entity import Exchange, Queue

PREFIX_ENV = "CELERY_DESK_QUEUE_PREFIX"
QUEUE_NAMES = ("queue1", "queue2", "tasks")
DEFAULT_QUEUE = "tasks"
MAX_PRIORITY = 10
"""RabbitMQ only orders by priority in queues declared with x-max-priority; Redis ignores it."""

ROUTED_TASKS = {
    "workers.tasks.task1": "queue1",
    "workers.tasks.task2": "queue2",
}


def prefix_from_env() -> str:
    return os.environ.get(PREFIX_ENV, "")


def queue_names(prefix: str = "") -> list[str]:
    return [prefix + name for name in QUEUE_NAMES]


def build_queues(prefix: str = "") -> list[Queue]:
    """One direct exchange per queue, named alike, so a queue can be declared on its own."""
    return [
        Queue(
            name,
            Exchange(name, type="direct"),
            routing_key=name,
            queue_arguments={"x-max-priority": MAX_PRIORITY},
        )
        for name in queue_names(prefix)
    ]


def build_routes(prefix: str = "") -> dict[str, dict[str, str]]:
    """Routes by queue name; Celery resolves the name against task_queues, exchange included."""
    return {task: {"queue": prefix + queue} for task, queue in ROUTED_TASKS.items()}


def default_queue(prefix: str = "") -> str:
    return prefix + DEFAULT_QUEUE
