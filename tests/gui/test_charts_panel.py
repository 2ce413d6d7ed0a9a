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
