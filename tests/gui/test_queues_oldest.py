"""The Queues table's Oldest column and the Charts' oldest-waiting series, on a real Redis with
the demo app's tasks waiting and nobody consuming them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.common.theme import colour
from desktop.ui.queues.tables import QUEUE_COLUMNS
from desktop.ui.shell.main_window import MainWindow
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on
from workers import create_app

pytestmark = pytest.mark.slow
OLDEST = [column.title for column in QUEUE_COLUMNS].index("Oldest")
STUCK_S = 700  # past queue_latency.OLDEST_ERROR_S: red


@pytest.fixture
def window(qtbot: QtBot, embedded_redis: Any, prefix: str) -> Iterator[MainWindow]:
    profile = Profile(
        name="oldest",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + name, 10) for name in ("queue1", "queue2", "tasks")],
    )
    with window_on(qtbot, profile) as shown:
        yield shown


def test_the_oldest_column_and_chart_show_how_long_tasks_have_waited(
    qtbot: QtBot, window: MainWindow, embedded_redis: Any, prefix: str
) -> None:
    panel, charts = window.queues, window.charts
    app = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix=prefix)
    try:
        for i in range(2):
            app.send_task("workers.tasks.add", args=(i, i), queue=prefix + "tasks")
        stuck = app.send_task(
            "workers.tasks.add", queue=prefix + "queue2", timestamp=int(time.time()) - STUCK_S
        )
    finally:
        app.close()
    window.tabs.setCurrentWidget(panel)
    panel.interval.setValue(1)

    def cell(queue: str, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> Any:
        if panel.snapshot is None:
            return None
        names = [c.queue for c in panel.snapshot.counts]
        if queue not in names:
            return None
        return panel.queue_rows.index(names.index(queue), OLDEST).data(role)

    def seconds(text: Any) -> int:
        return int(str(text).removeprefix("≥ ").removesuffix(" s")) if text else -1

    # Dated by the journal (the demo app sends task-sent events) or, failing that, by when
    # the panel first saw them: either way at least 2 s once they have waited that long.
    qtbot.waitUntil(lambda: seconds(cell(prefix + "tasks")) >= 2, timeout=15000)
    assert seconds(cell(prefix + "tasks")) < 10
    tip = str(cell(prefix + "tasks", Qt.ItemDataRole.ToolTipRole))
    assert "journal" in tip or "first saw" in tip
    assert cell(prefix + "queue1") == ""  # nothing waits
    assert str(cell(prefix + "queue2")).startswith("11 min")
    assert cell(prefix + "queue2", Qt.ItemDataRole.ForegroundRole).name() == colour("error")
    assert stuck.id in str(cell(prefix + "queue2", Qt.ItemDataRole.ToolTipRole))
    assert "own timestamp" in str(cell(prefix + "queue2", Qt.ItemDataRole.ToolTipRole))

    # The Charts screen draws each queue's oldest age; the Queues screen, hidden, keeps
    # reading the broker for it.
    window.tabs.setCurrentWidget(charts)
    assert not panel.isVisible()
    sampled_from = time.time()

    def drawn(queue: str) -> list[float]:
        charts.redraw()
        curve = charts._curves.get(("oldest", queue))
        return [] if curve is None else list(curve.getData()[1])

    def read_while_hidden() -> int:
        read_at, _ages = charts.rates.samples("oldest", prefix + "tasks", sampled_from)
        return sum(1 for x in read_at if x > 0)

    qtbot.wait(4500)
    assert read_while_hidden() >= 4  # at its 1 s interval (alone, other reads come ~2 in 4 s)
    assert max(drawn(prefix + "queue2")) >= STUCK_S
    assert 2 <= max(drawn(prefix + "tasks")) < 15
    assert set(drawn(prefix + "queue1")) == {0.0}
