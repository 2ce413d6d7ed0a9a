"""The tasks table: lazy pages from the journal, SQL filters, live diffs in one batch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import ClusterState, StateDiff, TaskRow
from desktop.core.monitor.task_query import TaskQuery
from desktop.ui.tasks.cells import COLUMNS
from desktop.ui.tasks.model import PAGE_SIZE, TasksModel
from tests.factories import task_row


def row(i: int, state: str = "SUCCESS", name: str = "x.add", **extra: object) -> TaskRow:
    now = 1_700_000_000.0 + i
    values: dict[str, object] = dict(
        name=name, state=state, worker="w@h", routing_key="tasks", exchange="",
        args=f"({i}, 1)", kwargs="{}", result=str(i + 1), sent=now, received=now, started=now,
        finished=now + 0.1, runtime=0.1, retries=0, updated=now,
    )  # fmt: skip
    values.update(extra)
    return task_row(f"task-{i:06d}", **values)


def live(journal: Journal, **lists: list[TaskRow]) -> StateDiff:
    """A batch as the Monitor hands it to the window: written, its stored rows read back."""
    diff = StateDiff(**lists)  # type: ignore[arg-type]
    journal.write_diff(diff)
    return diff


def settle(qtbot: QtBot, model: TasksModel) -> None:
    """Until the model's reads (off the GUI thread) are in the table."""
    qtbot.waitUntil(lambda: not model.loading, timeout=10000)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite3")
    j.write([row(i, "FAILURE" if i % 10 == 0 else "SUCCESS") for i in range(1500)], [])
    yield j
    j.close()


def test_pages_load_on_demand(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    assert model.total == 1500
    assert model.rowCount() == PAGE_SIZE
    assert model.canFetchMore()
    model.fetchMore()
    settle(qtbot, model)
    assert model.rowCount() == 2 * PAGE_SIZE
    assert model.data(model.index(0, 0)) == "task-001499"  # newest first


def test_filters_and_sorting_run_in_sql(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    model.set_query(TaskQuery(state="FAILURE"))
    settle(qtbot, model)
    assert model.total == 150 and model.rowCount() == 150
    assert {model.data(model.index(r, 2)) for r in range(model.rowCount())} == {"✗ FAILURE"}
    model.set_query(TaskQuery(text="(42, 1)"))
    settle(qtbot, model)
    assert model.total == 1 and model.data(model.index(0, 0)) == "task-000042"
    model.set_query(TaskQuery())
    settle(qtbot, model)
    model.sort(0, Qt.SortOrder.AscendingOrder)
    settle(qtbot, model)
    assert model.data(model.index(0, 0)) == "task-000000"


def test_a_diff_is_one_insert_and_one_change(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    inserts: list[tuple[int, int]] = []
    changes: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append((first, last)))
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), b.row())))
    diff = live(
        journal,
        tasks_added=[row(2000 + i, "STARTED") for i in range(50)],
        tasks_changed=[row(1499, "RETRY"), row(1490, "SUCCESS")],
    )
    model.apply_diff(diff)
    assert inserts == [(0, 49)]
    assert len(changes) == 1
    assert model.data(model.index(0, 0)) == "task-002049"
    assert model.total == 1550


def test_live_rows_respect_the_filter_and_finished_states_stay(
    qtbot: QtBot, journal: Journal
) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    model.set_query(TaskQuery(state="FAILURE"))
    settle(qtbot, model)
    before = model.total
    model.apply_diff(live(journal, tasks_added=[row(3000, "SUCCESS"), row(3001, "FAILURE")]))
    assert model.total == before + 1
    assert model.data(model.index(0, 0)) == "task-003001"
    model.apply_diff(live(journal, tasks_changed=[row(3001, "STARTED")]))  # a late event
    assert model.data(model.index(0, 2)) == "✗ FAILURE"


def test_a_large_journal_is_read_one_page_at_a_time(qtbot: QtBot, tmp_path: Path) -> None:
    """The model reads one page, never the whole table."""
    journal = Journal(tmp_path / "big.sqlite3")
    journal.write([row(i) for i in range(20_000)], [])
    model = TasksModel(journal)
    settle(qtbot, model)
    assert model.rowCount() == PAGE_SIZE
    journal.close()


def test_state_diff_from_real_event_shapes_reaches_the_model(qtbot: QtBot, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    model = TasksModel(journal)
    settle(qtbot, model)
    state = ClusterState()
    now = time.time()
    diff = state.apply(
        [
            {
                "type": "task-received",
                "uuid": "u1",
                "hostname": "w@h",
                "timestamp": now,
                "name": "workers.tasks.t1",
                "args": "(1, 2)",
                "kwargs": "{'message': 'hi'}",
            },
            {
                "type": "task-succeeded",
                "uuid": "u1",
                "hostname": "w@h",
                "timestamp": now + 1,
                "result": "'1 + 2 = 3, message: hi'",
                "runtime": 0.5,
            },
        ]
    )
    journal.write_diff(diff)
    model.apply_diff(diff)
    assert model.rowCount() == 1
    assert model.data(model.index(0, 2)) == "✓ SUCCESS"
    assert model.data(model.index(0, 12)) == "0.500 s"
    journal.close()


def test_other_sort_orders_hold_new_rows_back_and_paging_stays_whole(
    qtbot: QtBot, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.write([row(i) for i in range(600)], [])
    model = TasksModel(journal)
    settle(qtbot, model)
    model.sort(9, Qt.SortOrder.AscendingOrder)  # sent, oldest first
    settle(qtbot, model)
    pending: list[int] = []
    model.pending_changed.connect(pending.append)
    model.apply_diff(live(journal, tasks_added=[row(1000 + i) for i in range(10)]))
    assert pending == [10] and model.rowCount() == PAGE_SIZE
    while model.canFetchMore():
        model.fetchMore()
        settle(qtbot, model)
    ids = [model.task_id(r) for r in range(model.rowCount())]
    # Oldest first, the new ones are last, where SQL puts them: nothing skipped, nothing doubled.
    assert ids == [f"task-{i:06d}" for i in [*range(600), *range(1000, 1010)]]
    model.reload()
    settle(qtbot, model)
    assert pending[-1] == 0 and model.total == 610
    journal.close()


def test_a_changed_task_that_is_not_loaded_is_not_inserted(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    model.apply_diff(live(journal, tasks_changed=[row(3, "RETRY")]))  # beyond the loaded page
    assert model.total == 1500 and model.rowCount() == PAGE_SIZE


def test_positions_stay_right_across_inserts_and_pages(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    for round_ in range(3):  # three batches of new rows at the top
        fresh = [row(5000 + 10 * round_ + i, "STARTED") for i in range(10)]
        model.apply_diff(live(journal, tasks_added=fresh))
    model.fetchMore()
    settle(qtbot, model)
    changes: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), b.row())))
    for task_id in ("task-005000", "task-001499", "task-001000"):
        row_index = next(r for r in range(model.rowCount()) if model.task_id(r) == task_id)
        changes.clear()
        number = int(task_id.split("-")[1])
        model.apply_diff(live(journal, tasks_changed=[row(number, worker="moved@h")]))
        assert changes == [(row_index, row_index)]
        assert model.data(model.index(row_index, 5)) == "moved@h"


def test_the_filter_is_one_rule_for_sql_and_for_live_rows(tmp_path: Path) -> None:
    """`%` and `_` are literal; ASCII letters match either case, as SQLite's LIKE does."""
    journal = Journal(tmp_path / "j.sqlite3")
    texts = ["('50%',)", "('500',)", "('a_b',)", "('axb',)", "('Déjà',)", "('DÉJÀ',)", "('OK',)"]
    journal.write(
        [
            row(i, "FAILURE" if i % 2 else "SUCCESS", args=text, routing_key=f"q{i % 3}")
            for i, text in enumerate(texts)
        ],
        [],
    )

    def by_sql(query: TaskQuery) -> set[str]:
        return {r["id"] for r in journal.page(query, 0, 100)}

    assert by_sql(TaskQuery(text="50%")) == {"task-000000"}
    assert by_sql(TaskQuery(text="a_b")) == {"task-000002"}
    assert by_sql(TaskQuery(text="ok")) == {"task-000006"}
    assert by_sql(TaskQuery(text="déjà")) == {"task-000004"}  # É is not an ASCII letter
    stored = [r for r in journal.page(TaskQuery(), 0, 100)]
    queries = [
        TaskQuery(text=t) for t in ("50%", "%", "_", "a_b", "ok", "déjà", "DÉJÀ", "\\", "')")
    ] + [
        TaskQuery(state="FAILURE"),
        TaskQuery(queue="q1"),
        TaskQuery(state="SUCCESS", queue="q0", text="0"),
        TaskQuery(name="x.add", worker="w@h"),
        TaskQuery(worker="other@h"),
    ]
    for query in queries:
        assert {r["id"] for r in stored if query.matches(r)} == by_sql(query), query
    journal.close()


def test_live_rows_leave_and_join_as_the_filter_says(qtbot: QtBot, journal: Journal) -> None:
    model = TasksModel(journal)
    settle(qtbot, model)
    model.set_query(TaskQuery(state="STARTED"))
    settle(qtbot, model)
    assert model.total == 0
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))

    def shown() -> list[str | None]:
        return [model.task_id(r) for r in range(model.rowCount())]

    waiting = [row(i, "PENDING") for i in (3500, 4000, 4001, 4100)]
    model.apply_diff(live(journal, tasks_added=waiting))
    assert shown() == []
    model.apply_diff(live(journal, tasks_changed=[row(4000, "STARTED"), row(4001, "STARTED")]))
    assert shown() == ["task-004001", "task-004000"] and model.total == 2
    model.apply_diff(live(journal, tasks_changed=[row(4001, "SUCCESS")]))
    assert shown() == ["task-004000"] and model.total == 1 and removed == [(0, 0)]
    model.apply_diff(live(journal, tasks_changed=[row(4001, "STARTED")]))  # a late event
    assert shown() == ["task-004000"]
    model.apply_diff(live(journal, tasks_added=[row(4200, "STARTED")]))
    assert shown() == ["task-004200", "task-004000"]
    # A known task that starts matching joins where the journal's order puts it.
    model.apply_diff(live(journal, tasks_changed=[row(4100, "STARTED")]))
    assert shown() == ["task-004200", "task-004100", "task-004000"]
    model.apply_diff(live(journal, tasks_changed=[row(3500, "STARTED")]))
    assert shown() == ["task-004200", "task-004100", "task-004000", "task-003500"]
    finished = [row(i, "SUCCESS") for i in (4000, 4100, 4200)]
    model.apply_diff(live(journal, tasks_changed=finished))
    assert shown() == ["task-003500"]
    assert model.total == journal.count(model.query) == 1
    model.reload()
    settle(qtbot, model)
    assert shown() == ["task-003500"]


def test_a_live_row_carries_the_queue_and_priority_the_panel_recorded(
    qtbot: QtBot, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    model = TasksModel(journal)
    settle(qtbot, model)
    journal.record_submitted("sent-by-panel", "x.add", queue="urgent", priority=7)
    model.apply_diff(live(journal, tasks_added=[task_row("sent-by-panel", state="STARTED")]))
    columns = [key for key, _title in COLUMNS]
    assert model.data(model.index(0, columns.index("priority"))) == "7"
    assert model.data(model.index(0, columns.index("queue"))) == "urgent"
    journal.close()
