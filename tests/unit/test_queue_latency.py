"""The rules of queue latency that need no broker: what dates a head, an ETA's due time, the
first-seen memory's forgetting and bound, and which publish times are believed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from desktop.core.broker import queue_latency
from desktop.core.broker.queue_latency import FirstSeen, oldest_waiting
from desktop.core.broker.queue_messages import decode_envelope, decode_envelope_headers
from desktop.core.broker.queue_types import Head, QueueCounts

NOW = 1_800_000_000.0


def test_the_message_beats_the_journal_which_beats_first_sight() -> None:
    head = Head("a", "a", sent_at=NOW - 30)
    assert oldest_waiting([head], {"a": NOW - 20}, {"a": NOW - 10}, NOW) == queue_latency.Oldest(
        30.0, queue_latency.FROM_MESSAGE, "a"
    )
    undated = Head("a", "a")
    assert oldest_waiting([undated], {"a": NOW - 20}, {"a": NOW - 10}, NOW).source == "journal"  # type: ignore[union-attr]
    assert oldest_waiting([undated], {}, {"a": NOW - 10}, NOW).age_s == 10.0  # type: ignore[union-attr]
    unknown = oldest_waiting([undated], {}, {}, NOW)
    assert unknown is not None and unknown.age_s is None and unknown.source == ""
    assert oldest_waiting([], {}, {}, NOW) is None


def test_the_oldest_of_several_heads_and_an_eta_counts_from_when_it_was_due() -> None:
    due_text = "2027-01-15T08:01:00+00:00"
    due = datetime(2027, 1, 15, 8, 1, tzinfo=UTC).timestamp()
    assert queue_latency._due_at(due_text) == due
    eta_head = Head("e", "e", sent_at=due - 3600, eta=due_text, step=0)
    not_due = oldest_waiting([eta_head], {}, {}, due - 60)
    assert not_due is not None and not_due.age_s == 0.0  # sent an hour ago, not due yet
    overdue = oldest_waiting([eta_head], {}, {}, due + 8)
    assert overdue is not None and overdue.age_s == 8.0  # waited since it became due
    other = Head("o", "o", sent_at=due, step=9)
    chosen = oldest_waiting([eta_head, other], {}, {}, due + 20)
    assert chosen is not None and chosen.age_s == 20.0 and chosen.task_id == "e"
    later = Head("o", "o", sent_at=due - 100, step=9)
    chosen = oldest_waiting([eta_head, later], {}, {}, due + 20)
    assert chosen is not None and chosen.task_id == "o" and chosen.step == 9
    assert queue_latency._due_at("not a date") is None
    assert queue_latency._due_at("2027-01-15T08:01:00") is None  # no zone: whose clock?


def test_first_seen_keeps_what_stays_at_the_head_and_forgets_what_left() -> None:
    memory = FirstSeen()
    assert memory.saw("q", ["a", "b"], 100.0) == {"a": 100.0, "b": 100.0}
    assert memory.saw("q", ["b", "c"], 105.0) == {"b": 100.0, "c": 105.0}
    assert memory.saw("q", ["a"], 110.0) == {"a": 110.0}  # back at the head: seen anew
    assert memory.saw("other", ["a"], 111.0) == {"a": 111.0}  # per queue
    assert memory.saw("q", [], 112.0) == {}
    many = [f"m{i}" for i in range(queue_latency.FIRST_SEEN_PER_QUEUE + 5)]
    assert len(memory.saw("q", many, 120.0)) == queue_latency.FIRST_SEEN_PER_QUEUE


def _envelope(headers: dict[str, object], properties: dict[str, object]) -> bytes:
    return json.dumps({
        "body": "W1tdLCB7fSwge31d", "content-type": "application/json",
        "headers": {"task": "t", "id": "i", **headers},
        "properties": {"body_encoding": "base64", **properties},
    }).encode()  # fmt: skip


def test_publish_times_are_read_from_the_timestamp_property_or_the_plugins_header() -> None:
    stamped = decode_envelope(_envelope({}, {"timestamp": 1_700_000_000}))
    assert stamped.decoded and stamped.sent_at == 1_700_000_000.0
    plugin = decode_envelope_headers(_envelope({"timestamp_in_ms": 1_700_000_000_500}, {}))
    assert plugin.id == "i" and plugin.sent_at == 1_700_000_000.5
    for nonsense in (True, "1700000000", 12, 10**15, None):
        assert decode_envelope(_envelope({}, {"timestamp": nonsense})).sent_at is None


def test_only_the_headers_are_read_for_dating_but_protocol_1_is_read_whole() -> None:
    pickled_body = json.dumps({
        "body": "gASV", "content-type": "application/x-python-serialize",
        "headers": {"task": "t", "id": "p1", "eta": "2027-01-15T08:00:00+00:00"},
        "properties": {"timestamp": 1_700_000_000},
    })  # fmt: skip
    head = decode_envelope_headers(pickled_body)  # the body is never looked at
    assert (head.id, head.eta, head.sent_at) == ("p1", "2027-01-15T08:00:00+00:00", 1.7e9)
    protocol_1 = json.dumps({
        "body": "eyJ0YXNrIjogInQiLCAiaWQiOiAidjEiLCAiYXJncyI6IFtdLCAia3dhcmdzIjoge319",
        "content-type": "application/json", "headers": {},
        "properties": {"body_encoding": "base64"},
    })  # fmt: skip
    assert decode_envelope_headers(protocol_1).id == "v1"
    assert not decode_envelope_headers(b"not json").decoded


def test_a_queue_not_counted_keeps_its_memory_and_an_empty_one_forgets_it() -> None:
    memory = FirstSeen()
    waiting = QueueCounts("q", 2, heads=[Head("a", "a")])
    assert queue_latency.oldest_per_queue([waiting], {}, memory, 100.0)["q"].age_s == 0.0
    failed = QueueCounts("q", None, error="Redis did not answer")
    assert queue_latency.oldest_per_queue([failed], {}, memory, 105.0) == {}
    dated = queue_latency.oldest_per_queue([waiting], {}, memory, 110.0)["q"]
    assert (dated.age_s, dated.source) == (10.0, queue_latency.FROM_FIRST_SEEN)
    assert queue_latency.oldest_per_queue([QueueCounts("q", 0)], {}, memory, 111.0) == {}
    assert queue_latency.oldest_per_queue([waiting], {}, memory, 112.0)["q"].age_s == 0.0
    # Waiting, but no head read (RabbitMQ without a timestamp): known to wait, age unknown.
    unread = queue_latency.oldest_per_queue([QueueCounts("r", 3)], {}, None, 112.0)["r"]
    assert unread.age_s is None and unread.to_json()["oldest_source"] is None
