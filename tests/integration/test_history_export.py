"""`celery-desk history export` (history/export.py) between a real SQLite journal, the tests'
own PostgreSQL server and JSON lines: every table there and back, resumable after a stop or a
SIGKILL with nothing stored twice, and the failures said without a password."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from desktop.cli import cli
from desktop.core.base.task_record import Submitted
from desktop.core.monitor.audit import AuditEntry
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import ClusterState

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_schema import SCHEMA_VERSION  # noqa: E402

GAP = ("start", "end", "reason", "status", "found", "note", "recorded")
AUDIT = ("at", "profile", "user", "source", "action", "target", "params", "outcome", "reply")


def _events(task_id: str, at: float, n: int) -> list[dict[str, Any]]:
    common = {"uuid": task_id, "hostname": f"w{n % 3}@test", "local_received": at}
    end = (
        {"type": "task-failed", "exception": f"ValueError('bad input {n}')", "traceback": "tb"}
        if n % 5 == 0
        else {"type": "task-succeeded", "result": repr(n * 2)}
    )
    return [
        {**common, "type": "task-received", "timestamp": at, "name": f"proj.t{n % 4}",
         "args": f"({n}, '50%_off')", "kwargs": "{'password': 'hunter2'}"},
        {**common, "type": "task-started", "timestamp": at + 0.01},
        {**common, "timestamp": at + 0.02, "runtime": 0.01, **end},
    ]  # fmt: skip


def make_journal(path: Path, tasks: int) -> None:
    """A journal written as the recorder writes one: events through ClusterState into
    Journal.write, what the panel sent, gaps, the audit log, a resolved failure."""
    journal = Journal(path)
    now = time.time() - 3600
    state = ClusterState()
    for start in range(0, tasks, 250):
        batch = [e for n in range(start, min(tasks, start + 250))
                 for e in _events(f"task-{n:05d}", now + n, n)]  # fmt: skip
        diff = state.apply(batch)
        journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    journal.record_submitted_many(
        [Submitted("sent-1", "proj.t1", "(1,)", "{}", "low", 3, None, None, "task-00005")]
    )
    closed = journal.open_gap(now - 100, now - 50, "recorder not running")
    journal.close_gap(closed, "filled", 4, None)
    journal.open_gap(now - 10, now - 5, "broker outage")
    for n in range(3):
        journal.record_audit(AuditEntry("revoke", f"task-{n:05d}", {"terminate": True}, at=now + n))
    journal.resolve_failure("fingerprint-1", at=now)
    journal.close()


def sqlite_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    from desktop.core.monitor.journal_schema import COLUMNS

    db = sqlite3.connect(path)
    try:
        assert {r[1] for r in db.execute("PRAGMA table_info(tasks)")} == set(COLUMNS)
        return _tables(lambda sql: [tuple(r) for r in db.execute(sql)], list(COLUMNS))
    finally:
        db.close()


def pg_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    from desktop.core.monitor.journal_schema import COLUMNS

    with psycopg.connect(url) as conn:
        return _tables(lambda sql: [tuple(r) for r in conn.execute(sql)], list(COLUMNS))


def _tables(read: Any, columns: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (no engine's own ids), in one order for both engines."""
    listed = ", ".join(f'"{c}"' for c in columns)
    gap = ", ".join(f'"{c}"' for c in GAP)
    audit = ", ".join(f'"{c}"' for c in AUDIT)
    statements = {
        "tasks": f"SELECT {listed} FROM tasks",
        "events": "SELECT task_id, type, timestamp, fields FROM events",
        "gaps": f"SELECT {gap} FROM gaps",
        "audit": f"SELECT {audit} FROM audit",
        "resolved_failures": "SELECT fingerprint, resolved FROM resolved_failures",
    }
    return {table: sorted(read(sql), key=repr) for table, sql in statements.items()}


def run(tmp_path: Path, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, ["--config-dir", str(tmp_path / "config"), "history", "export", *args]
    )
    return result


@pytest.fixture
def url(postgres_server: Any, pg_database: str) -> str:
    return str(postgres_server.url(pg_database))


def test_a_journal_goes_to_postgresql_and_back_with_every_row(tmp_path: Path, url: str) -> None:
    source = tmp_path / "source.sqlite3"
    make_journal(source, 300)
    exported = run(tmp_path, "--from", str(source), "--to", url, "--json")
    assert exported.exit_code == 0, exported.output
    report = json.loads(exported.stdout)
    assert report["complete"] and report["tables"]["tasks"] == {
        "read": 301, "stored": 301, "refused": 0
    }  # fmt: skip
    assert report["in_target"] == {"tasks": 301, "events": 900, "audit": 3, "gaps": 2,
                                   "resolved_failures": 1}  # fmt: skip
    assert urls_password(url) not in exported.output
    back = tmp_path / "back.sqlite3"
    returned = run(tmp_path, "--from", url, "--to", f"sqlite://{back}")
    assert returned.exit_code == 0, returned.output
    original = sqlite_tables(source)
    assert pg_tables(url) == original
    assert sqlite_tables(back) == original
    assert len(original["tasks"]) == 301 and len(original["events"]) == 900
    sent = next(t for t in original["tasks"] if t[0] == "sent-1")
    assert "low" in sent and "task-00005" in sent  # what the panel sent (queue, retry_of)


def urls_password(url: str) -> str:
    from desktop.core.settings import urls

    password = urls.password_of(url)
    assert password
    return password


def test_stopped_after_some_chunks_it_goes_on_and_stores_nothing_twice(
    tmp_path: Path, url: str
) -> None:
    source = tmp_path / "source.sqlite3"
    make_journal(source, 100)
    first = run(tmp_path, "--from", str(source), "--to", url, "--chunk", "30",
                "--max-chunks", "5", "--json")  # fmt: skip
    assert first.exit_code == 0, first.output
    partial = json.loads(first.stdout)
    assert not partial["complete"] and partial["chunks"] == 5
    assert "run the same command again" in first.stderr
    held = pg_tables(url)
    assert len(held["tasks"]) == 101 and 0 < len(held["events"]) < 300
    second = run(tmp_path, "--from", str(source), "--to", url, "--chunk", "30", "--json")
    rest = json.loads(second.stdout)
    assert rest["complete"] and rest["resumed"]
    assert rest["tables"]["tasks"]["read"] == 0  # every task was stored by the first run
    assert partial["tables"]["events"]["stored"] + rest["tables"]["events"]["stored"] == 300
    assert pg_tables(url) == sqlite_tables(source)
    third = json.loads(run(tmp_path, "--from", str(source), "--to", url, "--json").stdout)
    assert {t: m["stored"] for t, m in third["tables"].items()} == dict.fromkeys(third["tables"], 0)
    assert pg_tables(url) == sqlite_tables(source)
    # a task changed since (a late result) is read again, and only it
    journal = Journal(source)
    journal.set_final("task-00003", "REVOKED", "stopped", time.time())
    journal.close()
    fourth = json.loads(run(tmp_path, "--from", str(source), "--to", url, "--json").stdout)
    assert fourth["tables"]["tasks"] == {"read": 1, "stored": 1, "refused": 0}
    assert pg_tables(url) == sqlite_tables(source)


def test_an_export_killed_midway_goes_on_when_run_again(tmp_path: Path, url: str) -> None:
    source = tmp_path / "source.sqlite3"
    make_journal(source, 3000)
    command = [sys.executable, "-m", "desktop", "--config-dir", str(tmp_path / "config"),
               "history", "export", "--from", str(source), "--to", url,
               "--chunk", "20"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert process.stderr is not None
    chunks = 0
    for line in process.stderr:
        chunks += line.startswith("  tasks:")
        if chunks == 10:
            process.send_signal(signal.SIGKILL)
            break
    assert process.wait(30) == -signal.SIGKILL
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM tasks").fetchone()
    assert row is not None and 200 <= row[0] < 3001  # killed midway, its chunks kept
    again = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resumed"]
    assert pg_tables(url) == sqlite_tables(source)  # every row, once (events_once, ids)


def test_json_lines_are_readable_resumable_and_of_one_source(tmp_path: Path) -> None:
    source = tmp_path / "source.sqlite3"
    make_journal(source, 50)
    target = tmp_path / "out" / "history.jsonl"
    first = run(tmp_path, "--from", str(source), "--to", str(target), "--chunk", "40",
                "--max-chunks", "2")  # fmt: skip
    assert first.exit_code == 0, first.output
    with target.open("a") as file:
        file.write('{"table": "events", "key": 99, "ro')  # a line cut short by a kill
    assert run(tmp_path, "--from", str(source), "--to", str(target)).exit_code == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[0] == {"celery_desk_export": 1, "from": str(source.resolve())}
    by_table: dict[str, list[dict[str, Any]]] = {}
    for line in lines[1:]:
        by_table.setdefault(line["table"], []).append(line["row"])
    original = sqlite_tables(source)
    assert {t: len(rows) for t, rows in by_table.items()} == {
        t: len(rows) for t, rows in original.items()
    }
    assert sorted(r["id"] for r in by_table["tasks"]) == sorted(r[0] for r in original["tasks"])
    assert len({(e["task_id"], e["timestamp"], e["type"]) for e in by_table["events"]}) == 150
    before = target.read_text()
    assert run(tmp_path, "--from", str(source), "--to", str(target)).exit_code == 0
    assert target.read_text() == before  # nothing new: nothing written
    other = tmp_path / "other.sqlite3"
    make_journal(other, 1)
    refused = run(tmp_path, "--from", str(other), "--to", str(target))
    assert refused.exit_code == 2 and "holds an export of" in refused.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_what_cannot_be_used_is_said_without_a_password(
    tmp_path: Path, url: str, postgres_server: Any
) -> None:
    source = tmp_path / "source.sqlite3"
    make_journal(source, 5)
    gone = f"postgresql://desk:pw-s3cret@127.0.0.1:{_free_port()}/nowhere"
    unreachable = run(tmp_path, "--from", str(source), "--to", gone)
    assert unreachable.exit_code == 2
    assert "cannot use the history postgresql://desk:****@127.0.0.1" in unreachable.stderr
    assert "pw-s3cret" not in unreachable.output
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema', %s)", (str(SCHEMA_VERSION + 1),))
    newer = run(tmp_path, "--from", str(source), "--to", url)
    assert newer.exit_code == 2
    assert f"schema version {SCHEMA_VERSION + 1}" in newer.stderr
    assert postgres_server.password not in newer.output
    missing = run(tmp_path, "--from", str(tmp_path / "none.sqlite3"), "--to", url)
    assert missing.exit_code == 2 and "no journal at" in missing.stderr
    odd = run(tmp_path, "--from", str(source), "--to", "mysql://u:pw-s3cret@h/db")
    assert odd.exit_code == 2 and "pw-s3cret" not in odd.output
