"""What the Queues screen asks the broker, the workers and the journal: blocking calls that its
jobs run off the GUI thread (`Jobs.blocking`), and the awaitable form of the session's Celery
app for `inspect` and `revoke`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.argument_redaction import redactor_for
from desktop.core.broker import queue_latency, queue_rabbitmq, queue_types, queues, run_order
from desktop.core.settings.profile_model import Profile

T = TypeVar("T")
PAGE = 200  # waiting messages shown for the selected queue (Redis: read without taking)
RAN_ROWS = 200  # started tasks shown; the inversion check is pairwise, so keep it bounded


@dataclass(frozen=True)
class Reading:
    """What one refresh reads: the same reading asked again while one runs is not started twice
    (its answer is on the way), another one supersedes it."""

    profile: Profile
    config: EffectiveConfig
    names: tuple[str, ...]
    selected: str | None
    management_url: str
    with_server: bool = False  # the broker server's facts too (the Overview shows them)
    # A read a person waits on (asked by hand): its progress and Cancel (common/progress.py,
    # whose `report` and `cancel` are all the pool thread touches); not part of what is read.
    progress: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Read:
    """A refresh's answer: the broker's snapshot, and what started from the selected queue
    (the journal's, most recent first; empty without a journal)."""

    snapshot: queues.Snapshot
    ran: list[run_order.Ran]


def on_broker(
    services: Any,
    profile: Profile,
    config: EffectiveConfig,
    management_url: str,
    use: Callable[[queues.Inspector], T],
) -> T:
    """Runs on a pool thread: one inspector for the profile's broker, reading the lists the
    app's workers read (config), hiding the profile's argument names, closed after `use`."""
    endpoints = services.endpoints(profile)
    hidden = redactor_for(profile.redacted_arguments)
    source = queues.inspector(endpoints.broker_url, config, management_url, hidden)
    try:
        return use(source)
    finally:
        source.close()


def read_queues(
    session: Any, journal: Any, reading: Reading, memory: queue_latency.FirstSeen | None = None
) -> Read:
    """Every queue's counts and oldest waiting message (dated by the journal's send times or
    `memory`), the selected queue's waiting page and held list, and what started from it.
    Priorities read off the broker go to the journal (session.learn_priorities)."""
    profile, config, selected = reading.profile, reading.config, reading.selected
    taken = on_broker(
        session.services,
        profile,
        config,
        reading.management_url,
        lambda source: queues.snapshot(
            source,
            list(reading.names),
            selected,
            PAGE,
            False,
            journal,
            memory,
            reading.with_server,
            reading.progress.report if reading.progress is not None else None,
            reading.progress.cancel if reading.progress is not None else None,
        ),
    )
    session.learn_priorities(taken.priorities_seen())
    ran: list[run_order.Ran] = []
    if journal is not None and selected is not None:
        ran = run_order.started_order(
            journal.started_in_queue(selected, RAN_ROWS), selected, config
        )
    return Read(taken, ran)


def read_contents(
    session: Any, reading: Reading, queue: str, limit: int
) -> list[queue_types.Waiting]:
    """RabbitMQ: the queue's first `limit` messages through the management API (which marks
    them redelivered); their priorities go to the journal."""
    found = on_broker(
        session.services,
        reading.profile,
        reading.config,
        reading.management_url,
        lambda source: source.waiting(queue, 0, limit),
    )
    session.learn_priorities(queues.Snapshot([], queue, found).priorities_seen())
    return found


def find_management(services: Any, profile: Profile) -> queue_rabbitmq.Management:
    """RabbitMQ: the profile's management API, else the one at RabbitMQ's default port."""
    endpoints = services.endpoints(profile)
    return queue_rabbitmq.find_management(endpoints.broker_url, endpoints.management_url)


def oldest_ages(taken: queues.Snapshot) -> dict[str, float]:
    """Queue -> its oldest waiting age in seconds, 0 when nothing waits; a queue whose count
    or oldest age is not known is left out (a gap in the chart, not a 0)."""
    found = {}
    for counts in taken.counts:
        oldest = taken.oldest.get(counts.queue)
        if oldest is not None and oldest.age_s is not None:
            found[counts.queue] = oldest.age_s
        elif counts.waiting == 0:
            found[counts.queue] = 0.0
    return found
