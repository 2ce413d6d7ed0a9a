"""Retention in chunks (journal_retention.py) on a real SQLite journal: exactly the oldest tasks
go, with their events and no one else's; a task updated after it was chosen stays; a chunk's
hold of the writer's lock is recorded. (The Monitor's retention thread:
tests/integration/test_retention_thread.py.)"""

from __future__ import annotations

import time
from pathlib import Path

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_retention import ChunkedPrune
from desktop.core.monitor.journal_schema import connect_read_only
from desktop.core.monitor.state import EventRecord
from tests.factories import task_row


def _filled(path: Path, count: int) -> Journal:
    """`count` tasks `t-00000`.. updated one second apart (oldest first), two events each."""
    journal = Journal(path)
    base = time.time() - count
    rows = [
        task_row(f"t-{i:05d}", name="x", state="SUCCESS", updated=base + i) for i in range(count)
    ]
    events = [
        EventRecord(f"t-{i:05d}", kind, base + i + k, "{}")
        for i in range(count)
        for k, kind in enumerate(("task-received", "task-succeeded"))
    ]
    journal.write(rows, events)
    return journal


def _ids(journal: Journal, table: str = "tasks", column: str = "id") -> set[str]:
    return {row[0] for row in journal._db.execute(f"SELECT DISTINCT {column} FROM {table}")}


def test_the_oldest_go_with_their_events_in_several_short_chunks(tmp_path: Path) -> None:
    journal = _filled(tmp_path / "j.sqlite3", 3000)
    report = journal.prune_report(1000)
    kept = {f"t-{i:05d}" for i in range(2000, 3000)}
    assert report.removed == 2000
    assert _ids(journal) == kept
    assert _ids(journal, "events", "task_id") == kept  # theirs gone, every other kept
    assert journal._db.execute("SELECT count(*) FROM events").fetchone()[0] == 2 * 1000
    assert report.chunks >= 2 and len(report.holds_s) == report.chunks
    assert report.longest_hold_s == max(report.holds_s)
    journal.close()


def test_a_task_updated_after_it_was_chosen_is_kept(tmp_path: Path) -> None:
    journal = _filled(tmp_path / "j.sqlite3", 10)
    reader = connect_read_only(journal.path)
    prune = ChunkedPrune(journal._db, journal._lock, reader)
    chosen = [row[0] for row in reader.execute("SELECT id FROM tasks ORDER BY updated LIMIT 3")]
    newest_chosen = reader.execute("SELECT max(updated) FROM tasks WHERE id IN (?, ?, ?)", chosen)
    limit = newest_chosen.fetchone()[0]
    journal.write([task_row(chosen[0], name="x", state="SUCCESS", updated=time.time())], [])
    assert prune._delete(chosen, limit, inclusive=True) == 2
    assert chosen[0] in _ids(journal) and not {chosen[1], chosen[2]} & _ids(journal)
    reader.close()
    journal.close()


def test_a_stopped_prune_ends_between_chunks(tmp_path: Path) -> None:
    journal = _filled(tmp_path / "j.sqlite3", 2000)
    asked = {"n": 0}

    def stop_after_two() -> bool:
        asked["n"] += 1
        return asked["n"] > 2

    report = journal.prune_report(0, should_stop=stop_after_two)
    assert 0 < report.removed < 2000 and report.chunks == 2
    journal.close()
