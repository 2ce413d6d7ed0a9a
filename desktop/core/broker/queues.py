"""What waits in each queue, in the order the broker will deliver it, without consuming it.

One inspector per broker answers in the shared shapes (queue_types): Redis lists read without
popping (queue_redis), RabbitMQ counts by passive declare and contents through its management
API (queue_rabbitmq). This module picks the inspector for a broker URL and composes what the
Queues screen (snapshot) and `celery-desk queues` (report) show.

Message bodies are decoded from JSON only; anything else is "not decoded" with its content type.
Whatever the broker holds is outside input: one message or key that cannot be read (nested too
deep, not JSON, a key of the wrong type) shows as "not decoded" or as that queue's error, and
everything else still lists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.broker import queue_latency, server_info
from desktop.core.broker.queue_latency import Oldest
from desktop.core.broker.queue_messages import HIDDEN
from desktop.core.broker.queue_rabbitmq import RabbitQueues
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.queue_types import Head, Held, QueueCounts, QueueError, Waiting
from desktop.core.broker.server_info import ServerInfo

Inspector = RedisQueues | RabbitQueues
# Queues counted per round trip when a person waits on the read (a refresh asked by hand):
# progress between rounds, and a Cancel that stops before the next.
COUNT_CHUNK = 100


class ReadCancelled(Exception):
    """A read of the queues stopped by the person before its end."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"the read was cancelled after {done} of {total} queues; the previous read is shown"
        )
        self.done, self.total = done, total


def inspector(
    broker_url: str,
    config: EffectiveConfig,
    management_url: str = "",
    hidden: ArgumentRedactor = HIDDEN,
) -> Inspector:
    """`hidden`: the profile's redacted argument names, hidden in every message shown."""
    if broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return RabbitQueues(broker_url, management_url, hidden)
    return RedisQueues(broker_url, config, hidden)


@dataclass
class Snapshot:
    """One refresh of the Queues screen: every queue's counts, the selected queue's page."""

    counts: list[QueueCounts]
    queue: str | None = None  # the queue the page and the held list were read for
    waiting: list[Waiting] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    waiting_error: str = ""
    oldest: dict[str, Oldest] = field(default_factory=dict)  # queues where something waits
    server: ServerInfo | None = None  # the broker server, when the refresh asked (Overview)

    def priorities_seen(self) -> dict[str, int]:
        """Task id -> priority of every message read (waiting or taken and unacknowledged):
        the priority of tasks the panel did not send, which no event carries."""
        found: dict[str, int] = {}
        for message in [w.message for w in self.waiting] + [h.message for h in self.held]:
            if message.id and isinstance(message.priority, int):
                found[message.id] = message.priority
        return found


def snapshot(
    source: Inspector,
    names: list[str],
    selected: str | None,
    limit: int,
    peek: bool,
    journal: queue_latency.SentTimes | None = None,
    memory: queue_latency.FirstSeen | None = None,
    with_server: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Snapshot:
    """`peek`: read RabbitMQ contents (which marks them redelivered); Redis is always read,
    since looking at its lists takes nothing. Each queue's oldest waiting message is dated by
    its own timestamp, the journal's send time, or `memory` (queue_latency). `with_server`:
    the broker server's version, latency and totals too (server_info), for the Overview.
    `progress(done, total)` and `cancel`: the queues counted COUNT_CHUNK at a time, told after
    each round, and ReadCancelled raised before the next once `cancel` is set."""
    known = memory.last_heads() if memory is not None else None
    counted = _counted(source, names, known, progress, cancel)
    if memory is not None:
        memory.keep_heads(counted)
    sent = queue_latency.journal_sent(journal, counted)
    oldest = queue_latency.oldest_per_queue(counted, sent, memory, time.time())
    taken = Snapshot(counted, selected, oldest=oldest)
    if with_server:
        taken.server = server_info.read(source)
    if selected is None:
        return taken
    if isinstance(source, RedisQueues) or peek:
        try:
            taken.waiting = source.waiting(selected, 0, limit)
        except QueueError as exc:
            taken.waiting_error = str(exc)
    else:
        taken.waiting_error = (
            "RabbitMQ shows contents only by taking messages and putting them back, which marks "
            "them redelivered: tick 'Show contents' to do that."
        )
    taken.held = source.unacked(selected)
    return taken


def _counted(
    source: Inspector,
    names: list[str],
    known: Mapping[tuple[str, int | None], Head] | None,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> list[QueueCounts]:
    if progress is None and cancel is None:
        return source.counts(names, known=known)
    counted: list[QueueCounts] = []
    for start in range(0, len(names), COUNT_CHUNK):
        if cancel is not None and cancel.is_set():
            raise ReadCancelled(len(counted), len(names))
        counted += source.counts(names[start : start + COUNT_CHUNK], known=known)
        if progress is not None:
            progress(len(counted), len(names))
    return counted


def report(
    source: Inspector,
    queues: list[str],
    limit: int,
    consumers: dict[str, int] | None = None,
    journal: queue_latency.SentTimes | None = None,
) -> list[dict[str, Any]]:
    """What `celery-desk queues --json` prints: counts, the age of the oldest waiting message
    (queue_latency; a one-shot run has no first-seen memory, so a message nothing dates is
    null with source null), and the next `limit` messages in delivery order. `consumers`
    (from workers' `inspect active_queues`) fills what Redis cannot say; RabbitMQ counts its
    own consumers."""
    found = []
    counted = source.counts(queues)
    pages: dict[str, list[Waiting]] = {}
    errors: dict[str, str] = {}
    for counts in counted:
        if limit > 0 and counts.waiting:
            try:
                pages[counts.queue] = source.waiting(counts.queue, 0, limit)
            except QueueError as exc:
                errors[counts.queue] = str(exc)
        if not counts.heads and pages.get(counts.queue):  # RabbitMQ: the head, as read
            counts.heads = [queue_latency.head_of(pages[counts.queue][0])]
    sent = queue_latency.journal_sent(journal, counted)
    oldest = queue_latency.oldest_per_queue(counted, sent, None, time.time())
    for counts in counted:
        entry: dict[str, Any] = {
            "queue": counts.queue,
            "waiting": counts.waiting,
            "unacked": counts.unacked,
            "consumers": counts.consumers
            if counts.consumers is not None
            else (consumers or {}).get(counts.queue, 0 if consumers is not None else None),
        }
        if counts.steps:
            entry["steps"] = {str(step): n for step, n in sorted(counts.steps.items())}
        if counts.error:
            entry["error"] = counts.error
        dated = oldest.get(counts.queue)
        entry.update(dated.to_json() if dated else queue_latency.NOT_WAITING)
        if counts.queue in errors:
            entry["next_error"] = errors[counts.queue]
        entry["next"] = [item.message.to_json() for item in pages.get(counts.queue, [])]
        found.append(entry)
    return found
