"""The journal on PostgreSQL (history/pg_journal.py) against a real server of the tests' own:
the SQLite journal's upsert rules, idempotent writes from two recorders, migrations, retention
by one recorder at a time."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from desktop.core.base.task_record import TaskRecord
from desktop.core.base.task_states import FINISHED_ORDERED
from desktop.core.monitor.backend_scan import BackendResult
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_schema import JournalUnwritable
from desktop.core.monitor.state import ClusterState
from tests.factories import task_row

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_retention import PRUNE_LOCK  # noqa: E402
from desktop.core.history.pg_schema import SCHEMA_VERSION, HistorySchemaTooNew  # noqa: E402


@pytest.fixture
def url(postgres_server: Any, pg_database: str) -> str:
    return str(postgres_server.url(pg_database))


@pytest.fixture
def journal(url: str) -> Iterator[PgJournal]:
    opened = PgJournal(url)
    yield opened
    opened.close()


def task_events(task_id: str, now: float, **extra: Any) -> list[dict[str, Any]]:
    common = {"uuid": task_id, "hostname": "w@test", "local_received": now}
    return [
        {**common, "type": "task-received", "timestamp": now, "name": "t.add", **extra},
        {**common, "type": "task-started", "timestamp": now + 0.005},
        {**common, "type": "task-succeeded", "timestamp": now + 0.01, "result": "3"},
    ]


def test_a_late_event_never_turns_a_finished_task_back_and_events_are_kept_once(
    journal: PgJournal,
) -> None:
    """As the SQLite journal's test_well_formed_lifecycle_and_a_late_event."""
    now = time.time()
    diff = ClusterState().apply(task_events("t1", now, args="(1, 2)"))
    journal.write(diff.tasks_added, diff.events)
    late = ClusterState().apply([task_events("t1", now)[0]])  # state forgot t1; late event
    journal.write(late.tasks_added, late.events)
    row = journal.rows(["t1"])["t1"]
    assert row["state"] == "SUCCESS" and row["result"] == "3" and row["args"] == "(1, 2)"
    assert [e["type"] for e in journal.timeline("t1")] == [
        "task-received", "task-started", "task-succeeded"
    ]  # fmt: skip


STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "custom", *FINISHED_ORDERED)


def test_every_pair_of_states_ends_as_on_sqlite(journal: PgJournal, tmp_path: Path) -> None:
    """One rule, both engines: any state written over any other leaves the same row in
    PostgreSQL as in SQLite (a finished state is never overwritten by an unfinished one)."""
    sqlite = Journal(tmp_path / "j.sqlite3")
    pairs = [(a, b) for a in STATES for b in STATES]
    first = [task_row(f"{a}>{b}", state=a, name="n", worker="w1", updated=1.0) for a, b in pairs]
    then = [task_row(f"{a}>{b}", state=b, result="r", updated=2.0) for a, b in pairs]
    for engine in (journal, sqlite):
        engine.write(first, [])
        engine.write(then, [])
    ids = [f"{a}>{b}" for a, b in pairs]
    on_pg, on_sqlite = journal.rows(ids), sqlite.rows(ids)
    assert on_pg == on_sqlite
    assert on_pg["SUCCESS>STARTED"]["state"] == "SUCCESS"
    assert on_pg["STARTED>FAILURE"]["state"] == "FAILURE"
    assert (
        on_pg["REVOKED>RECEIVED"]["worker"] == "w1" and on_pg["REVOKED>RECEIVED"]["result"] == "r"
    )
    kept = {i for i in ids if on_pg[i]["state"] == i.split(">")[0] != i.split(">")[1]}
    assert kept == {f"{a}>{b}" for a in FINISHED_ORDERED for b in STATES[:5]}
    sqlite.close()


def test_two_recorders_writing_the_same_batches_at_once_store_each_once(url: str) -> None:
    """Two journals (two pools, as two recorders) write the same events in different orders
    and chunks, at once: every task once with its final state, every event once."""
    now = time.time()
    ids = [str(uuid.uuid4()) for _ in range(400)]
    batch = [e for task_id in ids for e in task_events(task_id, now)]
    recorders = [PgJournal(url), PgJournal(url)]
    failures: list[BaseException] = []

    def record(journal: PgJournal, events: list[dict[str, Any]], size: int) -> None:
        try:
            state = ClusterState()
            for start in range(0, len(events), size):
                diff = state.apply(events[start : start + size])
                journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=record, args=(recorders[0], batch, 90)),
        threading.Thread(target=record, args=(recorders[1], batch[::-1], 70)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM tasks").fetchone() == (
            400, 400
        )  # fmt: skip
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1200,)
        states = conn.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall()
    # The reversed recorder saw each task's succeeded event first, then older ones: still done.
    assert states == [("SUCCESS", 400)]
    for journal in recorders:
        journal.close()


def test_a_value_postgresql_cannot_hold_is_skipped_alone_and_counted(journal: PgJournal) -> None:
    diff = ClusterState().apply(
        task_events("good", time.time()) + task_events("bad", time.time())
        + task_events("nul", time.time())
    )  # fmt: skip
    rows = {row.id: row for row in [*diff.tasks_added, *diff.tasks_changed]}
    rows["bad"] = replace(rows["bad"], retries=2**64)  # past BIGINT
    rows["nul"] = replace(rows["nul"], name="a\x00b")  # text holds no NUL in PostgreSQL
    skipped = journal.write(rows.values(), diff.events)
    assert skipped == 2 and journal.refused == 2
    assert set(journal.rows(["good", "bad", "nul"])) == {"good"}
    assert len(journal.timeline("bad")) == 3  # its events are kept
    assert journal.last_write() is not None


def test_migrations_from_empty_then_a_newer_schema_is_refused(url: str) -> None:
    PgJournal(url).close()
    PgJournal(url).close()  # a second open migrates nothing
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
        assert {"tasks", "events", "gaps", "meta", "audit", "resolved_failures"} <= tables
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema'", (str(SCHEMA_VERSION + 7),))
    with pytest.raises(HistorySchemaTooNew) as refused:
        PgJournal(url)
    said = str(refused.value)
    assert f"schema version {SCHEMA_VERSION + 7}" in said and f"(version {SCHEMA_VERSION})" in said
    assert "****" in said and refused.value.found == SCHEMA_VERSION + 7
    with psycopg.connect(url) as conn:  # nothing written: still the newer number
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            str(SCHEMA_VERSION + 7),
        )


def test_an_unreachable_or_refusing_server_is_said_without_the_password(
    postgres_server: Any, pg_database: str, unused_port: int
) -> None:
    wrong = postgres_server.url(pg_database).replace(postgres_server.password, "not-it-s3cret")
    with pytest.raises(JournalUnwritable) as refused:
        PgJournal(wrong, connect_timeout=3)
    assert "password authentication failed" in str(refused.value)
    assert "not-it-s3cret" not in str(refused.value) and "****" in str(refused.value)
    nobody = f"postgresql://desk:pw-s3cret@127.0.0.1:{unused_port}/x"
    with pytest.raises(JournalUnwritable) as unreachable:
        PgJournal(nobody, connect_timeout=3)
    assert "pw-s3cret" not in str(unreachable.value) and str(unused_port) in str(unreachable.value)


def test_retention_keeps_the_newest_and_runs_in_one_recorder_at_a_time(
    journal: PgJournal, url: str
) -> None:
    now = time.time()
    rows = [task_row(f"t{i}", name="x", updated=now - 1000 + i) for i in range(100)]
    failed = [task_row(f"f{i}", state="FAILURE", updated=now - 2000 + i) for i in range(10)]
    events = [e for i in range(100) for e in ClusterState().apply(task_events(f"t{i}", now)).events]
    journal.write([*rows, *failed], events)
    with psycopg.connect(url, autocommit=True) as other:  # another recorder is pruning
        other.execute("SELECT pg_advisory_lock(%s)", (PRUNE_LOCK,))
        assert journal.prune(max_tasks=60) == 0 and journal.count() == 110
    assert journal.prune(max_tasks=60, failures_kept=4) == 46
    assert journal.count() == 64
    kept = journal.rows([*(r.id for r in rows), *(f.id for f in failed)])
    assert "t99" in kept and "t39" not in kept and "t40" in kept
    assert {k for k in kept if k.startswith("f")} == {"f6", "f7", "f8", "f9"}
    assert journal.timeline("t39") == [] and len(journal.timeline("t40")) == 3
    # rows 40..49 were updated more than 950.5 s ago (the clock moved a little since)
    assert journal.prune(max_tasks=1000, max_age_s=950.5, failures_kept=4) == 10


def test_gaps_reconciliation_and_backend_results_follow_the_sqlite_rules(
    journal: PgJournal,
) -> None:
    journal.write([task_row("run", state="STARTED", updated=1.0, name="n")], [])
    journal.write([task_row("done", state="SUCCESS", updated=1.0, result="1")], [])
    assert journal.unfinished_ids() == ["run"]
    assert journal.unfinished_ids(updated_before=0.5) == []
    gap = journal.open_gap(10.0, 20.0, "not listening")
    assert [g.id for g in journal.open_gaps()] == [gap]
    results = [
        BackendResult("run", "FAILURE", 15.0, exception="boom"),
        BackendResult("done", "FAILURE", 15.0),  # finished already: never overwritten
        BackendResult("new", "SUCCESS", 16.0, name="m", result="2"),
    ]
    assert journal.store_backend_results(results) == 2
    journal.close_gap(gap, "filled", 2, "2 found")
    assert journal.open_gaps() == []
    stored = journal.rows(["run", "done", "new"])
    assert [stored[t]["state"] for t in ("run", "done", "new")] == ["FAILURE", "SUCCESS", "SUCCESS"]
    assert stored["run"]["name"] == "n" and stored["run"]["exception"] == "boom"
    assert journal.note_result("new", "x") is False
    assert journal.learn_priorities({"new": 3, "nope": 1}) == ["new"]
    journal.set_final("run", "SUCCESS", "5", 30.0)
    assert journal.rows(["run"])["run"]["result"] == "5"


def test_arguments_are_stored_redacted_unless_the_profile_keeps_them(url: str) -> None:
    row = task_row("s", kwargs="{'password': 'hunter2', 'n': 1}", updated=1.0)
    hidden = PgJournal(url)
    hidden.write([row], [])
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT kwargs FROM tasks WHERE id = 's'").fetchone()
    assert stored is not None and "hunter2" not in stored[0] and "'n': 1" in stored[0]
    hidden.close()


def test_rows_are_taskrows_columns(journal: PgJournal) -> None:
    journal.write([task_row("x", updated=2.0, retries=5, runtime=0.5, sent=1.25)], [])
    stored = journal.rows(["x"])["x"]
    assert set(stored) == set(TaskRecord.__annotations__)
    assert (stored["retries"], stored["runtime"], stored["sent"]) == (5, 0.5, 1.25)
    assert stored["submitted"] == 0 and stored["priority"] is None


def test_a_server_that_goes_away_is_unwritable_then_written_again_once_back() -> None:
    """The server stopped under the recorder: a write raises JournalUnwritable with nothing
    written (the recorder keeps it in its spill); once the server is back, the pool connects
    again and the same write is stored."""
    from tests.conftest import stop_with_this_process
    from tests.postgres_server import PostgresServer

    server = PostgresServer()  # its own: stopping the session's would break other tests
    server.start()
    assert server.pid is not None
    stop_with_this_process(server.pid)
    try:
        journal = PgJournal(server.url(), wait_s=2.0)
        now = time.time()
        first = ClusterState().apply(task_events("before", now))
        journal.write(first.tasks_added, first.events)
        server.halt()
        later = ClusterState().apply(task_events("during", now))
        started = time.monotonic()
        with pytest.raises(JournalUnwritable) as refused:
            journal.write(later.tasks_added, later.events)
        assert time.monotonic() - started < 10
        assert server.password not in str(refused.value)
        server.start()
        assert server.pid is not None
        stop_with_this_process(server.pid)
        journal.write(later.tasks_added, later.events)
        assert set(journal.rows(["before", "during"])) == {"before", "during"}
        assert len(journal.timeline("during")) == 3
        journal.close()
    finally:
        server.stop()


def test_poison_values_skip_only_their_own_row(journal: PgJournal) -> None:
    """As the SQLite journal's test_poison_values_skip_only_their_own_event: values that the
    batch's COPY cannot take fail it; written again one by one, only they are skipped."""
    now = time.time()
    good = [str(uuid.uuid4()) for _ in range(50)]
    batch = [e for task_id in good for e in task_events(task_id, now)]
    poison = {
        "retries": 2**63,  # past BIGINT
        "eta": {"a": [[[[[[[[1]]]]]]]] * 3},
        "kwargs": 10**5000,  # past Python's int-to-text limit
        "name": "bad\ud800name",  # a lone surrogate UTF-8 cannot encode
        "args": "nul\x00inside",  # PostgreSQL text holds no NUL
    }
    bad_ids = [str(uuid.uuid4()) for _ in poison]
    for task_id, (key, value) in zip(bad_ids, poison.items(), strict=True):
        batch += task_events(task_id, now, **{key: value})
    diff = ClusterState().apply(batch)
    skipped = journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    stored = journal.rows([*good, *bad_ids])
    assert set(good) <= set(stored)
    assert all(stored[t]["state"] == "SUCCESS" for t in good)
    assert all(len(journal.timeline(t)) == 3 for t in good[:5])
    kept = {key: task_id in stored for key, task_id in zip(poison, bad_ids, strict=True)}
    # The state made the others storable (as for SQLite); the NUL is PostgreSQL's alone.
    assert kept == {"retries": True, "eta": True, "kwargs": True, "name": True, "args": False}
    assert stored[bad_ids[0]]["retries"] is None
    assert skipped == journal.refused == 1
    assert len(journal.timeline(bad_ids[-1])) == 3  # its events are kept (JSON escapes NUL)


def test_a_database_failure_keeps_the_batch_to_retry_never_counts_it_refused(
    journal: PgJournal, url: str
) -> None:
    """A table gone (someone reset the database) is the database's failure: the write raises
    JournalUnwritable with nothing written, and no row is counted as a value refused."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events RENAME TO events_moved")
    diff = ClusterState().apply(task_events("t", time.time()))
    with pytest.raises(JournalUnwritable, match="events"):
        journal.write(diff.tasks_added, diff.events)
    assert journal.refused == 0 and journal.rows(["t"]) == {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events_moved RENAME TO events")
    journal.write(diff.tasks_added, diff.events)  # the retry stores it
    assert set(journal.rows(["t"])) == {"t"} and len(journal.timeline("t")) == 3


def test_a_value_psycopg_cannot_adapt_is_refused_alone(journal: PgJournal) -> None:
    good, bad = task_row("good", updated=1.0), task_row("bad", updated=1.0, eta={"a": 1})
    assert journal.write([good, bad], []) == 1 and journal.refused == 1
    assert set(journal.rows(["good", "bad"])) == {"good"}
