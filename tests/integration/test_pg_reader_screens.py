"""What the screens read (monitor/history_reader.HistoryReader) from the shared history on
the tests' own PostgreSQL server, row for row against the SQLite journal holding the same
tasks, events, failures, retries, audit entries and gaps: the Tasks table's details and
choices, the views' Slow sample, failures grouped, beat's runs, the audit log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.base.task_record import Submitted
from desktop.core.monitor.audit import AuditEntry
from desktop.core.monitor.failures import failure_groups
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.state import ClusterState
from desktop.core.monitor.task_search import parse
from tests.factories import task_row

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_reader import PgReader  # noqa: E402

NOW = time.time()
NAMES = ("proj.alpha", "proj.beta", "Zeta.upper", "other.gamma")


def _events(n: int) -> list[dict[str, Any]]:
    """A task's life in events: sent, received, started, then failed or succeeded."""
    at = NOW - 3600 + n * 10
    common = {"uuid": f"e{n:03d}", "hostname": f"w{n % 3}@host", "local_received": at}
    failed = n % 4 == 1
    end: dict[str, Any] = (
        {"type": "task-failed", "exception": f"KeyError('k{n}')", "traceback": "tb"}
        if failed
        else {"type": "task-succeeded", "result": str(n), "runtime": (n % 9) / 10}
    )
    return [
        {**common, "type": "task-sent", "timestamp": at, "name": NAMES[n % 4],
         "args": f"({n},)", "kwargs": "{'password': 'x'}", "queue": ("a", "b")[n % 2],
         "parent_id": "e000" if n and n % 5 == 0 else None},
        {**common, "type": "task-received", "timestamp": at + 0.1},
        {**common, "type": "task-started", "timestamp": at + 0.1},  # same time: life's order
        {**common, "timestamp": at + 0.5, **end},
    ]  # fmt: skip


def _fill(engine: Any) -> None:
    state = ClusterState()
    for n in range(40):
        diff = state.apply(_events(n))
        engine.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    engine.write([task_row("bare", state="REVOKED", updated=NOW)], [])  # no time, no name
    engine.record_submitted_many(
        [Submitted("r1", "proj.alpha", retry_of="e001"), Submitted("r2", "proj.alpha",
         retry_of="e001"), Submitted("r3", "proj.beta", retry_of="e005")]
    )  # fmt: skip
    for n in range(3):
        engine.record_audit(
            AuditEntry("revoke", f"e{n:03d}", {"terminate": n == 1}, at=NOW - 100 + n, user="u")
        )
    engine.close_gap(engine.open_gap(NOW - 7200, NOW - 5000, "not running"), "filled", 3)


def _kept(found: Any) -> Any:
    """Rows without the times each engine stored them at (`updated`; `sent` of a task the
    panel recorded sending), not what it holds."""
    if isinstance(found, dict) and "updated" in found:
        when = {"updated", "sent"} if found.get("submitted") else {"updated"}
        return {k: v for k, v in found.items() if k not in when}
    if isinstance(found, dict):
        return {k: _kept(v) for k, v in found.items()}
    if isinstance(found, list):
        return [_kept(v) for v in found]
    return found


@pytest.fixture
def both(postgres_server: Any, pg_database: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    url = str(postgres_server.url(pg_database))
    journal = Journal(tmp_path / "j.sqlite3")
    writer = PgJournal(url)
    for engine in (journal, writer):
        _fill(engine)
    writer.close()
    with psycopg.connect(url, autocommit=True) as conn:  # what the SQLite journal's
        conn.execute(  # resolve_failure keeps (a shared history's is written elsewhere)
            "INSERT INTO resolved_failures VALUES ('fp-1', %s)", (NOW - 5,)
        )
    journal.resolve_failure("fp-1", NOW - 5)
    journal.close()
    sqlite, pg = JournalReader(tmp_path / "j.sqlite3"), PgReader(url)
    yield sqlite, pg
    sqlite.close()
    pg.close()


def test_details_rows_and_choices_are_the_same(both: tuple[Any, Any]) -> None:
    sqlite, pg = both
    for task_id in ("e000", "e001", "e005", "bare", "r1"):
        assert _kept(pg.get(task_id)) == _kept(sqlite.get(task_id))
        assert _kept(pg.get(task_id, real=True)) == _kept(sqlite.get(task_id, real=True))
        assert pg.timeline(task_id) == sqlite.timeline(task_id)
        assert pg.timeline(task_id, real=True) == sqlite.timeline(task_id, real=True)
    assert [e["type"] for e in pg.timeline("e003")] == [
        "task-sent", "task-received", "task-started", "task-succeeded",
    ]  # fmt: skip
    assert "'****'" in (pg.get("e001") or {})["kwargs"]
    ids = ["e001", "e002", "bare", "nope"]
    assert _kept(pg.rows(ids)) == _kept(sqlite.rows(ids))
    assert set(pg.rows(ids)) == {"e001", "e002", "bare"}
    assert pg.children("e000") == sqlite.children("e000") != []
    assert pg.choices() == sqlite.choices()
    assert pg.distinct("name") == sqlite.distinct("name")  # bytes' order: "Zeta" before "o"
    assert pg.retried_as(["e001", "e005", "e002"]) == sqlite.retried_as(["e001", "e005", "e002"])
    assert pg.retries_of("e001") == sqlite.retries_of("e001") == ["r1", "r2"]


def test_views_beat_and_audit_read_the_same(both: tuple[Any, Any]) -> None:
    sqlite, pg = both
    assert list(pg.recent_runtimes(15)) == list(sqlite.recent_runtimes(15))
    runs = [_kept(e.runs_of("proj.beta", NOW - 3000, 5)) for e in (pg, sqlite)]
    assert runs[0] == runs[1] != []
    since = NOW - 100_000
    assert sorted(r["id"] for r in pg.changed_since(["proj.alpha", "Zeta.upper"], since)) == (
        sorted(r["id"] for r in sqlite.changed_since(["proj.alpha", "Zeta.upper"], since))
    )
    assert pg.changed_since([], 0) == []
    assert pg.first_heard() == sqlite.first_heard() == pytest.approx(NOW - 3600)
    assert pg.last_write() is not None
    assert pg.gaps() == sqlite.gaps()
    assert pg.audit_entries() == sqlite.audit_entries()
    assert pg.audit_entries(2, since=NOW - 99.5) == sqlite.audit_entries(2, since=NOW - 99.5)
    assert len(pg.audit_entries(action="revoke")) == 3


def test_failures_group_the_same(both: tuple[Any, Any]) -> None:
    sqlite, pg = both
    for kwargs in (
        {},
        {"since": NOW - 1000},
        {"states": ("FAILURE", "REVOKED")},
        {"search": parse("name:proj.* worker:w1@host")},
        {"newest": 3},
    ):
        assert failure_groups(pg, **kwargs) == failure_groups(sqlite, **kwargs), kwargs
    assert pg.failed_rows(newest=4) == sqlite.failed_rows(newest=4)
    assert pg.resolved_failures() == sqlite.resolved_failures() == {"fp-1": NOW - 5}


def test_an_interrupted_read_says_so_as_sqlite_does(both: tuple[Any, Any]) -> None:
    _sqlite, pg = both
    import threading

    def cancel_soon() -> None:
        time.sleep(0.3)
        pg.interrupt()

    threading.Thread(target=cancel_soon).start()
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        pg._all("SELECT pg_sleep(5)", [])
    assert pg.get("e001") is not None  # the connection is still good


def test_the_readers_of_one_history_share_its_connections(both: tuple[Any, Any]) -> None:
    from desktop.core.history import pg_reader_pool

    _sqlite, pg = both
    others = [PgReader(pg._url) for _ in range(5)]
    assert {id(r._pool) for r in others} == {id(pg._pool)}
    for reader in others:
        assert reader.get("e001") is not None
        reader.close()
    assert pg.get("e001") is not None  # still open for the one left
    pg.close()
    assert pg._url not in pg_reader_pool._pools
