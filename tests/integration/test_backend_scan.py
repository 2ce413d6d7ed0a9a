"""Filling a gap: the result backend's keys scanned for a window of time, JSON only."""

from __future__ import annotations

import json
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from desktop.core.monitor.backend_scan import scan_results
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.monitor.reconcile import backend_app, fill_gap

pytestmark = pytest.mark.slow


def store(app: Celery, task_id: str, state: str, result: Any) -> None:
    """As a worker with result_extended stores it (name, args, queue, worker)."""

    class Request:
        id = task_id
        task = "workers.tasks.add"
        args = [1, 2]
        kwargs = {"z": 1}
        hostname = "w@test"
        retries = 2**70  # past SQLite's INTEGER: stored without it
        delivery_info = {"routing_key": "tasks"}
        ignore_result = False
        group = None
        parent_id = root_id = None

    app.backend.store_result(task_id, result, state, request=Request())


def test_a_gap_is_filled_from_the_keys_under_the_apps_prefix_and_json_only(
    embedded_redis: Any, tmp_path: Path
) -> None:
    url = embedded_redis.url(9)
    prefix = f"tenant-{uuid.uuid4().hex[:6]}:"
    writer = Celery("writer", backend=url, set_as_current=False)
    writer.conf.result_extended = True
    writer.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    done, failed, unknown = (str(uuid.uuid4()) for _ in range(3))
    store(writer, done, "SUCCESS", 3)
    store(writer, failed, "FAILURE", ValueError("boom"))
    other = Celery("other", backend=url, set_as_current=False)  # another app's, no prefix
    store(other, unknown, "SUCCESS", 1)
    client = redis.Redis.from_url(url)
    client.set(f"{prefix}celery-task-meta-pickled", pickle.dumps({"status": "SUCCESS"}))
    client.set(f"{prefix}celery-task-meta-old", json.dumps(
        {"task_id": "old", "status": "SUCCESS", "date_done": "2001-01-01T00:00:00"}))  # fmt: skip
    client.close()
    reader = backend_app(url)
    reader.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    journal = Journal(tmp_path / "j.sqlite3")
    journal.record_submitted(failed, "workers.tasks.add", queue="tasks", priority=3)
    now = time.time()
    scan = scan_results(reader, now - 30, now)
    assert scan.undecodable == 1 and scan.scanned == 4
    assert {r.task_id for r in scan.results} == {done, failed}  # not "old", not the other app's
    gap = journal.open_gap(now - 30, now, "test")
    assert fill_gap(journal, reader, gap, now - 30, now) == (2, None)
    row = journal.get(done)
    assert row is not None and row["state"] == "SUCCESS" and row["result"] == "3"
    assert row["name"] == "workers.tasks.add" and row["queue"] == "tasks"
    assert json.loads(row["args"]) == [1, 2] and row["worker"] == "w@test"
    assert row["retries"] is None
    failed_row = journal.get(failed)
    assert failed_row is not None and failed_row["state"] == "FAILURE"
    assert failed_row["priority"] == 3 and "ValueError" in failed_row["exception"]
    (listed,) = journal.gaps()
    assert listed.status == "filled" and listed.found == 2 and "not JSON" in (listed.note or "")
    for app in (writer, other, reader):
        app.close()
    journal.close()


def test_a_backend_that_cannot_be_scanned_says_so_in_the_gap(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for url, says in (("rpc://", "rpc://"), ("db+sqlite:///x.db", "database backend")):
        app = backend_app(url)
        gap = journal.open_gap(0, 1, "test")
        found, note = fill_gap(journal, app, gap, 0, 1)
        assert found == 0 and note and says in note
        app.close()
    assert [g.status for g in journal.gaps()] == ["cannot", "cannot"]
    journal.close()


def test_a_gap_whose_fill_raised_stays_open_and_is_filled_at_the_next_try(
    embedded_redis: Any, tmp_path: Path, unused_port: int
) -> None:
    url = embedded_redis.url(10)
    writer = Celery("writer", backend=url, set_as_current=False)
    writer.conf.result_extended = True
    done = str(uuid.uuid4())
    store(writer, done, "SUCCESS", 7)
    journal = Journal(tmp_path / "j.sqlite3")
    told: list[tuple[str, str]] = []
    monitor = Monitor(
        "memory://", url, journal, on_journal=lambda *said: told.append(said),
        reconcile_every_s=0.2,  # the first retry after 0.2 s, then 0.4 s, 0.8 s, ...
    )  # fmt: skip
    now = time.time()
    monitor._add_gap(now - 30, now, "not listening (start or reconnect)")
    unreachable = backend_app(f"redis://127.0.0.1:{unused_port}/0")
    monitor._fill_gaps(unreachable)  # the backend is down too: the fill raises
    (gap,) = journal.gaps()
    assert gap.status == "open" and "not filled yet" in told[-1][1]
    reader = backend_app(url)
    monitor._fill_gaps(reader)
    assert journal.gaps()[0].status == "open"  # backing off: no new scan at once
    time.sleep(0.3)
    monitor._fill_gaps(unreachable)
    assert len(told) == 1  # said once, tried again quietly
    time.sleep(0.5)
    monitor._fill_gaps(reader)  # before: an open gap was never read back, never retried
    (gap,) = journal.gaps()
    assert gap.status == "filled" and gap.found == 1
    row = journal.get(done)
    assert row is not None and row["state"] == "SUCCESS"
    for app in (writer, unreachable, reader, monitor.stream.app):
        app.close()
    journal.close()
