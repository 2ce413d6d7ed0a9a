"""Events are outside input: whatever a batch holds, `ClusterState.apply` + `Journal.write`
raise nothing, every well-formed event beside a hostile one is stored, and what cannot be
read is counted (issue 13, defect 7: one `retries` = 2**63 dropped a batch of 5,000)."""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import ClusterState

_ids = itertools.count()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


hostile_scalars = st.one_of(
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**400]),
    st.integers(4400, 6000).map(lambda digits: -(10**digits)),  # past int-to-text's limit
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0]),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "x" * 10_000]),
    st.booleans(),
    st.none(),
    st.binary(max_size=10),
)
hostile_values = st.one_of(
    hostile_scalars,
    st.integers(1, 1500).map(nested),  # past json's, orjson's and repr's recursion limits
    st.recursive(
        hostile_scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=3),
        ),
        max_leaves=10,
    ),
)
PAYLOAD_FIELDS = ("name", "args", "kwargs", "result", "exception", "traceback", "runtime",
                  "retries", "eta", "expires", "routing_key", "exchange", "parent_id",
                  "root_id", "queue", "clock", "pid")  # fmt: skip
REQUIRED = ("type", "uuid", "hostname", "timestamp")


# Built once (hypothesis validates a strategy each time one is made: most of the run time).
payloads = st.lists(st.tuples(st.sampled_from(PAYLOAD_FIELDS), hostile_values), max_size=4)
task_kinds = st.sampled_from(["task-received", "task-started", "task-succeeded"])
not_events = st.one_of(hostile_scalars, st.lists(hostile_scalars, max_size=2))
wrong_text = st.one_of(st.integers(), st.lists(st.none(), max_size=1))
wrong_time = st.sampled_from([math.inf, -math.inf, math.nan, "1.0", None, [1.0]])
breakage = st.one_of(
    st.tuples(st.just("not an event"), not_events),
    st.tuples(st.sampled_from(REQUIRED[1:]), st.just(KeyError)),  # missing
    st.tuples(st.sampled_from(("uuid", "hostname")), wrong_text),
    st.tuples(st.just("timestamp"), wrong_time),
)


def poisoned_event(task_id: str, now: float, kind: str, payload: list[Any]) -> dict[str, Any]:
    """Well formed where it must be (type, uuid, hostname, a finite time); anything elsewhere."""
    event = {"type": kind, "uuid": task_id, "hostname": "w@h", "timestamp": now}
    event.update(payload)
    return event


def unreadable_event(now: float, broken: str, value: Any) -> Any:
    """An event no one can place: not a dict, or a task event missing what identifies it or
    with it of the wrong type (a time that is not a finite number)."""
    if broken == "not an event":
        return value
    event: dict[str, Any] = {
        "type": "task-started", "uuid": f"u{next(_ids)}", "hostname": "w@h", "timestamp": now,
    }  # fmt: skip
    if value is KeyError:
        del event[broken]
    else:
        event[broken] = value
    return event


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Any], list[str], list[str], int]:
    """(batch, good ids, poisoned ids, unreadable count), shuffled together."""
    now = time.time()
    good = [f"good-{next(_ids)}" for _ in range(draw(st.integers(0, 4)))]
    poisoned = [f"poison-{next(_ids)}" for _ in range(draw(st.integers(0, 3)))]
    batch: list[Any] = []
    for task_id in good:
        batch += [
            {"type": "task-received", "uuid": task_id, "hostname": "w@h", "timestamp": now,
             "name": "t.add", "args": "(1, 2)", "retries": 0},
            {"type": "task-succeeded", "uuid": task_id, "hostname": "w@h",
             "timestamp": now + 0.01, "result": "3", "runtime": 0.01},
        ]  # fmt: skip
    for task_id in poisoned:
        batch.append(poisoned_event(task_id, now, draw(task_kinds), draw(payloads)))
    unreadable = [unreadable_event(now, *draw(breakage)) for _ in range(draw(st.integers(0, 4)))]
    batch += unreadable
    order = draw(st.permutations(range(len(batch))))
    return [batch[i] for i in order], good, poisoned, len(unreadable)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    opened = Journal(Path(tmp_path_factory.mktemp("property")) / "events.sqlite3")
    yield opened
    opened.close()


@settings(
    max_examples=int(os.environ.get("EVENTS_PROPERTY_EXAMPLES", 10_000)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=batches())
def test_hostile_events_never_take_good_ones_with_them(
    journal: Journal, case: tuple[list[Any], list[str], list[str], int]
) -> None:
    batch, good, poisoned, unreadable = case
    state = ClusterState()
    refused_before = journal.refused
    diff = state.apply(batch)
    skipped = journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    assert diff.malformed == unreadable  # each counted, none more
    assert skipped == journal.refused - refused_before == 0  # every value made storable
    stored = journal.rows([*good, *poisoned])
    assert all(stored[task_id]["state"] == "SUCCESS" for task_id in good)
    assert all(task_id in stored for task_id in poisoned)
    assert all(len(journal.timeline(task_id)) == 2 for task_id in good)
