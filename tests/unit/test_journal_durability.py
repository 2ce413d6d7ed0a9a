"""The journal under what it cannot take: a full database (SQLite's own SQLITE_FULL, through
`max_page_count`), values SQLite cannot hold, a journal written before gaps existed."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from desktop.core.monitor.events import CONNECTED, event_receiver, receiver_app
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_schema import SCHEMA, SCHEMA_VERSION, JournalUnwritable
from desktop.core.monitor.pipeline import JOURNAL_FAILING, JOURNAL_OK, Monitor
from desktop.core.monitor.spill import Spill
from desktop.core.monitor.state import ClusterState


def task_events(task_id: str, **extra: Any) -> list[dict[str, Any]]:
    now = time.time()
    common = {"uuid": task_id, "hostname": "w@test", "local_received": now}
    return [
        {**common, "type": "task-received", "timestamp": now, "name": "t.add", **extra},
        {**common, "type": "task-succeeded", "timestamp": now + 0.01, "result": "3"},
    ]


def fill_up(journal: Journal) -> None:
    """The database file may not grow past its current size: SQLite answers SQLITE_FULL."""
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")


def make_room(journal: Journal) -> None:
    journal._db.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_journal_raises_its_own_error_not_a_failed_rollback(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    state = ClusterState()
    fill_up(journal)
    batch = [e for _ in range(300) for e in task_events(str(uuid.uuid4()), args="x" * 500)]
    diff = state.apply(batch)
    with pytest.raises(JournalUnwritable) as raised:
        journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    assert "full" in str(raised.value), raised.value  # not "cannot rollback"
    assert "SQLITE_FULL" in str(raised.value)
    assert journal.count() == 0
    make_room(journal)
    journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)  # usable again
    assert journal.count() == 300
    journal.close()


def test_poison_values_skip_only_their_own_event(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    state = ClusterState()
    good = [str(uuid.uuid4()) for _ in range(50)]
    batch = [e for task_id in good for e in task_events(task_id)]
    poison = {
        "retries": 2**63,  # past SQLite's INTEGER
        "eta": {"a": [[[[[[[[1]]]]]]]] * 3},
        "kwargs": 10**5000,  # past Python's int-to-text limit
        "name": "bad\ud800name",  # a lone surrogate SQLite cannot encode
    }
    bad_ids = [str(uuid.uuid4()) for _ in poison]
    for task_id, (key, value) in zip(bad_ids, poison.items(), strict=True):
        batch += task_events(task_id, **{key: value})
    batch.insert(3, {"type": "task-started", "uuid": "nan", "hostname": "w", "timestamp": "x"})
    batch.insert(7, {"type": "task-started", "uuid": "inf", "hostname": "w", "timestamp": 1e999})
    diff = state.apply(batch)
    journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    stored = journal.rows([*good, *bad_ids])
    assert set(good) <= set(stored)  # before: OverflowError, the whole batch dropped
    assert all(stored[t]["state"] == "SUCCESS" for t in good)
    assert stored[bad_ids[0]]["retries"] is None  # stored, without the impossible count
    assert diff.malformed == 2 and "nan" not in stored and "inf" not in stored
    journal.close()


def test_a_row_sqlite_cannot_hold_is_skipped_alone_and_counted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    diff = ClusterState().apply(task_events("good") + task_events("bad"))
    rows = {row.id: row for row in [*diff.tasks_added, *diff.tasks_changed]}
    from dataclasses import replace

    rows["bad"] = replace(rows["bad"], retries=2**64)  # as if a check were missed
    skipped = journal.write(rows.values(), diff.events)
    assert skipped == 1 and journal.refused == 1
    assert journal.get("good") is not None and journal.get("bad") is None
    assert len(journal.timeline("bad")) == 2  # its events are kept
    journal.close()


def test_one_malformed_event_in_a_message_is_skipped_alone_on_the_kombu_path() -> None:
    seen: list[dict[str, Any]] = []
    malformed: list[Exception] = []
    app = receiver_app("memory://")
    with Connection("memory://") as connection:
        receiver = event_receiver(app, connection, {"*": seen.append}, malformed.append)
        now = time.time()
        good = {"type": "task-sent", "uuid": "a", "hostname": "c", "timestamp": now}
        receiver._receive([good, 42, {"no": "type"}, {**good, "uuid": "b"}], None)
    app.close()
    assert [e["uuid"] for e in seen] == ["a", "b"]  # before: the list stopped at 42
    assert len(malformed) == 2


def test_a_refused_batch_waits_in_the_spill_and_is_written_when_there_is_room(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    said: list[tuple[str, str]] = []
    monitor = Monitor("memory://", "", journal, on_journal=lambda *a: said.append(a))
    fill_up(journal)
    ids = [str(uuid.uuid4()) for _ in range(400)]
    for chunk in range(0, 400, 100):
        monitor._on_batch(
            [e for t in ids[chunk : chunk + 100] for e in task_events(t, args="y" * 300)]
        )
    assert monitor.journal_state == JOURNAL_FAILING
    assert said[0][0] == JOURNAL_FAILING and "full" in said[0][1]
    assert len(monitor.spill.rows) == 400 and monitor.spill.lost == 0
    make_room(journal)
    monitor._on_batch(task_events("after"))  # kept behind the spill: the retry writes it
    assert journal.count() == 0 and len(monitor.spill.rows) == 401
    assert monitor._flush_spill()  # what `_keep_journal` does every JOURNAL_RETRY_S
    assert monitor.journal_state == JOURNAL_OK and said[-1][0] == JOURNAL_OK
    assert journal.count() == 401 and len(monitor.spill) == 0
    monitor.stream.app.close()
    journal.close()


def test_a_spill_past_its_bound_becomes_a_gap(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal, spill=Spill(max_tasks=10, max_events=20))
    fill_up(journal)
    monitor._on_batch([e for _ in range(30) for e in task_events(str(uuid.uuid4()))])
    assert len(monitor.spill.rows) == 10 and monitor.spill.lost == 20 + 40
    make_room(journal)
    assert monitor._flush_spill()
    assert journal.count() == 10
    (recorded,) = journal.open_gaps()  # in the journal at once, not only in memory
    assert recorded.reason.startswith("journal unwritable")
    monitor._fill_gaps(None)
    (gap,) = journal.gaps()
    assert gap.status == "cannot" and "no result backend" in (gap.note or "")
    monitor.stream.app.close()
    journal.close()


def test_a_journal_of_schema_1_gains_the_gaps_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS gaps")[0])
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO tasks(id, name, state, updated) VALUES ('t', 'n', 'SUCCESS', 1000.0)")
    db.commit()
    db.close()
    journal = Journal(path)
    assert journal.last_write() == 1000.0  # no last_write yet: the newest row's time
    gap_id = journal.open_gap(1000.0, 2000.0, "test")
    journal.close_gap(gap_id, "filled", 3, "note")
    assert [(g.status, g.found) for g in journal.gaps()] == [("filled", 3)]
    journal.close()
    schema = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema'")
    assert schema.fetchone()[0] == str(SCHEMA_VERSION)


def test_a_file_that_is_not_a_journal_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    garbage = b"this is not sqlite" * 1000
    path.write_bytes(garbage)
    with pytest.raises(JournalUnwritable, match="not a database"):
        Journal(path)
    assert path.read_bytes() == garbage


def test_while_the_spill_holds_batches_a_batch_is_only_added_not_retried(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal)
    tries = 0
    write = journal.write

    def counted_write(*args: Any, **keywords: Any) -> int:
        nonlocal tries
        tries += 1
        return write(*args, **keywords)

    journal.write = counted_write  # type: ignore[method-assign]
    fill_up(journal)
    while monitor.journal_state != JOURNAL_FAILING:  # the file's last free pages fill up
        monitor._on_batch(task_events(str(uuid.uuid4()), args="w" * 300))
    assert "full" in monitor.journal_error  # failing for the disk, not for this test's wrapper
    tries, held = 0, len(monitor.spill.rows)
    for _ in range(20):  # two seconds of 100 ms batches
        monitor._on_batch(task_events(str(uuid.uuid4()), args="w" * 300))
    assert tries == 0  # before: 20, each rebuilding and writing the whole spill
    assert len(monitor.spill.rows) == held + 20
    monitor.stream.app.close()
    journal.close()


def test_a_gap_is_in_the_journal_before_any_batch_after_the_connect(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal)
    monitor._heard_until = time.time() - 60
    monitor._on_stream_status(CONNECTED, "connected")
    (gap,) = journal.open_gaps()  # before: only in memory until the reconciler ran
    assert gap.status == "open" and 59 < gap.end - gap.start < 70
    journal.close()
    monitor.stream.app.close()


def test_a_gap_left_open_by_an_earlier_run_is_filled_by_the_next(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.open_gap(time.time() - 60, time.time() - 30, "a fill that raised")
    monitor = Monitor("memory://", "", journal)
    monitor._fill_gaps(None)
    (gap,) = journal.gaps()
    assert gap.status == "cannot"  # before: left "open" for good, nothing read it back
    monitor.stream.app.close()
    journal.close()


def test_a_flush_while_not_listening_neither_spins_the_reconciler_nor_moves_the_gap(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal, spill=Spill(max_tasks=10, max_events=20))
    fill_up(journal)
    monitor._on_batch([e for _ in range(30) for e in task_events(str(uuid.uuid4()))])
    make_room(journal)
    monitor._reconciler = threading.Thread(target=monitor._reconcile_loop, daemon=True)
    monitor._reconciler.start()
    assert monitor.stream.state != CONNECTED  # as while reconnecting to the broker
    monitor._heard_until = heard = time.time() - 100
    cpu = time.process_time()
    assert monitor._flush_spill()  # the spill had overflowed: a gap for the reconciler
    time.sleep(2)
    assert time.process_time() - cpu < 0.5  # before: a busy loop, ~2 s of CPU
    assert monitor._heard_until == heard  # before: now, and the next gap too short
    monitor.stop()
    journal.close()


def test_a_gap_starts_where_the_stream_last_heard_not_where_it_looked_connected(
    tmp_path: Path,
) -> None:
    """A dead TCP path looks connected for seconds after its last byte; the journal holds
    everything only up to what the stream heard (an event, a PONG). Before, every idle second
    while "connected" moved the start of the next gap to now, past what was never heard."""
    journal = Journal(tmp_path / "j.sqlite3")
    monitor = Monitor("memory://", "", journal)
    try:
        now = time.time()
        monitor.stream.state = CONNECTED
        monitor.stream.heard_at = now - 8  # the last PONG or event
        monitor._heard_until = now - 20
        assert now - 8 <= monitor._heard_now() < now - 7
        monitor.stream.heard_at = now + 60  # never later than now
        assert monitor._heard_now() <= time.time()
        taken = time.time()
        monitor._on_batch(task_events("t1"))
        assert monitor._heard_until == pytest.approx(taken, abs=0.5)
    finally:
        monitor.stream.app.close()
        journal.close()
