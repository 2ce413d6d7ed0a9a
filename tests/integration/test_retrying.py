"""Failed tasks sent again (desktop/core/broker/retrying.py): what goes out is the stored call,
read without eval; a batch goes through one producer, each new task journaled with `retry_of`;
a cancelled batch stops between two messages; failure causes marked resolved stay hidden until
they fail again. Real Redis (the session's embedded one) and real SQLite journals."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from desktop.core.app.panel_app import panel_app
from desktop.core.broker import retrying
from desktop.core.monitor.failures import failure_groups, unresolved
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_schema import SCHEMA_VERSION
from tests.factories import task_row


def _failed(task_id: str, args: str, exception: str, **values: Any) -> Any:
    values = {"finished": 100.0, **values}
    return task_row(
        task_id,
        name="workers.tasks.add",
        state="FAILURE",
        args=args,
        kwargs="{}",
        exception=exception,
        **values,
    )


def _waiting(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The task messages waiting in a Redis list, oldest first (JSON bodies: never unpickled)."""
    return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]


def test_plan_reads_the_stored_call_and_refuses_what_it_cannot_send_exactly() -> None:
    rows = [
        {"id": "a", "name": "t.add", "args": "(1, 2)", "kwargs": "{'z': 3}", "priority": 7,
         "queue": None, "routing_key": "hi"},
        {"id": "b", "name": None, "args": "()", "kwargs": "{}"},
        {"id": "c", "name": "t.add", "args": "(" + "'x', " * 300 + "...)", "kwargs": "{}"},
        {"id": "d", "name": "t.add", "args": "(__import__('os'),)", "kwargs": "{}"},
    ]  # fmt: skip
    planned, refused = retrying.plan(rows, routing={"hi": "high"})
    assert [(p.retry_of, p.name, p.args, p.kwargs, p.queue, p.priority) for p in planned] == [
        ("a", "t.add", (1, 2), {"z": 3}, "high", 7)
    ]
    assert {r.task_id: r.reason.split(" ")[0] for r in refused} == {
        "b": "the",
        "c": "the",
        "d": "cannot",
    }
    assert "name" in refused[0].reason and "shortened" in refused[1].reason


@pytest.mark.parametrize(
    ("text", "args", "kwargs"),
    [
        ("[5, 6]", [5, 6], None),
        ('{"kwargs": {"y": 1}}', None, {"y": 1}),
        ('{"args": [], "kwargs": {}}', [], {}),
    ],
)
def test_edited_arguments_replace_the_stored_ones(text: str, args: Any, kwargs: Any) -> None:
    edit = retrying.ArgumentEdit.from_json(text)
    assert (edit.args, edit.kwargs) == (args, kwargs)
    row = {"id": "a", "name": "t.add", "args": "(1, 2)", "kwargs": "{'z': 3}"}
    planned = retrying.plan_one(row, edit)
    assert planned.args == ((1, 2) if args is None else args)
    assert planned.kwargs == ({"z": 3} if kwargs is None else kwargs)


@pytest.mark.parametrize("text", ["", "{", "3", '{"x": 1}', '{"args": 1}', '{"kwargs": []}'])
def test_edited_arguments_that_are_not_a_call_are_refused(text: str) -> None:
    with pytest.raises(retrying.RetryRefused):
        retrying.ArgumentEdit.from_json(text)


def test_a_batch_goes_out_through_one_producer_and_is_journaled_with_its_link(
    embedded_redis: Any, run_id: str, tmp_path: Path
) -> None:
    queue = f"desk-test-bulk-retry-{run_id}"
    journal = Journal(tmp_path / "j.sqlite3")
    journal.write([_failed(f"old-{n}", f"({n}, {n})", "TypeError('x')") for n in range(50)], [])
    rows = journal.rows(f"old-{n}" for n in range(50))
    planned, refused = retrying.plan([{**rows[f"old-{n}"], "queue": queue} for n in range(50)])
    assert not refused
    app = panel_app(embedded_redis.url(0))
    client = redis.Redis.from_url(embedded_redis.url(0))
    acquired = []
    pool = app.pool
    real_acquire = pool.acquire

    def counting_acquire(*args: Any, **kwargs: Any) -> Any:
        acquired.append(1)
        return real_acquire(*args, **kwargs)

    pool.acquire = counting_acquire  # type: ignore[method-assign]
    progress: list[int] = []
    try:

        def record(taken: list[tuple[retrying.Planned, str]]) -> None:
            journal.record_submitted_many(retrying.submitted(taken))

        outcome = retrying.resend(app, planned, record, lambda done, _: progress.append(done))
        assert outcome.failure is None and not outcome.cancelled and outcome.unrecorded is None
        assert len(acquired) == 1, "every message of the batch through one connection"
        assert progress == [50]  # one flush: fewer than SEND_BATCH
        messages = _waiting(client, queue)
        assert [m["headers"]["id"] for m in messages] == [r.new_id for r in outcome.resent]
        assert [m["headers"]["argsrepr"] for m in messages] == [f"({n}, {n})" for n in range(50)]
        for item in outcome.resent:
            assert journal.retries_of(item.old_id) == [item.new_id]
            new = journal.get(item.new_id)
            assert new is not None and new["retry_of"] == item.old_id and new["queue"] == queue
        assert journal.get("old-3")["args"] == "(3, 3)"  # type: ignore[index]
    finally:
        client.delete(queue)
        client.close()
        app.close()
        journal.close()


def test_a_cancelled_batch_stops_between_two_flushes(embedded_redis: Any, run_id: str) -> None:
    queue = f"desk-test-cancel-retry-{run_id}"
    planned = [
        retrying.Planned(f"old-{n}", "workers.tasks.add", [n, n], {}, queue, None)
        for n in range(3 * retrying.SEND_BATCH)
    ]
    said: list[int] = []
    app = panel_app(embedded_redis.url(0))
    client = redis.Redis.from_url(embedded_redis.url(0))
    cancel = threading.Event()
    try:

        def progress(done: int, _total: int) -> None:
            said.append(done)
            cancel.set()

        outcome = retrying.resend(app, planned, None, progress, cancel)
        assert outcome.cancelled and len(outcome.resent) == retrying.SEND_BATCH
        assert client.llen(queue) == retrying.SEND_BATCH  # what was said sent, and no more
        assert said == [retrying.SEND_BATCH, retrying.SEND_BATCH]  # the last flush: nothing
    finally:
        client.delete(queue)
        client.close()
        app.close()


def test_a_journal_that_refuses_never_stops_the_sending(embedded_redis: Any, run_id: str) -> None:
    queue = f"desk-test-unrecorded-retry-{run_id}"
    planned = [
        retrying.Planned(f"o{n}", "workers.tasks.add", [n], {}, queue, None) for n in range(3)
    ]
    app = panel_app(embedded_redis.url(0))
    client = redis.Redis.from_url(embedded_redis.url(0))
    try:

        def record(_taken: list[tuple[retrying.Planned, str]]) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        outcome = retrying.resend(app, planned, record)
        assert len(outcome.resent) == 3 and client.llen(queue) == 3
        assert outcome.unrecorded == "database or disk is full"
    finally:
        client.delete(queue)
        client.close()
        app.close()


def test_a_broker_that_is_gone_is_said_and_nothing_is_counted_sent(unused_port: int) -> None:
    app = panel_app(f"redis://127.0.0.1:{unused_port}/0")
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    app.conf.task_publish_retry = False
    try:
        planned = [retrying.Planned("o", "workers.tasks.add", [1], {}, "q", None)]
        outcome = retrying.resend(app, planned)
        assert outcome.resent == [] and outcome.failure is not None
        assert "Error" in outcome.failure
    finally:
        app.close()


def test_a_resolved_cause_stays_hidden_until_it_fails_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        journal.write(
            [_failed(str(uuid.uuid4()), "(1,)", f"ValueError('bad input {n}')") for n in range(3)]
            + [_failed("t", "(1,)", "KeyError('x')")],
            [],
        )
        groups = failure_groups(journal)
        bad = next(g for g in groups if g.exception_type == "ValueError")
        journal.resolve_failure(bad.fingerprint, at=200.0)
        shown, hidden = unresolved(failure_groups(journal), journal.resolved_failures())
        assert [g.fingerprint for g in hidden] == [bad.fingerprint]
        assert [g.exception_type for g in shown] == ["KeyError"]
        journal.write([_failed("again", "(2,)", "ValueError('bad input 9')", finished=300.0)], [])
        shown, hidden = unresolved(failure_groups(journal), journal.resolved_failures())
        assert [g.count for g in shown if g.exception_type == "ValueError"] == [4]
        journal.unresolve_failure(bad.fingerprint)
        assert journal.resolved_failures() == {}
    finally:
        journal.close()


def test_a_schema_3_journal_gains_the_link_without_losing_a_row(tmp_path: Path) -> None:
    """A journal written before schema 4 (no `retry_of`, no resolved causes) is migrated in
    place when opened for writing; a reader of an unmigrated one answers "none"."""
    path = tmp_path / "old.sqlite3"
    journal = Journal(path)
    journal.write([_failed("kept", "(1,)", "KeyError('x')")], [])
    journal.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX tasks_retry_of")
    db.execute("ALTER TABLE tasks DROP COLUMN retry_of")
    db.execute("DROP TABLE resolved_failures")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    db.commit()
    db.close()
    reader = Journal(path, read_only=True)
    try:
        assert reader.retries_of("kept") == [] and reader.resolved_failures() == {}
    finally:
        reader.close()
    journal = Journal(path)
    try:
        assert journal.get("kept") is not None
        journal.record_submitted("new", "workers.tasks.add", retry_of="kept")
        assert journal.retries_of("kept") == ["new"]
        schema = journal._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        assert int(schema) == SCHEMA_VERSION >= 4
    finally:
        journal.close()
