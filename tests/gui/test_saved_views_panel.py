"""The Tasks screen's saved views on a real journal: each view shows its count (read off the
GUI thread), a click puts its query in the search box and filters the rows, and views are
saved, renamed and deleted in the profile's views file."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.monitor.saved_views import DEFAULT_VIEWS, load_views, views_path
from desktop.core.settings.paths import Paths
from desktop.ui.tasks.cells import COLUMNS
from desktop.ui.tasks.panel import TasksPanel
from tests.factories import task_row
from tests.gui.test_tasks_panel import panel_on, settle


def _rows() -> list[object]:
    now = time.time()
    rows = [
        task_row("fail-new", name="x.fail", state="FAILURE", sent=now - 60, runtime=0.5),
        task_row("fail-new2", name="x.fail", state="FAILURE", sent=now - 120, runtime=0.5),
        task_row("fail-old", name="x.fail", state="FAILURE", sent=now - 7200, runtime=0.5),
        task_row("running", name="x.add", state="STARTED", sent=now - 5, started=now - 4),
        task_row("waiting", name="x.add", state="PENDING", sent=now - 300),
        task_row("just-sent", name="x.add", state="PENDING", sent=now - 2),
        task_row("retried", name="x.add", state="SUCCESS", sent=now - 30, retries=2),
    ]
    # x.add usually takes 0.01-1 s; one took 50 s: the Slow view's only task
    rows += [
        task_row(f"ok{i}", name="x.add", state="SUCCESS", sent=now - 1000 - i, runtime=0.01 * i)
        for i in range(1, 101)
    ]
    rows.append(task_row("crawl", name="x.add", state="SUCCESS", sent=now - 900, runtime=50.0))
    return rows


def _listed(panel: TasksPanel) -> set[str | None]:
    return {panel.model.task_id(r) for r in range(panel.model.rowCount())}


def _click(qtbot: QtBot, panel: TasksPanel, name: str) -> None:
    tree = panel.views.list
    item = tree.findItems(name, Qt.MatchFlag.MatchExactly, 0)[0]
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_each_view_shows_its_count_and_a_click_filters_the_rows(
    qtbot: QtBot, tmp_path: Path
) -> None:
    with panel_on(qtbot, tmp_path, _rows()) as panel:
        panel.resize(1400, 700)
        panel.show()
        qtbot.waitExposed(panel)
        sidebar = panel.views
        expected = {
            "Failed last hour": "2",
            "Running": "1",
            "Waiting > 1 min": "1",
            "Retried": "1",
            "Slow": "1",
        }
        qtbot.waitUntil(
            lambda: {n: sidebar.count_of(n) for n in expected} == expected, timeout=10000
        )

        _click(qtbot, panel, "Failed last hour")
        assert panel.search.text() == "state:FAILURE after:-1h"  # seen, and editable
        settle(qtbot, panel)
        assert _listed(panel) == {"fail-new", "fail-new2"}

        _click(qtbot, panel, "Waiting > 1 min")
        settle(qtbot, panel)
        assert _listed(panel) == {"waiting"}

        _click(qtbot, panel, "Slow")  # its query is made off the GUI thread: p99 per name
        qtbot.waitUntil(lambda: panel.search.text().startswith("name:"), timeout=5000)
        assert "runtime>" in panel.search.text()
        settle(qtbot, panel)
        assert _listed(panel) == {"crawl"}
        assert panel.model.query.order_by == "runtime" and panel.model.query.descending


def test_the_current_search_is_saved_renamed_and_deleted_as_a_view(
    qtbot: QtBot, tmp_path: Path, isolated_config: Paths
) -> None:
    path = views_path(isolated_config, "embedded")
    with panel_on(qtbot, tmp_path, _rows()) as panel:
        sidebar = panel.views
        qtbot.waitUntil(lambda: sidebar.path is not None, timeout=5000)
        panel.state_filter.setCurrentText("SUCCESS")
        panel.search.setText("retries>=1")
        name_column = [k for k, _t in COLUMNS].index("name")
        panel.table.setColumnHidden(name_column, True)
        sidebar.save_current("Retried successes")
        qtbot.waitUntil(lambda: sidebar.views.named("Retried successes") is not None, timeout=5000)
        saved = load_views(path).views
        assert saved[: len(DEFAULT_VIEWS)] == DEFAULT_VIEWS
        mine = saved[-1]
        assert mine.query == "state:SUCCESS retries>=1"
        assert "name" not in mine.columns and "id" in mine.columns

        sidebar.rename("Retried successes", "Mine")
        qtbot.waitUntil(lambda: sidebar.views.named("Mine") is not None, timeout=5000)
        assert [v.name for v in load_views(path).views][-1] == "Mine"
        sidebar.rename("Mine", "Running")
        qtbot.waitUntil(lambda: not sidebar.note.isHidden(), timeout=5000)
        assert "already a view named 'Running'" in sidebar.note.text()

        # a click restores the columns and the filters above the table go back to (all)
        panel.table.setColumnHidden(name_column, False)
        sidebar.choose("Mine")
        assert panel.table.isColumnHidden(name_column)
        assert panel.state_filter.currentText() == "(all)"
        settle(qtbot, panel)
        assert _listed(panel) == {"retried"}

        sidebar.delete("Mine")
        qtbot.waitUntil(lambda: sidebar.views.named("Mine") is None, timeout=5000)
        assert load_views(path).views == DEFAULT_VIEWS


def test_a_damaged_views_file_shows_the_defaults_and_says_why(
    qtbot: QtBot, tmp_path: Path, isolated_config: Paths
) -> None:
    path = views_path(isolated_config, "embedded")
    path.parent.mkdir(parents=True)
    path.write_text("[[views]\nname=")
    with panel_on(qtbot, tmp_path, _rows()) as panel:
        sidebar = panel.views
        qtbot.waitUntil(lambda: sidebar.path is not None, timeout=5000)
        assert not sidebar.note.isHidden()
        assert "is not valid TOML" in sidebar.note.text() and str(path) in sidebar.note.text()
        assert tuple(sidebar.views.views) == DEFAULT_VIEWS
        assert sidebar.list.topLevelItemCount() == len(DEFAULT_VIEWS)
