"""Arbitrary event dicts never break the state or the journal (hypothesis)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import stored_value
from desktop.core.monitor.state import ClusterState
from desktop.core.monitor.task_query import TaskQuery
from tests.factories import task_row

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=8)
event_types = st.sampled_from(
    ["task-sent", "task-received", "task-started", "task-succeeded", "task-failed",
     "task-retried", "task-revoked", "worker-online", "worker-heartbeat", "worker-offline",
     "something-else", "task-", ""]
)  # fmt: skip
events = st.fixed_dictionaries(
    {"type": st.one_of(event_types, values)},
    optional={
        "uuid": st.one_of(st.sampled_from(["a", "b", "c"]), values),
        "hostname": st.one_of(st.just("w@h"), values),
        "timestamp": st.one_of(st.floats(0, 2e9), values),
        "name": values,
        "args": values,
        "kwargs": values,
        "result": values,
        "runtime": values,
        "retries": values,
        "exception": values,
        "routing_key": values,
        "active": values,
        "processed": values,
        "loadavg": values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.one_of(events, values), max_size=12))
def test_any_batch_is_absorbed(batch: list[object], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(Path(tmp_path_factory.mktemp("j")) / "j.sqlite3")
    state = ClusterState(max_tasks_in_memory=5)
    diff = state.apply(batch)  # type: ignore[arg-type]
    journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    assert journal.count() == len({r.id for r in [*diff.tasks_added, *diff.tasks_changed]})
    assert journal.page(TaskQuery(order_by="updated"), 0, 50) is not None
    journal.close()


def test_well_formed_lifecycle_and_a_late_event(tmp_path: Path) -> None:
    now = time.time()

    def base(timestamp: float) -> dict[str, object]:
        """Sent at `timestamp`, at the panel a millisecond later."""
        return {"uuid": "t1", "hostname": "w@h", "clock": 1,
                "timestamp": timestamp, "local_received": timestamp + 0.001}  # fmt: skip

    state = ClusterState()
    journal = Journal(tmp_path / "j.sqlite3")
    batch = [
        {**base(now), "type": "task-received", "name": "x.add", "args": "(1, 2)"},
        {**base(now + 0.1), "type": "task-started"},
        {**base(now + 0.2), "type": "task-succeeded", "result": "3", "runtime": 0.1},
        {"type": "task-succeeded"},  # malformed: no uuid
    ]
    diff = state.apply(batch)
    assert diff.malformed == 1
    assert [r.state for r in diff.tasks_added] == ["SUCCESS"]
    journal.write(diff.tasks_added, diff.events)
    fresh = ClusterState()  # the in-memory state forgot t1, then a late event arrives
    late = fresh.apply([{**base(now), "type": "task-received"}])
    journal.write(late.tasks_added, late.events)
    row = journal.get("t1")
    assert row is not None and row["state"] == "SUCCESS" and row["result"] == "3"
    # The late event is the same event again (same task, time and type): stored once.
    assert [e["type"] for e in journal.timeline("t1")] == [
        "task-received", "task-started", "task-succeeded"
    ]  # fmt: skip
    journal.close()


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    from tests.factories import task_row

    journal = Journal(tmp_path / "j.sqlite3")
    now = time.time()
    rows = [task_row(f"t{i}", name="x", sent=now, updated=now - 1000 + i) for i in range(100)]
    journal.write(rows, [])
    assert journal.prune(max_tasks=60) == 40
    assert journal.count() == 60 and journal.get("t99") and not journal.get("t10")
    # rows 40..49 were updated more than 950.5 s ago (the clock moved a little since)
    assert journal.prune(max_tasks=1000, max_age_s=950.5) == 10
    assert journal.count() == 50
    journal.close()


def test_journal_survives_a_sigkill_mid_write(tmp_path: Path) -> None:
    """A writer killed with SIGKILL in the middle of batches leaves a journal that opens."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "j.sqlite3"
    script = f"""
import time
from pathlib import Path
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import ClusterState
journal = Journal(Path({str(path)!r}))
state = ClusterState()
i = 0
print("ready", flush=True)
while True:
    batch = [{{"type": "task-succeeded", "uuid": f"u{{i}}-{{k}}", "hostname": "w@h",
              "timestamp": time.time(), "result": "x" * 500}} for k in range(200)]
    diff = state.apply(batch)
    journal.write(diff.tasks_added + diff.tasks_changed, diff.events)
    i += 1
"""
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    journal = Journal(path)
    count = journal.count()
    assert count > 0 and count % 200 == 0  # whole batches only: each is one transaction
    assert journal._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal.close()


def test_stop_is_prompt_with_a_backlog(tmp_path: Path) -> None:
    """A flood still queued when stop() is asked must not keep the batch thread writing."""
    from desktop.core.monitor.pipeline import Monitor

    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("redis://127.0.0.1:1/0", "", journal)  # nothing listens: only the backlog
    for i in range(60_000):
        monitor.stream._buffer.append(
            {"type": "task-succeeded", "uuid": f"t{i}", "hostname": "w@h", "timestamp": time.time()}
        )
    monitor.start()
    time.sleep(0.3)
    assert monitor.stop(timeout=3.0) is True
    journal.close()
    stats = monitor.stream.stats
    assert stats.received + stats.dropped_at_stop == 60_000


@pytest.fixture(scope="module")
def shared_journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    journal = Journal(tmp_path_factory.mktemp("filter") / "j.sqlite3")
    yield journal
    journal.close()


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=8), max_size=6),
    needle=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=3),
)
def test_the_live_filter_selects_what_sql_selects(
    texts: list[str], needle: str, shared_journal: Journal
) -> None:
    batch = uuid.uuid4().hex  # each example's rows apart from the ones before
    shared_journal.write([task_row(f"{batch}-{i}", args=t) for i, t in enumerate(texts)], [])
    query = TaskQuery(text=needle)
    ours = {r["id"]: r for r in shared_journal.page(TaskQuery(text=batch), 0, 100)}
    by_sql = {r["id"] for r in shared_journal.page(query, 0, 100_000) if r["id"] in ours}
    assert {i for i, r in ours.items() if query.matches(r)} == by_sql


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
              allow_infinity=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10,
)  # fmt: skip


@given(value=json_values)
def test_a_stored_repr_or_json_reads_back_as_its_value(value: object) -> None:
    plain = json.loads(json.dumps(value))  # tuples become lists, as JSON has them
    assert json.loads(json.dumps(stored_value(repr(value)))) == plain
    assert stored_value(json.dumps(value)) == plain


@given(text=st.one_of(st.text(max_size=40), st.builds(repr, values)))
def test_whatever_the_text_the_value_prints_as_strict_json(text: str) -> None:
    json.dumps(stored_value(text), allow_nan=False)


@pytest.mark.parametrize(
    "text",
    ["{1, 2}", "1e999", "NaN", "b'x'", "{(1, 2): 3}", "[1, 2, ...]", "[" * 500 + "]" * 500,
     "<object object at 0x7f3a>", "datetime.datetime(2024, 1, 1, 0, 0)", "__import__('os')"],
)  # fmt: skip
def test_what_json_cannot_hold_stays_text(text: str) -> None:
    assert stored_value(text) is text
