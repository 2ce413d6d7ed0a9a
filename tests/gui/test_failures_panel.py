"""The Failures screen in the real window, on a real broker: failures grouped by cause with
their counts and trend, a cause retried from its button (every task sent again through the
broker, each new one journaled with its link), one marked resolved and hidden, a report
copied, a bad filter said under the box."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

import workers.tasks  # noqa: F401  (registers the shared tasks on the client app)
from desktop.core.monitor.journal import Journal
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.failures.groups import SPARKLINE_ROLE, TREND_COLUMN
from desktop.ui.failures.panel import FailuresPanel
from desktop.ui.shell.main_window import MainWindow
from tests.factories import task_row
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on

pytestmark = pytest.mark.slow

CAUSES = {  # exception text of task n -> how many
    "ValueError('bad input {n}')": 30,
    "TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")": 12,
    "ValueError('cannot reach 10.0.0.{n}:6379')": 5,
}


@pytest.fixture
def window(qtbot: QtBot, embedded_redis: Any, run_id: str) -> Iterator[MainWindow]:
    queue = f"desk-failures-{run_id}-{uuid.uuid4().hex[:6]}"
    profile = Profile(
        name="failures",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10)],
    )
    with window_on(qtbot, profile) as shown:
        shown.tabs.setCurrentWidget(shown.failures)
        yield shown
    client = redis.Redis.from_url(embedded_redis.url(0))
    for key in client.scan_iter(match=f"{queue}*"):
        client.delete(key)
    client.close()


def _write_failures(journal: Journal, queue: str) -> dict[str, list[str]]:
    """Failed tasks of the three causes, finished over the last ten minutes; ids by cause."""
    now = time.time()
    ids: dict[str, list[str]] = {}
    rows = []
    for cause, count in CAUSES.items():
        for n in range(count):
            task_id = str(uuid.uuid4())
            ids.setdefault(cause, []).append(task_id)
            rows.append(
                task_row(
                    task_id,
                    name="workers.tasks.add",
                    state="FAILURE",
                    args=f"({n}, 'x')",
                    kwargs="{}",
                    routing_key=queue,
                    worker="w1@host",
                    exception=cause.format(n=n),
                    traceback=f"Traceback (most recent call last):\n  ...\n{cause.format(n=n)}",
                    finished=now - 600 + n,
                    updated=now,
                )
            )
    journal.write(rows, [])
    return ids


def _groups(panel: FailuresPanel) -> dict[str, int]:
    return {line.group.fingerprint: line.group.count for line in panel.groups.rows()}


def test_failures_grouped_retried_resolved_and_reported(
    qtbot: QtBot, window: MainWindow, embedded_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = window.failures
    journal = window.session.journal
    assert journal is not None
    queue = window.session.profile.queues[0].name  # type: ignore[union-attr]
    ids = _write_failures(journal, queue)
    panel.refresh()
    qtbot.waitUntil(lambda: len(panel.groups.rows()) == 3, timeout=10000)
    assert _groups(panel) == {
        "ValueError('bad input <n>')": 30,
        "TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")": 12,
        "ValueError('cannot reach <addr>')": 5,
    }
    assert panel.summary.text() == "47 failures in 3 causes"
    spark = panel.groups.data(panel.groups.index(0, TREND_COLUMN), SPARKLINE_ROLE)
    assert sum(spark) == 30 and len([h for h in spark if h]) >= 1

    # The most frequent cause is chosen first: its tasks and its newest traceback.
    qtbot.waitUntil(lambda: panel.members.rowCount() == 30, timeout=10000)
    assert "bad input 29" in panel.example.toPlainText()
    assert panel.retry_group_button.text() == "Retry all 30"

    # Retry all of it: confirmed, sent through the broker, journaled with the link.
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    bar_seen: list[bool] = []
    panel.retry_group_button.click()
    qtbot.waitUntil(lambda: bar_seen.append(panel.progress.isVisible()) or
                    panel.action_status.text().startswith("Sent "), timeout=20000)  # fmt: skip
    assert panel.action_status.text() == "Sent 30 of 30 again"
    assert not any(bar_seen)  # a quick retry: its bar and Cancel appear only after a second
    client = redis.Redis.from_url(embedded_redis.url(0))
    try:
        waiting = [  # the queue's list, and its priority lists (kombu's Redis steps)
            json.loads(raw)
            for key in client.scan_iter(match=f"{queue}*")
            for raw in client.lrange(key, 0, -1)
        ]
    finally:
        client.close()
    sent = {m["headers"]["id"]: m["headers"]["argsrepr"] for m in waiting}
    assert len(sent) == 30
    retried = journal.retried_as(ids["ValueError('bad input {n}')"])
    assert len(retried) == 30 and all(len(new) == 1 for new in retried.values())
    for old_id, (new_id,) in retried.items():
        old, new = journal.get(old_id), journal.get(new_id)
        assert old is not None and new is not None
        assert new["retry_of"] == old_id and sent[new_id] == old["args"]
    qtbot.waitUntil(lambda: all(line.retried_as for line in panel.members.rows()), timeout=10000)

    # The retry is in the audit log, on the Audit screen.
    window.tabs.setCurrentWidget(window.audit)
    qtbot.waitUntil(lambda: window.audit.model.rowCount() == 1, timeout=10000)
    (entry,) = window.audit.model.rows()
    assert (entry.action, entry.target, entry.source, entry.outcome) == (
        "retry", "30 task(s)", "window", "ok"
    )  # fmt: skip
    assert json.loads(entry.reply)["sent"] == 30
    window.tabs.setCurrentWidget(panel)

    # Copy the cause as a report.
    panel.copy_button.click()
    report = QGuiApplication.clipboard().text()
    assert report.startswith("### 30 failures: `ValueError('bad input <n>')`")
    assert ids["ValueError('bad input {n}')"][0] in report

    # Mark it resolved: hidden, counted as hidden, back with "Show resolved".
    panel.resolve_button.click()
    qtbot.waitUntil(lambda: len(panel.groups.rows()) == 2, timeout=10000)
    assert "1 resolved hidden" in panel.summary.text()
    panel.show_resolved.setChecked(True)
    qtbot.waitUntil(lambda: len(panel.groups.rows()) == 3, timeout=10000)
    assert [line.resolved for line in panel.groups.rows()] == [False, False, True]

    # Narrowed with the query language; a bad query is said, the groups stay.
    panel.filter_box.setText("exception:*reach*")
    qtbot.waitUntil(lambda: len(panel.groups.rows()) == 1, timeout=10000)
    panel.filter_box.setText("runtime>")
    qtbot.waitUntil(panel.filter_error.isVisible, timeout=5000)
    assert "column" in panel.filter_error.text()
    assert len(panel.groups.rows()) == 1


def test_a_real_worker_s_failures_grouped_in_the_window_and_one_cause_retried(
    qtbot: QtBot, embedded_redis: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 tasks failing three ways on a real `celery worker`, seen live through the event
    stream: the screen shows exactly three causes with their counts; "Retry all" on one sends
    exactly its tasks again, the worker runs them (and they fail the same way), and each new
    task is linked to the one it retried."""
    from tests.integration.worker_process import WorkerProcess, running_worker
    from workers import create_app

    prefix = f"f{uuid.uuid4().hex[:8]}-"
    monkeypatch.setenv("CELERY_DESK_QUEUE_PREFIX", prefix)  # the app read follows the worker
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix=prefix)
    worker = WorkerProcess(
        queues=[prefix + "tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=4,
    )
    profile = Profile(
        name="failing",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + "tasks", 10)],
    )
    try:
        with running_worker(client, worker), window_on(qtbot, profile) as shown:
            shown.tabs.setCurrentWidget(shown.failures)
            panel = shown.failures
            fail, add = client.tasks["workers.tasks.fail"], client.tasks["workers.tasks.add"]
            bad = [fail.delay(f"bad input {n}").id for n in range(100)]
            for n in range(60):
                add.delay(n, "x")
            for n in range(40):
                fail.delay(f"cannot reach 10.0.0.{n}:6379")
            expected = {
                "ValueError('bad input <n>')": 100,
                "TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")": 60,
                "ValueError('cannot reach <addr>')": 40,
            }
            qtbot.waitUntil(lambda: _groups(panel) == expected, timeout=60000)
            qtbot.waitUntil(lambda: panel.retry_group_button.text() == "Retry all 100",
                            timeout=10000)  # fmt: skip
            monkeypatch.setattr(
                QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Yes
            )
            panel.retry_group_button.click()
            qtbot.waitUntil(lambda: panel.action_status.text().startswith("Sent "), timeout=30000)
            assert panel.action_status.text() == "Sent 100 of 100 again"
            expected["ValueError('bad input <n>')"] = 200  # they ran again, and failed again
            qtbot.waitUntil(lambda: _groups(panel) == expected, timeout=60000)
            journal = shown.session.journal
            assert journal is not None
            retried = journal.retried_as(bad)
            assert sorted(retried) == sorted(bad)
            for old_id, (new_id,) in retried.items():
                old, new = journal.get(old_id), journal.get(new_id)
                assert old is not None and new is not None
                assert (new["name"], new["args"], new["state"]) == (
                    "workers.tasks.fail", old["args"], "FAILURE"
                )  # fmt: skip
    finally:
        client.close()
