"""The Queues screen with real brokers and a real worker: the tutorial's priority demo waits in
delivery order, then runs in exactly that order, which the started table shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pytestqt.qtbot import QtBot

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import library as canvas_library
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.shell.main_window import MainWindow
from tests.integration.worker_process import (
    REPO_ROOT,
    WorkerProcess,
    running_worker,
)
from tests.support import window_on

pytestmark = pytest.mark.slow
NAMES = ("queue1", "queue2", "tasks")


@pytest.fixture
def window(
    request: pytest.FixtureRequest, qtbot: QtBot, broker_url: str, embedded_redis: Any, prefix: str
) -> Iterator[MainWindow]:
    rabbit = broker_url.startswith("amqp")
    profile = Profile(
        name="queues",
        broker_url=broker_url,
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        management_url=str(request.getfixturevalue("management_url")) if rabbit else "",
        queues=[QueueSpec(prefix + name, 10) for name in NAMES],
    )
    with window_on(qtbot, profile) as shown:
        yield shown


def _cell(table: Any, row: int, column: int) -> str:
    """What the table shows in that cell (its model's display text)."""
    return str(table.model().index(row, column).data())


def _waiting_tasks(window: MainWindow) -> list[str]:
    table = window.queues.waiting
    return [
        _cell(table, r, 2).rsplit(".", 1)[-1]
        for r in range(table.model().rowCount())
        if _cell(table, r, 2).startswith("workers.")
    ]


def test_the_priority_demo_waits_in_delivery_order_then_runs_in_it(
    qtbot: QtBot, window: MainWindow, broker_url: str, embedded_redis: Any, prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    rabbit = broker_url.startswith("amqp")
    expected = ["t3", "t2", "t1"] if rabbit else ["t1", "t2", "t3"]
    builder, panel = window.builder, window.queues
    text = (canvas_library.EXAMPLES_DIR / "priority-demo.json").read_text()
    (tmp_path / "demo.json").write_text(text.replace('"tasks"', f'"{prefix}tasks"'))
    assert builder.load_file(tmp_path / "demo.json")
    builder.send()
    qtbot.waitUntil(lambda: bool(builder.sent_ids), timeout=10000)
    window.tabs.setCurrentWidget(panel)
    panel.select_queue(prefix + "tasks")
    if rabbit:  # contents only on request, once: RabbitMQ marks what it shows redelivered
        assert not panel.remove_button.isVisible()
        assert panel.peek.isVisible() and panel.peek.isEnabled()
        row = lambda: [c.queue for c in panel.snapshot.counts].index(prefix + "tasks")  # noqa: E731
        qtbot.waitUntil(lambda: panel.snapshot is not None
                        and _cell(panel.table, row(), 1) == "3", timeout=15000)  # fmt: skip
        assert _waiting_tasks(window) == []
        panel.ask_read_contents()  # no consumer yet: no question asked
    qtbot.waitUntil(lambda: _waiting_tasks(window) == expected, timeout=15000)
    row = [c.queue for c in panel.snapshot.counts].index(prefix + "tasks")  # type: ignore[union-attr]
    # RabbitMQ's "get" takes the messages out and puts them back: a count read meanwhile is
    # short by those in flight, and settles at 3 on the next refresh.
    qtbot.waitUntil(lambda: _cell(panel.table, row, 1) == "3", timeout=10000)
    # A waiting message opens in the builder, editable.
    panel.waiting.selectRow(0)
    assert panel.builder_button.isEnabled()
    panel.builder_button.click()
    assert window.tabs.currentWidget() is builder
    assert builder.model.root.task == f"workers.tasks.{expected[0]}"  # type: ignore[union-attr]
    window.tabs.setCurrentWidget(panel)

    client = panel_app(broker_url, embedded_redis.url(1))
    worker = WorkerProcess(
        queues=[prefix + "tasks"],
        broker_url=broker_url,
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=1,
        extra_args=["--prefetch-multiplier", "1"],
    )
    try:
        with running_worker(client, worker):

            def started() -> list[str]:
                panel.refresh()
                table = panel.ran
                return [_cell(table, r, 1).rsplit(".", 1)[-1]
                        for r in range(table.model().rowCount())]  # fmt: skip

            qtbot.waitUntil(lambda: len(started()) == 3, timeout=30000)
            assert list(reversed(started())) == expected, worker.output()
            orders = [_cell(panel.ran, r, 6) for r in range(panel.ran.model().rowCount())]
            assert orders == ["", "", ""]  # no inversion: the broker's own order
            priorities = [_cell(panel.ran, r, 2) for r in range(panel.ran.model().rowCount())]
            assert priorities == [{"t1": "1", "t2": "5", "t3": "10"}[n] for n in started()]
    finally:
        client.close()


@pytest.mark.parametrize("broker_url", ["redis"], indirect=True)  # where a test can place one
def test_undecodable_messages_show_as_such_and_the_screen_keeps_working(
    qtbot: QtBot, window: MainWindow, broker_url: str, prefix: str
) -> None:
    panel = window.queues
    queue = prefix + "queue2"
    raw = redis.Redis.from_url(broker_url)
    try:
        raw.lpush(queue, b'{"body": "gASV", "content-type": "application/x-python-serialize"}')
        raw.lpush(queue, b'{"body": "not the whole')
        window.tabs.setCurrentWidget(panel)
        panel.select_queue(queue)

        def notes() -> list[str]:
            table = panel.waiting
            return [_cell(table, r, 2) for r in range(table.model().rowCount())]

        qtbot.waitUntil(lambda: len(notes()) == 2, timeout=10000)
        assert notes() == [
            "not decoded: application/x-python-serialize",
            "not decoded: the stored message is not JSON (broken or cut short)",
        ]
        panel.waiting.selectRow(0)
        assert not panel.builder_button.isEnabled() and not panel.revoke_button.isEnabled()
        assert panel.remove_button.isEnabled()  # a broken message can still be taken out
        panel.remove_selected()
        qtbot.waitUntil(lambda: len(notes()) == 1, timeout=10000)
        assert "cut short" in notes()[0]
        raw.lpush(queue, b"\x80\x04 pickled-looking bytes")
        qtbot.waitUntil(lambda: len(notes()) == 2, timeout=10000)
        panel.purge(queue)
        qtbot.waitUntil(lambda: "Purged 2 message(s)" in panel.status.text(), timeout=10000)
        qtbot.waitUntil(lambda: notes() == [], timeout=10000)
    finally:
        raw.delete(queue)
        raw.close()
