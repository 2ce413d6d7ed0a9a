"""The cluster at a glance: the rules the Overview screen shows, kept Qt-free and testable.

Why a module of its own: the Overview joins what other parts read (the Queues screen's broker
snapshot, the workers' `inspect` replies, their heartbeats) and decides two things no other
screen decides the same way: how many consume a queue when the broker does not say (Redis),
and when a queue is alarming (messages wait and nobody consumes them). Each input keeps its
own home (queues.snapshot, control.inspect_workers, state.worker_online); only the joining
is here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from desktop.core.broker.queue_latency import Oldest
from desktop.core.broker.queue_types import QueueCounts


def concurrency_of(facts: Mapping[str, Any]) -> int | None:
    """A worker's pool size from its `inspect` facts (control.inspect_workers): the processes
    it runs now (autoscale moves it), else its configured concurrency."""
    value = facts.get("processes") or facts.get("concurrency")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def consumers_per_queue(
    worker_queues: Mapping[str, Sequence[str]], online: Collection[str]
) -> dict[str, int]:
    """How many online workers consume each queue, from each worker's consumed queues
    (`inspect active_queues`, as control.inspect_workers keeps them)."""
    counted: dict[str, int] = {}
    for node in online:
        for queue in worker_queues.get(node, ()):
            counted[queue] = counted.get(queue, 0) + 1
    return counted


@dataclass(frozen=True)
class QueueGlance:
    """One queue as the Overview shows it."""

    queue: str
    waiting: int | None  # None: the broker could not count it (`error` says why)
    oldest: Oldest | None  # None: nothing waits
    consumers: int | None  # None: not known (a worker online whose queues are not known yet)
    error: str = ""

    @property
    def unconsumed(self) -> bool:
        """Messages wait and no worker takes them: they will wait forever."""
        return bool(self.waiting) and self.consumers == 0


def queue_glances(
    counts: Sequence[QueueCounts],
    oldest: Mapping[str, Oldest],
    worker_queues: Mapping[str, Sequence[str]],
    online: Collection[str],
) -> list[QueueGlance]:
    """Every queue the broker was read for, with its consumers: the broker's own count when
    it keeps one (RabbitMQ), else the online workers that said they consume it. A count
    from the workers is exact only once every online worker said what it consumes; until
    then a queue no known worker consumes is "not known", never "nobody"."""
    derived = consumers_per_queue(worker_queues, online)
    every_worker_known = all(node in worker_queues for node in online)
    found = []
    for count in counts:
        consumers = count.consumers
        if consumers is None:
            seen = derived.get(count.queue, 0)
            consumers = seen if seen or every_worker_known else None
        found.append(
            QueueGlance(count.queue, count.waiting, oldest.get(count.queue), consumers, count.error)
        )
    return found
