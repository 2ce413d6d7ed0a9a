"""Queue latency: how long the oldest message of a queue has been waiting, the one home of that
rule for the Queues screen, its chart and `celery-desk queues`.

A Celery message says nothing of when it was sent (protocol 2 has no send time), so a
waiting message's age comes from the first of:
1. the message itself: the AMQP `timestamp` property or RabbitMQ's `timestamp_in_ms` header,
   when its publisher set them (queue_messages.published_at);
2. the journal: the task-sent event's time for its task id (or when the panel sent it);
3. the panel's own memory: when it first saw that message at the head of its list
   (FirstSeen), a lower bound, since it may have waited before the panel looked.
A message with an ETA has waited only since it became due. Each list is first in, first out,
so its oldest is its head (on Redis each priority step list's tail, the one
queue_redis.RedisQueues.counts reads; on RabbitMQ the head only); the queue's oldest is the
oldest of those heads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from desktop.core.broker.queue_types import Head, QueueCounts, Waiting

FROM_MESSAGE = "message"  # the publisher's timestamp
FROM_JOURNAL = "journal"  # the task-sent event (or the panel's own send)
FROM_FIRST_SEEN = "first seen"  # when the panel first saw it at the head: a lower bound
FIRST_SEEN_PER_QUEUE = 1_000  # the memory's bound, per queue
# How long a queue's oldest may wait before the screens mark it: amber from a minute, red
# from ten (the Queues screen's Oldest column and the Overview's queues alike).
OLDEST_WARNING_S = 60.0
OLDEST_ERROR_S = 600.0


def head_of(entry: Waiting) -> Head:
    """A list's oldest message as read from the broker, reduced to what dates it."""
    message = entry.message
    identity = message.id
    if identity is None and entry.raw is not None:
        identity = "sha256:" + hashlib.sha256(entry.raw).hexdigest()[:32]
    return Head(identity, message.id, message.sent_at, message.eta, entry.step)


@dataclass(frozen=True)
class Oldest:
    """The age of a queue's oldest waiting message, and what says it."""

    age_s: float | None  # None: waiting, but nothing says since when
    source: str  # FROM_MESSAGE, FROM_JOURNAL, FROM_FIRST_SEEN, or "" when not known
    task_id: str | None = None
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "oldest_age_s": None if self.age_s is None else round(self.age_s, 3),
            "oldest_source": self.source or None,
            "oldest_id": self.task_id,
        }


NOT_WAITING = {"oldest_age_s": None, "oldest_source": None, "oldest_id": None}


class FirstSeen:
    """When the panel first saw each message at a head, per queue, for as long as it stays
    there. Read and written from the refresh jobs' pool threads, hence the lock; bounded per
    queue, forgetting what it saw first (in a FIFO list, what has surely gone)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, float]] = {}
        self._heads: dict[tuple[str, int | None], Head] = {}  # the last refresh's heads

    def last_heads(self) -> dict[tuple[str, int | None], Head]:
        """(queue, step) -> the head the last refresh read there: a head still there is not
        sent again (queue_redis.RedisQueues.counts `known`)."""
        with self._lock:
            return dict(self._heads)

    def keep_heads(self, counts: list[QueueCounts]) -> None:
        with self._lock:
            self._heads = {(c.queue, h.step): h for c in counts for h in c.heads}

    def saw(self, queue: str, identities: Iterable[str], now: float) -> dict[str, float]:
        """Notes these identities as seen now unless seen before; their first-seen times.
        What the queue's memory held and is not among them has left the head: forgotten."""
        with self._lock:
            known = self._seen.get(queue, {})
            current = {identity: known.get(identity, now) for identity in identities}
            if len(current) > FIRST_SEEN_PER_QUEUE:
                kept = sorted(current.items(), key=lambda item: item[1])[-FIRST_SEEN_PER_QUEUE:]
                current = dict(kept)
            if current:
                self._seen[queue] = current
            else:
                self._seen.pop(queue, None)
            return dict(current)

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()
            self._heads.clear()


def _due_at(eta: str | None) -> float | None:
    if not eta:
        return None
    try:
        due = datetime.fromisoformat(eta)
    except ValueError:
        return None
    return due.timestamp() if due.tzinfo is not None else None  # naive: whose clock?


def oldest_waiting(
    heads: list[Head],
    sent: Mapping[str, float],
    first_seen: Mapping[str, float],
    now: float,
) -> Oldest | None:
    """The oldest of a queue's heads; None when nothing waits. `sent`: task id -> the
    journal's send time; `first_seen`: identity -> when the panel first saw it at a head
    (FirstSeen.saw). A head nothing dates leaves the age unknown only if no other head is
    dated: the oldest known is then a lower bound, said by its source."""
    if not heads:
        return None
    found: Oldest | None = None
    for head in heads:
        since, source = _since(head, sent, first_seen)
        if since is None:
            continue
        due = _due_at(head.eta)
        if due is not None and due > since:
            since = due  # it was not meant to run before then
        age = max(0.0, now - since)
        if found is None or found.age_s is None or age > found.age_s:
            found = Oldest(age, source, head.task_id, head.step)
    return found or Oldest(None, "", heads[0].task_id, heads[0].step)


def _since(
    head: Head, sent: Mapping[str, float], first_seen: Mapping[str, float]
) -> tuple[float | None, str]:
    if head.sent_at is not None:
        return head.sent_at, FROM_MESSAGE
    if head.task_id and head.task_id in sent:
        return sent[head.task_id], FROM_JOURNAL
    if head.identity and head.identity in first_seen:
        return first_seen[head.identity], FROM_FIRST_SEEN
    return None, ""


class SentTimes(Protocol):
    """The journal, as far as latency reads it (journal_reader.JournalReader.rows)."""

    def rows(self, task_ids: Iterable[str]) -> Mapping[str, Any]: ...


def journal_sent(journal: SentTimes | None, counts: list[QueueCounts]) -> dict[str, float]:
    """The journal's send time of every head's task id: one query for all queues."""
    ids = [head.task_id for c in counts for head in c.heads if head.task_id]
    if journal is None or not ids:
        return {}
    found = {}
    for task_id, record in journal.rows(ids).items():
        sent = record.get("sent") if isinstance(record, Mapping) else None
        if isinstance(sent, int | float):
            found[task_id] = float(sent)
    return found


def oldest_per_queue(
    counts: list[QueueCounts],
    sent: Mapping[str, float],
    memory: FirstSeen | None,
    now: float,
) -> dict[str, Oldest]:
    """Every counted queue's oldest waiting message (queues where nothing waits are left
    out). `memory` None (a one-shot CLI run): no first-seen times, so an undated head is
    unknown rather than "just seen"."""
    found = {}
    for entry in counts:
        if entry.waiting is None:
            continue  # not counted this time (its error says why): what was seen stays
        identities = [h.identity for h in entry.heads if h.identity]
        seen = memory.saw(entry.queue, identities, now) if memory is not None else {}
        if entry.waiting:  # waiting, but no head read (RabbitMQ stamps nothing): unknown
            found[entry.queue] = oldest_waiting(entry.heads, sent, seen, now) or Oldest(None, "")
    return found
