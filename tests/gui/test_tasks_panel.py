"""The Tasks screen in the real window: rows that arrive live from a real worker's events carry
what the journal knows and follow the filter; the detail pane follows the selection."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from pytestqt.qtbot import QtBot

import workers.tasks  # noqa: F401  (registers the shared tasks on the client app)
from desktop.core.canvas.model import Canvas, TaskNode
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.state import ClusterState
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.common.states import with_symbol
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow
from desktop.ui.tasks.cells import COLUMNS
from desktop.ui.tasks.model import PAGE_SIZE
from desktop.ui.tasks.panel import ALL, TasksPanel
from tests.factories import task_row
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from tests.support import shut_down, window_on
from workers import create_app

PREFIX = f"t{uuid.uuid4().hex[:8]}-"  # one worker serves the module: its queue names


@pytest.fixture(scope="module")
def worker(
    embedded_redis: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix=PREFIX)
    process = WorkerProcess(
        queues=[PREFIX + "tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path_factory.mktemp("tasks-worker") / "worker.log",
        queue_prefix=PREFIX,
    )
    try:
        with running_worker(client, process) as running:
            yield running
    finally:
        client.close()


@pytest.fixture
def window(
    qtbot: QtBot, embedded_redis: Any, worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MainWindow]:
    monkeypatch.setenv("CELERY_DESK_QUEUE_PREFIX", PREFIX)  # the app read follows the worker
    profile = Profile(
        name="tasks",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(PREFIX + "tasks", 10)],
    )
    with window_on(qtbot, profile) as shown:
        shown.tabs.setCurrentWidget(shown.tasks)
        yield shown


def settle(qtbot: QtBot, panel: TasksPanel) -> None:
    """Until the table's reads (off the GUI thread) are in it."""
    qtbot.waitUntil(lambda: not panel.model.loading, timeout=10000)


@contextmanager
def panel_on(
    qtbot: QtBot, tmp_path: Path, rows: list[Any], *, keep: bool = False
) -> Iterator[TasksPanel]:
    """A Tasks screen (no window) on a journal of these rows, read and shown; closed after.
    `keep`: the journal keeps real argument values (the profile's keep_argument_values)."""
    session = Session(Services.open())
    panel = TasksPanel(session)
    qtbot.addWidget(panel)
    journal = Journal(tmp_path / "j.sqlite3", keep_argument_values=keep)
    journal.write(rows, [])
    try:
        panel.set_journal(journal)
        settle(qtbot, panel)
        yield panel
    finally:
        shut_down(qtbot, session)
        journal.close()


def _row_of(panel: TasksPanel, task_id: str) -> int | None:
    model = panel.model
    return next((r for r in range(model.rowCount()) if model.task_id(r) == task_id), None)


def _cell(panel: TasksPanel, task_id: str, key: str) -> str | None:
    """What the table shows for this task in this column; None when the task is not listed."""
    row = _row_of(panel, task_id)
    if row is None:
        return None
    column = [k for k, _title in COLUMNS].index(key)
    return str(panel.model.data(panel.model.index(row, column)))


@pytest.mark.slow
def test_a_task_the_builder_sent_shows_its_priority_when_it_arrives_live(
    qtbot: QtBot, window: MainWindow
) -> None:
    builder, tasks = window.builder, window.tasks
    resets: list[bool] = []
    tasks.model.modelReset.connect(lambda: resets.append(True))
    node = TaskNode("workers.tasks.add", [2, 3], options={"priority": 7})
    builder.open_canvas(Canvas("one add", node))
    builder.send()
    qtbot.waitUntil(lambda: bool(builder.sent_ids), timeout=10000)
    (task_id,) = builder.sent_ids
    qtbot.waitUntil(lambda: _cell(tasks, task_id, "state") == with_symbol("SUCCESS"), timeout=20000)
    assert not resets, "the row must have arrived live, not by a reload"
    journal = tasks.model.journal
    assert journal is not None and journal.get(task_id)["priority"] == 7  # type: ignore[index]
    assert _cell(tasks, task_id, "priority") == "7"
    assert _cell(tasks, task_id, "queue") == PREFIX + "tasks"


@pytest.mark.slow
def test_a_live_row_leaves_the_state_filter_it_no_longer_matches_and_joins_the_one_it_does(
    qtbot: QtBot, window: MainWindow, embedded_redis: Any, worker: WorkerProcess
) -> None:
    tasks = window.tasks
    journal = tasks.model.journal
    assert journal is not None
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix=PREFIX)
    # Queues no worker consumes until told to: a task waits there as long as the test needs.
    held = [f"{PREFIX}held-{uuid.uuid4().hex[:6]}" for _ in range(2)]

    def start_consuming(queue: str) -> None:
        client.control.add_consumer(queue, destination=[worker.nodename], reply=True)

    try:
        tasks.state_filter.setCurrentText("PENDING")
        settle(qtbot, tasks)
        waiting = client.tasks["workers.tasks.add"].apply_async(args=[2, 3], queue=held[0])
        qtbot.waitUntil(
            lambda: _cell(tasks, waiting.id, "state") == with_symbol("PENDING"), timeout=10000
        )
        start_consuming(held[0])
        assert waiting.get(timeout=20) == 5
        qtbot.waitUntil(lambda: _row_of(tasks, waiting.id) is None, timeout=10000)
        assert tasks.model.total == 0 and tasks.count.text() == "0 tasks"

        tasks.state_filter.setCurrentText("STARTED")
        settle(qtbot, tasks)
        sleeping = client.tasks["workers.tasks.sleep"].apply_async(args=[1.5], queue=held[1])
        qtbot.waitUntil(lambda: (journal.get(sleeping.id) or {}).get("state") == "PENDING")
        qtbot.wait(300)  # the batch that journaled it reached the table too
        assert _row_of(tasks, sleeping.id) is None
        start_consuming(held[1])
        # A task the table knew but did not list starts: it joins the table live...
        qtbot.waitUntil(
            lambda: _cell(tasks, sleeping.id, "state") == with_symbol("STARTED"), timeout=10000
        )
        assert tasks.count.text() == "1 tasks"
        # ...and leaves it when it succeeds.
        qtbot.waitUntil(lambda: _row_of(tasks, sleeping.id) is None, timeout=10000)
        tasks.state_filter.setCurrentText(ALL)
        settle(qtbot, tasks)
        assert _cell(tasks, sleeping.id, "state") == with_symbol("SUCCESS")
    finally:
        for queue in held:
            client.control.cancel_consumer(queue, destination=[worker.nodename], reply=True)
        client.close()


def test_the_detail_pane_follows_the_selection_across_filter_changes(
    qtbot: QtBot, tmp_path: Path
) -> None:
    rows = [
        task_row("done-1", name="x.add", state="SUCCESS", sent=2.0, updated=2.0),
        task_row("failed-1", name="x.fail", state="FAILURE", sent=1.0, updated=1.0),
    ]
    with panel_on(qtbot, tmp_path, rows) as panel:
        panel.table.selectRow(_row_of(panel, "done-1"))  # type: ignore[arg-type]
        assert panel.current_id == "done-1" and "done-1" in panel.detail.toPlainText()
        panel.state_filter.setCurrentText("FAILURE")  # the selected task is filtered out
        settle(qtbot, panel)
        assert [panel.model.task_id(r) for r in range(panel.model.rowCount())] == ["failed-1"]
        assert panel.current_id is None
        assert "done-1" not in panel.detail.toPlainText()
        assert not panel.revoke_button.isEnabled()
        panel.table.selectRow(0)
        assert panel.current_id == "failed-1"
        panel.state_filter.setCurrentText(ALL)  # still listed: still selected, still shown
        settle(qtbot, panel)
        selected = panel.table.selectionModel().selectedRows()
        assert [panel.model.task_id(i.row()) for i in selected] == ["failed-1"]
        assert panel.current_id == "failed-1" and "failed-1" in panel.detail.toPlainText()


def _event(kind: str, task_id: str, at: float, **fields: Any) -> dict[str, Any]:
    """An event as a worker publishes it (the shapes test_tasks_model feeds ClusterState)."""
    return {"type": kind, "uuid": task_id, "hostname": "w@h", "timestamp": at, **fields}


def test_a_task_that_fails_in_a_later_batch_joins_the_failure_filter_live(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """Received in one batch (not a FAILURE: not listed), failed in the next: the changed row
    is tested against the filter again and joins the table, without a reload."""
    session = Session(Services.open())
    panel = TasksPanel(session)
    qtbot.addWidget(panel)
    journal = Journal(tmp_path / "j.sqlite3")
    state = ClusterState()
    now = time.time()
    try:
        panel.set_journal(journal)
        panel.state_filter.setCurrentText("FAILURE")
        settle(qtbot, panel)
        resets: list[bool] = []
        panel.model.modelReset.connect(lambda: resets.append(True))

        def batch(*events: dict[str, Any]) -> None:
            diff = state.apply(list(events))
            journal.write_diff(diff)
            session.diff_ready.emit(diff)  # as the Monitor hands a batch to the window

        batch(
            _event("task-received", "doomed", now, name="x.fail", args="(1,)", kwargs="{}"),
            _event("task-received", "fine", now + 0.1, name="x.add", args="(2,)", kwargs="{}"),
        )
        assert panel.model.rowCount() == 0
        batch(_event("task-started", "doomed", now + 1), _event("task-started", "fine", now + 1))
        assert panel.model.rowCount() == 0
        batch(
            _event("task-failed", "doomed", now + 2, exception="ValueError('no')"),
            _event("task-succeeded", "fine", now + 2, result="3", runtime=0.1),
        )
        assert [panel.model.task_id(r) for r in range(panel.model.rowCount())] == ["doomed"]
        assert _cell(panel, "doomed", "state") == with_symbol("FAILURE")
        assert panel.count.text() == "1 tasks" and not resets
        # What a reload reads back is what the live rows showed.
        panel.model.reload()
        settle(qtbot, panel)
        assert [panel.model.task_id(r) for r in range(panel.model.rowCount())] == ["doomed"]
    finally:
        shut_down(qtbot, session)
        journal.close()


def test_journal_reads_leave_the_gui_thread_and_filter_choices_grow_from_live_rows(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table, the details and the choices are read on the job pool through a read-only
    connection; the choices are read once, then learned from each batch (no DISTINCT scan
    every few seconds)."""
    threads: list[tuple[str, str, bool]] = []
    for method in ("page", "count", "get", "timeline", "children", "distinct"):
        original = getattr(JournalReader, method)

        def recorded(
            self: JournalReader, *args: Any, _o: Any = original, _m: str = method, **kwargs: Any
        ) -> Any:
            threads.append((_m, threading.current_thread().name, isinstance(self, Journal)))
            return _o(self, *args, **kwargs)

        monkeypatch.setattr(JournalReader, method, recorded)
    session = Session(Services.open())
    panel = TasksPanel(session)
    qtbot.addWidget(panel)
    journal = Journal(tmp_path / "j.sqlite3")
    journal.write([task_row("old-1", name="x.add", worker="w1@h", routing_key="q1")], [])
    try:
        panel.set_journal(journal)
        settle(qtbot, panel)
        choices = [panel.name_filter.itemText(i) for i in range(panel.name_filter.count())]
        qtbot.waitUntil(lambda: panel.name_filter.count() == 2, timeout=5000)
        panel.table.selectRow(0)
        qtbot.waitUntil(lambda: any(m == "timeline" for m, _t, _w in threads), timeout=5000)
        scans = sum(1 for m, _t, _w in threads if m == "distinct")
        state = ClusterState()
        diff = state.apply(
            [_event("task-received", "new-1", time.time(), name="y.mul", routing_key="q2")]
        )
        journal.write_diff(diff)
        session.diff_ready.emit(diff)
        names = [panel.name_filter.itemText(i) for i in range(panel.name_filter.count())]
        assert names == [ALL, "x.add", "y.mul"], choices
        queues = [panel.queue_filter.itemText(i) for i in range(panel.queue_filter.count())]
        assert queues == [ALL, "q1", "q2"]
        qtbot.wait(300)
        assert sum(1 for m, _t, _w in threads if m == "distinct") == scans  # none since
        main = threading.main_thread().name
        assert threads and all(thread != main for _m, thread, _w in threads), threads
        assert not any(writer for _m, _t, writer in threads), "read through the writer's link"
    finally:
        shut_down(qtbot, session)
        journal.close()


def test_the_search_box_speaks_the_query_language_and_says_what_it_cannot_read(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """Fields and comparisons filter in SQL and live alike; a query that does not parse is
    shown under the box with its column, and the table keeps the last good search's rows."""
    from desktop.core.monitor.state import StateDiff

    rows = [
        task_row("slow-fail", name="x.fail", state="FAILURE", runtime=3.0, sent=3.0),
        task_row("fast-fail", name="x.fail", state="FAILURE", runtime=0.1, sent=2.0),
        task_row("slow-ok", name="x.add", state="SUCCESS", runtime=5.0, sent=1.0),
    ]
    with panel_on(qtbot, tmp_path, rows) as panel:
        panel.search.setText("state:failure runtime>2")
        qtbot.waitUntil(lambda: _row_of(panel, "slow-ok") is None, timeout=5000)
        settle(qtbot, panel)
        listed = [panel.model.task_id(r) for r in range(panel.model.rowCount())]
        assert listed == ["slow-fail"]
        assert panel.search_error.isHidden()

        # A task that fails slowly later joins the live rows, by the same rule.
        late = task_row("late-fail", name="x.fail", state="FAILURE", runtime=9.0, sent=4.0)
        diff = StateDiff(tasks_added=[late])
        assert panel.model.journal is not None
        panel.model.journal.write_diff(diff)
        panel.apply_diff(diff)
        assert [panel.model.task_id(r) for r in range(panel.model.rowCount())] == [
            "late-fail",
            "slow-fail",
        ]

        # A word too short for the text index is searched all the same, and said to be slow.
        assert panel.search_note.isHidden()
        panel.search.setText("ok")
        qtbot.waitUntil(lambda: _row_of(panel, "late-fail") is None, timeout=5000)
        assert not panel.search_note.isHidden() and "'ok': under 3 characters" in (
            panel.search_note.text()
        )
        panel.search.setText("slow")
        qtbot.waitUntil(panel.search_note.isHidden, timeout=5000)
        qtbot.waitUntil(lambda: _row_of(panel, "slow-ok") is not None, timeout=5000)
        settle(qtbot, panel)

        panel.search.setText("colour:red")
        qtbot.waitUntil(lambda: not panel.search_error.isHidden(), timeout=5000)
        assert "column 1" in panel.search_error.text()
        assert "colour" in panel.search_error.text()
        assert [panel.model.task_id(r) for r in range(panel.model.rowCount())] == [
            "slow-fail",
            "slow-ok",
        ]


def test_the_search_line_completes_the_word_being_typed_from_what_the_journal_holds(
    qtbot: QtBot, tmp_path: Path
) -> None:
    rows = [
        task_row("a", name="x.fail", state="FAILURE", worker="w1@h"),
        task_row("b", name="report nightly", state="SUCCESS", worker="w2@h"),
    ]
    with panel_on(qtbot, tmp_path, rows) as panel:
        completer = panel.completer

        def completions(text: str) -> list[str]:
            panel.search.setText(text)
            completer.setCompletionPrefix(completer.splitPath(text)[0])
            found = completer.completionModel()
            return [completer.pathFromIndex(found.index(row, 0)) for row in range(found.rowCount())]

        qtbot.waitUntil(lambda: "runtime>2 -name:x.fail" in completions("runtime>2 -name:x"))
        assert completions("name:rep") == ['name:"report nightly"']  # quoted: it has a space
        assert "worker:w2@h" in completions("wor")
        assert "state:FAILURE" in completions("state:f")  # any case
        assert completions("zzz") == []


SECRET = f"hunter2-{uuid.uuid4().hex[:8]}"
SECRET_ROWS = [
    task_row("login-1", name="x.login", state="FAILURE", sent=2.0, updated=2.0,
             args="('bob',)", kwargs=f"{{'db': {{'Password': '{SECRET}'}}, 'n': 1}}"),
    task_row("login-2", name="x.login", state="SUCCESS", sent=1.0, updated=1.0,
             kwargs=f"{{'api_key': '{SECRET}'}}"),
    task_row("plain", name="x.add", state="SUCCESS", sent=0.5, updated=0.5, args="(1, 2)"),
]  # fmt: skip


def _everything_the_table_says(panel: TasksPanel) -> str:
    model = panel.model
    roles = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
    return " ".join(
        str(model.data(model.index(row, column), role))
        for row in range(model.rowCount()) for column in range(model.columnCount())
        for role in roles
    )  # fmt: skip


def _select(qtbot: QtBot, panel: TasksPanel, task_id: str) -> None:
    panel.table.selectRow(_row_of(panel, task_id))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: task_id in panel.detail.toPlainText(), timeout=5000)
    qtbot.waitUntil(lambda: not panel.jobs.running("details"), timeout=5000)


def click_reveal(panel: TasksPanel) -> None:
    """A click on the detail pane's "Reveal arguments" link, offered for the task shown."""
    link = f"reveal:{panel.current_id}"
    assert f'href="{link}"' in panel.detail.toHtml(), panel.detail.toHtml()
    panel.detail.anchorClicked.emit(QUrl(link))


def test_hidden_arguments_show_as_mask_until_one_task_is_revealed_by_a_click(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with panel_on(qtbot, tmp_path, SECRET_ROWS, keep=True) as panel:
        audited: list[tuple[str, str]] = []
        monkeypatch.setattr(
            panel.session, "audit_later", lambda action, target, *_a, **_k: audited.append(
                (action, target))
        )  # fmt: skip
        shown = _everything_the_table_says(panel)
        assert SECRET not in shown and "'Password': '****'" in shown
        _select(qtbot, panel, "login-1")
        assert SECRET not in panel.detail.toPlainText()
        assert '"Password": "****"' in panel.detail.toPlainText()
        click_reveal(panel)
        qtbot.waitUntil(lambda: SECRET in panel.detail.toPlainText(), timeout=5000)
        assert "Arguments revealed" in panel.detail.toPlainText()
        assert audited == [("reveal arguments", "login-1")]
        assert SECRET not in _everything_the_table_says(panel)  # the table never shows it
        _select(qtbot, panel, "login-2")  # another task: its values stay hidden
        assert SECRET not in panel.detail.toPlainText()
        _select(qtbot, panel, "login-1")  # and the revealed one is hidden again
        assert SECRET not in panel.detail.toPlainText()
        assert "Arguments revealed" not in panel.detail.toPlainText()
        assert "Reveal arguments" in panel.detail.toPlainText()  # offered again
        panel.table.selectRow(_row_of(panel, "plain"))  # type: ignore[arg-type]
        qtbot.waitUntil(lambda: "plain" in panel.detail.toPlainText(), timeout=5000)
        assert "Reveal arguments" not in panel.detail.toPlainText()  # nothing hidden: no offer


def test_reveal_says_why_there_is_nothing_to_reveal_when_the_journal_stores_values_hidden(
    qtbot: QtBot, tmp_path: Path
) -> None:
    with panel_on(qtbot, tmp_path, SECRET_ROWS, keep=False) as panel:
        _select(qtbot, panel, "login-1")
        click_reveal(panel)
        qtbot.waitUntil(lambda: "Nothing to reveal" in panel.detail.toPlainText(), timeout=5000)
        assert "Keep real argument values" in panel.detail.toPlainText()
        assert "Nothing to reveal" in panel.action_status.text()
        assert SECRET not in panel.detail.toPlainText() + _everything_the_table_says(panel)


def test_a_sort_shows_its_first_page_from_the_top_and_reads_no_page_unasked(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """Qt keeps a table's scroll offset across a model reset: scrolled past the first page, a
    sort showed the bottom rows of the new first page and read the next page at once."""
    now = time.time()
    rows = [task_row(f"r{i:04d}", sent=now - i, runtime=i / 1000) for i in range(3 * PAGE_SIZE)]
    with panel_on(qtbot, tmp_path, rows) as panel:
        panel.resize(1280, 800)
        panel.show()
        qtbot.waitExposed(panel)
        bar = panel.table.verticalScrollBar()
        panel.table.scrollToBottom()  # the view reads the second page
        qtbot.waitUntil(lambda: panel.model.rowCount() == 2 * PAGE_SIZE, timeout=10000)
        settle(qtbot, panel)
        assert bar.value() > 0
        runtime = [key for key, _title in COLUMNS].index("runtime")
        panel.table.horizontalHeader().setSortIndicator(runtime, Qt.SortOrder.DescendingOrder)
        qtbot.waitUntil(
            lambda: panel.model.task_id(0) == f"r{3 * PAGE_SIZE - 1:04d}", timeout=10000
        )
        settle(qtbot, panel)
        qtbot.wait(100)  # Qt's own layout after the reset, and any page it would ask for
        settle(qtbot, panel)
        assert bar.value() == 0
        assert panel.model.rowCount() == PAGE_SIZE
