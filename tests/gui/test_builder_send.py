"""Sending from the Builder screen with real workers, on Redis and on RabbitMQ: every shipped
example gives the tutorial's results on its nodes, and the priority demo runs in the broker's
priority order."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import library as canvas_library
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.core.settings.urls import scheme_of
from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.shell.main_window import MainWindow
from tests.integration.test_run_cli import EXPECTED
from tests.integration.worker_process import (
    REPO_ROOT,
    WorkerProcess,
    running_worker,
)
from tests.support import window_on, with_prefix

pytestmark = pytest.mark.slow
NAMES = ("queue1", "queue2", "tasks")


@pytest.fixture
def window(qtbot: QtBot, broker_url: str, embedded_redis: Any, prefix: str) -> Iterator[MainWindow]:
    profile = Profile(
        name="builder",
        broker_url=broker_url,
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + name, 10) for name in NAMES],
    )
    with window_on(qtbot, profile) as shown:
        shown.tabs.setCurrentWidget(shown.builder)
        yield shown


def _open(panel: BuilderPanel, path: Path, prefix: str, tmp_path: Path) -> None:
    assert panel.load_file(with_prefix(path, prefix, tmp_path)), panel.message.text()


def _tasks_worker(
    panel: BuilderPanel,
    broker_url: str,
    embedded_redis: Any,
    prefix: str,
    tmp_path: Path,
    concurrency: int,
    extra_args: list[str] | None = None,
) -> tuple[Any, WorkerProcess]:
    """A client to ping with, and a worker of the shipped app on the test's 'tasks' queue."""
    queues = panel.session.profile.queues  # type: ignore[union-attr]
    client = panel_app(broker_url, embedded_redis.url(1), None, queues)
    worker = WorkerProcess(
        queues=[prefix + "tasks"],
        broker_url=broker_url,
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=concurrency,
        extra_args=extra_args or [],
    )
    return client, worker


def _waiting_ids(broker_url: str, queue: str) -> set[str]:
    """The task ids of the messages waiting in `queue`'s Redis lists (every priority step)."""
    waiting = redis.Redis.from_url(broker_url)
    try:
        return {json.loads(m)["headers"]["id"] for k in waiting.scan_iter(match=f"*{queue}*")
                if waiting.type(k) == b"list" for m in waiting.lrange(k, 0, -1)}  # fmt: skip
    finally:
        waiting.close()


def _send_and_wait(qtbot: QtBot, panel: BuilderPanel) -> None:
    before = dict(panel.sent_ids)
    panel.send()
    qtbot.waitUntil(lambda: bool(panel.sent_ids) and panel.sent_ids != before, timeout=10000)
    finished = ("SUCCESS", "FAILURE", "REVOKED")
    qtbot.waitUntil(
        lambda: all(s.state in finished for s in panel.view.states.values()), timeout=60000
    )


def test_every_example_runs_from_the_screen_with_the_tutorials_results(
    qtbot: QtBot, window: MainWindow, broker_url: str, embedded_redis: Any, prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    panel = window.builder
    client = panel_app(broker_url, embedded_redis.url(1))
    worker = WorkerProcess(
        queues=[prefix + name for name in NAMES],
        broker_url=broker_url,
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=4,
    )
    try:
        with running_worker(client, worker) as running:
            # The palette merges `inspect registered` from the live worker into the app's list.
            palette = panel.palette_model

            def t1_tip() -> str:
                return str(
                    palette.index_of("workers.tasks.t1").data(Qt.ItemDataRole.ToolTipRole) or ""
                )

            panel._inspect_if_visible(force=True)
            qtbot.waitUntil(lambda: running.nodename in t1_tip(), timeout=10000)
            assert panel.consumed is not None and prefix + "queue2" in panel.consumed
            for path in sorted(canvas_library.EXAMPLES_DIR.glob("*.json")):
                _open(panel, path, prefix, tmp_path)
                assert not [p for p in panel.current_problems() if p.level == canvas_checks.ERROR]
                _send_and_wait(qtbot, panel)
                got = []
                for task_id, position in sorted(panel.sent_ids.items(), key=lambda kv: kv[1]):
                    node = panel.model.node(position)
                    assert isinstance(node, TaskNode)
                    state = panel.view.states[position]
                    assert state.state == "SUCCESS", (path.name, state)
                    result = client.backend.get_task_meta(task_id)["result"]
                    if isinstance(result, str):  # "task1 ran on <prefix>queue1"
                        result = result.replace(prefix, "")
                    got.append((node.task.rsplit(".", 1)[1], result))
                assert got == EXPECTED[path.stem], path.name
                # Each node's result is on screen, in its tooltip.
                last = max(panel.sent_ids.values())
                assert repr(EXPECTED[path.stem][-1][1])[:8] in panel.view.tooltip_at(
                    panel.view.rect_of(last).center()  # type: ignore[union-attr]
                )
                if path.stem == "chain-s-and-si":
                    _reopen_from_the_tasks_screen(qtbot, window, panel.model.canvas().root)
                if path.stem == "group-of-four-demos":
                    top = panel.view._progress(panel.model.root, ())  # type: ignore[arg-type]
                    assert top == "4/4 done"
            # Run again: new ids, same results.
            first = set(panel.sent_ids)
            assert panel.send_button.text() == "Run again"
            _send_and_wait(qtbot, panel)
            assert first.isdisjoint(panel.sent_ids)
    finally:
        client.close()


def _without_options(node: Any) -> Any:
    """The same tree without queue and priority: the journal adds the queue the task went to."""
    if isinstance(node, TaskNode):
        return TaskNode(node.task, node.args, node.kwargs, node.immutable, {})
    return type(node)([_without_options(c) for c in node.children])


def _reopen_from_the_tasks_screen(qtbot: QtBot, window: MainWindow, sent: Any) -> None:
    """Open workflow on the tasks screen: the same chain back on the canvas, s() and si()
    told apart by whether the worker passed the previous result on."""
    panel = window.builder
    first = min(panel.sent_ids, key=lambda task_id: panel.sent_ids[task_id])

    stack = panel.model.undo_stack
    before = stack.index()

    def reopened() -> bool:
        if panel._jobs.running("open-from-journal"):
            return False  # the last click's journal read is on its way (off the GUI thread)
        if stack.index() > before and _without_options(panel.model.root) == sent:
            return True
        while stack.index() > before:  # events still arriving: try again from the same place
            stack.undo()
        window.tasks._show_task(first)
        window.tasks.workflow_button.click()
        return False

    qtbot.waitUntil(reopened, timeout=10000)
    assert window.tabs.currentWidget() is panel
    panel.model.undo_stack.undo()  # the example is back
    assert panel.model.root == sent


def test_the_priority_demo_from_the_screen_runs_in_the_brokers_order(
    qtbot: QtBot, window: MainWindow, broker_url: str, embedded_redis: Any, prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    panel = window.builder
    rabbit = scheme_of(broker_url).startswith("amqp")
    client, worker = _tasks_worker(
        panel, broker_url, embedded_redis, prefix, tmp_path, 1, ["--prefetch-multiplier", "1"]
    )
    blocker = {
        "format": "celery-desk/canvas", "version": 1, "name": "blocker",
        "root": {"type": "task", "task": "workers.tasks.sleep", "args": [2],
                 "options": {"queue": prefix + "tasks"}},
    }  # fmt: skip
    (tmp_path / "blocker.json").write_text(json.dumps(blocker))
    try:
        with running_worker(client, worker):
            assert panel.load_file(tmp_path / "blocker.json")
            panel.send()
            qtbot.waitUntil(lambda: bool(panel.sent_ids), timeout=10000)
            time.sleep(0.3)  # the worker has taken the blocker
            _open(panel, canvas_library.EXAMPLES_DIR / "priority-demo.json", prefix, tmp_path)
            # The node editor's note says which way this broker orders priorities.
            panel.view.select((2,))
            qtbot.waitUntil(lambda: panel.editor.node() == panel.model.node((2,)), timeout=2000)
            note = panel.editor.priority_note.text()
            assert ("a higher number runs first" if rabbit else "a lower number runs first") in (
                note
            )
            _send_and_wait(qtbot, panel)
            done = {
                panel.model.node(position).task.rsplit(".", 1)[1]: client.backend.get_task_meta(  # type: ignore[union-attr]
                    task_id
                )["date_done"]
                for task_id, position in panel.sent_ids.items()
            }
            ran = sorted(done, key=lambda name: str(done[name]))
            assert ran == (["t3", "t2", "t1"] if rabbit else ["t1", "t2", "t3"]), worker.output()
    finally:
        client.close()


def test_a_group_then_a_step_in_a_chain_is_watched_under_the_ids_celery_sent(
    qtbot: QtBot, window: MainWindow, broker_url: str, embedded_redis: Any, prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Celery sends add | group(add, add, add) | xsum as a chord in a chain: every node is
    coloured from its own task, the group counts all three done, and the root id said is the
    chain's first task's, the one every task of it carries."""
    panel = window.builder

    def add(*args: int) -> TaskNode:
        return TaskNode("workers.tasks.add", list(args))

    drawn = Canvas(
        "chord in a chain",
        ChainNode([add(1, 1), GroupNode([add(1), add(2), add(3)]), TaskNode("workers.tasks.xsum")]),
    )
    client, worker = _tasks_worker(panel, broker_url, embedded_redis, prefix, tmp_path, 2)
    try:
        with running_worker(client, worker):
            panel.open_canvas(drawn)
            _send_and_wait(qtbot, panel)
            ids = {position: task_id for task_id, position in panel.sent_ids.items()}
            assert sorted(ids) == [(0,), (1, 0), (1, 1), (1, 2), (2,)]
            assert {s.state for s in panel.view.states.values()} == {"SUCCESS"}
            assert panel.view._progress(panel.model.node((1,)), (1,)) == "3/3 done"  # type: ignore[arg-type]
            assert [client.backend.get_task_meta(ids[p])["result"] for p in sorted(ids)] == [
                2, 3, 4, 5, 12
            ]  # fmt: skip
            root = ids[(0,)]
            assert panel.message.text().endswith(f"root id {root}")
            journal = panel.session.journal
            assert journal is not None and journal.get("None") is None
            qtbot.waitUntil(  # the root id each task carries, from the worker's events
                lambda: (
                    {r["id"]: r["root_id"] for r in journal.workflow(root)}
                    == dict.fromkeys(ids.values(), root)
                ),
                timeout=10000,
            )
    finally:
        client.close()


def test_a_send_the_journal_could_not_keep_is_shown_as_sent_with_a_warning(
    qtbot: QtBot, embedded_redis: Any, prefix: str, tmp_path: Path
) -> None:
    """The journal is locked by another writer (past its 5 s wait) once the broker took the
    tasks: the screen says they were sent and not journaled, never "Sending failed" (which
    would have the person send them again)."""
    queue = prefix + "tasks"
    profile = Profile(
        name="builder-journal",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10)],
    )
    add = {"type": "task", "task": "workers.tasks.add", "args": [1, 2], "options": {"queue": queue}}
    path = tmp_path / "three.json"
    root = {"type": "group", "children": [add] * 3}
    path.write_text(json.dumps({"format": "celery-desk/canvas", "version": 1, "root": root}))
    with window_on(qtbot, profile) as shown:
        panel = shown.builder
        shown.tabs.setCurrentWidget(panel)
        assert panel.load_file(path), panel.message.text()
        journal = panel.session.journal
        assert journal is not None
        blocker = sqlite3.connect(journal.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            panel.send()
            qtbot.waitUntil(lambda: panel.message.text() != "Sending…", timeout=30000)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        said = panel.message.text()
        assert said.startswith("Sent '") and "Sending failed" not in said, said
        assert "sent 3 task(s), 3 of them not journaled: database is locked" in said, said
        assert "do not send them again" in said and panel.message.property("role") == "error"
        assert len(panel.sent_ids) == 3  # watched under the ids the broker took
        assert _waiting_ids(embedded_redis.url(0), queue) == set(panel.sent_ids)


def test_a_failure_is_sent_on_purpose_only_after_asking(
    qtbot: QtBot, embedded_redis: Any, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task name no worker knows and a call missing its arguments are refused by Send; Send
    anyway… asks, sends nothing on Cancel, and on Yes sends them as drawn (the broker takes
    them, the worker will fail them: a failure tested on purpose). An empty group cannot be
    sent at all: no Send anyway."""
    queue = prefix + "tasks"
    profile = Profile(
        name="builder-anyway",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10)],
    )
    options = {"queue": queue}
    drawn = Canvas(
        "failures",
        GroupNode([TaskNode("workers.tasks.nope", [], options=options),
                   TaskNode("workers.tasks.add", [], options=options)]),
    )  # fmt: skip
    with window_on(qtbot, profile) as shown:
        panel = shown.builder
        shown.tabs.setCurrentWidget(panel)
        qtbot.waitUntil(lambda: panel.config is not None, timeout=30000)
        panel.open_canvas(Canvas("empty", GroupNode([])))
        assert not panel.send_anyway_action.isVisible()
        panel.open_canvas(drawn)
        qtbot.waitUntil(panel.send_anyway_action.isVisible, timeout=5000)
        panel.send()
        assert "Send anyway" in panel.message.text() and not panel.sent_ids
        asked: list[list[str]] = []

        def answer(yes: bool) -> None:
            def confirm(errors: list[canvas_checks.Problem]) -> bool:
                asked.append([p.message for p in errors])
                return yes

            monkeypatch.setattr(panel, "confirm_send_anyway", confirm)

        answer(False)
        panel.send_anyway_button.click()
        assert len(asked) == 1 and not panel.sent_ids
        assert any("unknown task 'workers.tasks.nope'" in m for m in asked[0]), asked
        answer(True)
        panel.send_anyway_button.click()
        qtbot.waitUntil(lambda: len(panel.sent_ids) == 2, timeout=30000)
        assert _waiting_ids(embedded_redis.url(0), queue) == set(panel.sent_ids)
