"""The Overview's rules (monitor/glance.py), the rate engine's sparkline slices, and what is
read of a broker server (broker/server_info.py) from odd answers."""

from __future__ import annotations

from typing import Any

from desktop.core.broker.queue_latency import FROM_JOURNAL, Oldest
from desktop.core.broker.queue_types import QueueCounts
from desktop.core.broker.server_info import RABBITMQ, read_rabbitmq, size_text
from desktop.core.monitor.glance import (
    concurrency_of,
    consumers_per_queue,
    queue_glances,
)
from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import EventRecord, StateDiff


def test_consumers_come_from_the_broker_else_from_every_online_worker() -> None:
    counts = [
        QueueCounts("a", 3),  # Redis: no consumer count of its own
        QueueCounts("b", 0),
        QueueCounts("c", 5, consumers=2),  # RabbitMQ says
        QueueCounts("d", 4),
    ]
    oldest = {"a": Oldest(12.0, FROM_JOURNAL, "t1")}
    queues = {"w1@h": ["a", "b"], "w2@h": ["a"], "gone@h": ["d"]}
    online = ["w1@h", "w2@h"]  # gone@h is offline: it consumes nothing now
    glances = {g.queue: g for g in queue_glances(counts, oldest, queues, online)}
    assert glances["a"].consumers == 2 and glances["a"].oldest == oldest["a"]
    assert glances["b"].consumers == 1 and not glances["b"].unconsumed
    assert glances["c"].consumers == 2
    assert glances["d"].consumers == 0 and glances["d"].unconsumed
    assert consumers_per_queue(queues, online) == {"a": 2, "b": 1}


def test_a_worker_whose_queues_are_not_known_yet_makes_nobody_unknown() -> None:
    counts = [QueueCounts("a", 3), QueueCounts("b", 2)]
    glances = {g.queue: g for g in queue_glances(counts, {}, {"w1@h": ["a"]}, ["w1@h", "new@h"])}
    assert glances["a"].consumers == 1
    assert glances["b"].consumers is None and not glances["b"].unconsumed
    # No worker online at all: nobody consumes anything, surely.
    alone = queue_glances(counts, {}, {}, [])
    assert [g.consumers for g in alone] == [0, 0] and all(g.unconsumed for g in alone)
    # Nothing waiting is never alarming, and an uncounted queue neither.
    quiet = queue_glances([QueueCounts("e", 0), QueueCounts("f", None)], {}, {}, [])
    assert not any(g.unconsumed for g in quiet)


def test_concurrency_is_the_running_pool_else_the_configured_one() -> None:
    assert concurrency_of({"processes": 3, "concurrency": 8}) == 3
    assert concurrency_of({"processes": None, "concurrency": 8}) == 8
    assert concurrency_of({"concurrency": "8"}) is None
    assert concurrency_of({}) is None


def test_binned_rates_are_per_second_means_over_slices_of_the_window() -> None:
    rates = Rates(window_s=900)
    now = 10_000.0
    events = [EventRecord(f"s{i}", "task-succeeded", now - 5, "{}") for i in range(60)]
    events += [EventRecord(f"f{i}", "task-failed", now - 899, "{}") for i in range(30)]
    rates.add(StateDiff(events=events), now=now)
    succeeded = rates.binned("state", "succeeded", 30, now=now)
    failed = rates.binned("state", "failed", 30, now=now)
    assert len(succeeded) == 30 and succeeded[-1] == 2.0 and sum(succeeded[:-1]) == 0
    assert failed[0] == 1.0 and sum(failed[1:]) == 0
    assert rates.total("state", "succeeded") == 60 and rates.total("state", "failed") == 30


class Overview:
    """A RabbitQueues stand-in that answers the management API's overview as given."""

    management_url = "http://rabbit:15672"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def overview(self) -> Any:
        return self.answer


def test_rabbitmq_totals_read_from_odd_answers_never_raise() -> None:
    info = read_rabbitmq(
        Overview(  # type: ignore[arg-type]
            {
                "rabbitmq_version": "3.13.1",
                "queue_totals": {"messages_ready": 7, "messages_unacknowledged": "2"},
                "object_totals": {"consumers": 3, "connections": True},
            }
        )
    )
    assert info.kind == RABBITMQ and info.version == "3.13.1"
    assert (info.messages_ready, info.messages_unacked, info.consumers) == (7, 2, 3)
    assert info.clients is None  # a bool is not a count
    assert info.latency_ms is not None and info.latency_of == "management API"
    assert read_rabbitmq(Overview(["not", "an", "object"])).error  # type: ignore[arg-type]
    assert read_rabbitmq(Overview({"queue_totals": "x"})).messages_ready is None  # type: ignore[arg-type]


def test_sizes_read_as_people_read_them() -> None:
    assert size_text(None) == ""
    assert size_text(812) == "812 B"
    assert size_text(1_468_006) == "1.4 MB"
    assert size_text(3 * 1024**3) == "3.0 GB"
