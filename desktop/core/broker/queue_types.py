"""The shared shapes of what the Queues screen and `celery-desk queues` read from a broker.

Each broker module (queue_redis, queue_rabbitmq) answers in these, so the screen, the CLI and
the dispatch (queues) never ask which broker they read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop.core.broker.queue_messages import Message

HTTP_TIMEOUT_S = 5.0


class QueueError(RuntimeError):
    """The broker could not be asked; the message says why in a sentence."""


@dataclass(frozen=True)
class Waiting:
    """A message at its place in the delivery order (0: delivered next)."""

    position: int
    step: int | None  # the Redis priority step list it sits in
    message: Message
    raw: bytes | None = None  # Redis: the stored value, to remove exactly this message


@dataclass(frozen=True)
class Held:
    """A message a worker took and has not acknowledged yet."""

    queue: str
    delivery_tag: str
    message: Message


@dataclass(frozen=True)
class Head:
    """The longest-waiting message of one first-in-first-out list (a Redis priority step's
    tail, a RabbitMQ queue's head): only what can say how long it has waited
    (queue_latency.oldest_waiting)."""

    identity: str | None  # the task id, else a digest of the stored message; None: not known
    task_id: str | None = None
    sent_at: float | None = None  # the publisher's timestamp, when it set one
    eta: str | None = None
    step: int | None = None


@dataclass
class QueueCounts:
    queue: str
    waiting: int | None
    unacked: int | None = None
    consumers: int | None = None
    steps: dict[int, int] = field(default_factory=dict)  # Redis: waiting per priority step
    rate_in: float | None = None  # messages/s, when the broker says
    rate_out: float | None = None
    error: str = ""
    heads: list[Head] = field(default_factory=list)  # each FIFO list's oldest, when read
