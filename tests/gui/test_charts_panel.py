from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from desktop.core.monitor.state import EventRecord, StateDiff
from desktop.ui.charts.panel import ChartsPanel
from tests.factories import task_row


def test_charts_draw_what_the_diffs_say(qtbot: QtBot) -> None:
    panel = ChartsPanel()
    qtbot.addWidget(panel)
    now = time.time()
    rows = [
        task_row(
            f"t{i}",
            name="workers.tasks.add",
            worker="w@h",
            routing_key="queue1",
            result="3",
            finished=now,
            runtime=0.25,
            retries=0,
            updated=now,
        )
        for i in range(4)
    ]
    events = [EventRecord(r.id, "task-succeeded", now, "{}") for r in rows]
    panel.apply_diff(StateDiff(tasks_added=rows, events=events))
    panel.show()
    qtbot.waitExposed(panel)
    xs, ys = panel._curves[("state", "succeeded")].getData()
    assert xs[-1] == 0 and max(ys) == 4
    assert max(panel._curves[("queue", "queue1")].getData()[1]) == 4
    assert panel.runtimes.rowCount() == 1
    assert panel.runtimes.item(0, 0).text() == "workers.tasks.add"
    assert panel.runtimes.item(0, 1).text() == "4"
    assert panel.runtimes.item(0, 2).text() == "0.250 s"
    panel.reset()
    assert panel.runtimes.rowCount() == 0 and not panel._curves


def test_charts_draw_each_queues_oldest_waiting_age_where_it_was_read(qtbot: QtBot) -> None:
    panel = ChartsPanel()
    qtbot.addWidget(panel)
    watched: list[bool] = []
    panel.watching.connect(watched.append)
    now = time.time()
    panel.rates.sample("oldest", {"queue1": 1.0}, now - 500)  # out of the 2 min window
    panel.rates.sample("oldest", {"queue1": 3.0, "queue2": 0.0}, now - 4)
    panel.rates.sample("oldest", {"queue1": 7.0, "queue2": 0.0}, now - 2)
    panel.add_oldest({"queue1": 9.0})
    panel.show()
    qtbot.waitExposed(panel)
    xs, ys = panel._curves[("oldest", "queue1")].getData()
    assert list(ys) == [3.0, 7.0, 9.0]
    assert -4.5 < xs[0] < -3.5 and -1 < xs[-1] <= 0
    assert list(panel._curves[("oldest", "queue2")].getData()[1]) == [0.0, 0.0]
    panel.hide()
    assert watched == [True, False]  # the Queues screen reads for it only while it shows
    panel.reset()
    assert not panel._curves
