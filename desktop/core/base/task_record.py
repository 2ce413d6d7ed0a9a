"""A task as the journal stores it, and which queue a task is in.

`TaskRecord` is one row of the journal's `tasks` table: the journal returns it, the CLI prints
it, the Tasks screen and the Builder read it, `control.send_again` and `canvas.recall` send it
again. It lives here, at the bottom layer, because the broker and canvas packages (below the
journal's monitor package) take it too. Its keys are the table's columns, in their order.

The queue rule lived in five places and they disagreed (recall ignored the routing key, the
charts ignored the queue the panel recorded): the queue is the one the panel recorded when it
sent the task, else the routing key the task's events carry, named by the app's routing (a
routing key -> queue map) when the caller knows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, cast


class TaskRecord(TypedDict):
    id: str
    name: str | None
    state: str
    queue: str | None  # what the panel recorded when it sent the task (events never say)
    routing_key: str | None
    exchange: str | None
    priority: int | None  # recorded on sending, or learned from the workers' delivery info
    worker: str | None
    args: str | None  # Celery's argsrepr
    kwargs: str | None
    result: str | None
    exception: str | None
    traceback: str | None
    sent: float | None
    received: float | None
    started: float | None
    finished: float | None
    runtime: float | None
    retries: int | None
    parent_id: str | None
    root_id: str | None
    eta: str | None
    expires: str | None
    submitted: int  # 1 when the panel itself sent it
    updated: float
    retry_of: str | None  # the task this one sends again (schema 4), None for the rest


# The journal's columns, in the table's order.
TASK_RECORD_KEYS: tuple[str, ...] = tuple(TaskRecord.__annotations__)


@dataclass(frozen=True)
class Submitted:
    """A task the panel sent, as the journal keeps it before any event about it arrives."""

    task_id: str
    name: str
    args: str | None = None
    kwargs: str | None = None
    queue: str | None = None
    priority: int | None = None
    parent_id: str | None = None
    root_id: str | None = None
    retry_of: str | None = None


def task_record(row: Mapping[str, Any]) -> TaskRecord:
    """A row read with `SELECT *` from the journal's tasks table as a TaskRecord (SQLite hands
    back a plain mapping; the table's schema is what makes it one)."""
    return cast(TaskRecord, dict(row))


def queue_of_routing_key(
    routing_key: str | None, routing: Mapping[str, str] | None = None
) -> str | None:
    """The queue a routing key delivers to: the app's routing names the keys that differ from
    their queue's name (`EffectiveConfig.routing()`); any other key is its queue's name."""
    if not routing_key or not routing:
        return routing_key or None
    return routing.get(routing_key, routing_key)


def queue_of(record: Mapping[str, Any], routing: Mapping[str, str] | None = None) -> str | None:
    """The queue of a task (a TaskRecord, or any mapping with its `queue`/`routing_key`): the
    one the panel recorded when sending, else where its routing key delivers; None if neither
    is known."""
    queue = record.get("queue")
    if queue:
        return str(queue)
    routing_key = record.get("routing_key")
    return queue_of_routing_key(str(routing_key) if routing_key else None, routing)
