"""The Builder screen in the real window: palette drags, keys, marks, files, copy as Python."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPointF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import library as canvas_library
from desktop.core.canvas import model as canvas
from desktop.core.canvas import signatures as canvas_signatures
from desktop.core.canvas.model import ChainNode, GroupNode, TaskNode
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.builder.palette import NameRole
from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.shell.main_window import MainWindow
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from tests.support import window_on
from workers import create_app

COPY = Qt.DropAction.CopyAction
DCELERY = Path(__file__).resolve().parents[1] / "fixtures" / "dcelery"


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    session, shown = build_window(Services.open())
    qtbot.addWidget(shown)
    shown.show()
    session.start()
    shown.tabs.setCurrentWidget(shown.builder)
    try:
        qtbot.waitUntil(lambda: _palette_index(shown.builder, "workers.tasks.add").isValid(),
                        timeout=30000)  # fmt: skip
        yield shown
    finally:
        shown.close_without_asking()
        session.shutdown()


def _palette_index(panel: BuilderPanel, name: str) -> QModelIndex:
    return panel.palette_model.index_of(name)


def _drag(panel: BuilderPanel, name: str, point: QPointF) -> bool:
    """What a drop from the palette hands the canvas: the palette model's own mime data."""
    data = panel.palette_model.mimeData([_palette_index(panel, name)])
    return panel.view.drop(data, point, COPY)


def _centre(panel: BuilderPanel, position: tuple[int, ...]) -> QPointF:
    rect = panel.view.rect_of(position)
    assert rect is not None, position
    return rect.center()


def test_a_workflow_is_built_by_dragging_and_by_keys_with_undo(window: MainWindow) -> None:
    panel = window.builder
    view, model = panel.view, panel.model
    assert _drag(panel, "workers.tasks.add", QPointF(200, 100))  # the empty canvas
    assert model.root == TaskNode("workers.tasks.add")
    right_of_add = _centre(panel, ()) + QPointF(70, 0)
    assert _drag(panel, "group", right_of_add)  # beside a lone task: a chain of both
    assert model.root == ChainNode([TaskNode("workers.tasks.add"), GroupNode([])])
    assert _drag(panel, "workers.tasks.mul", _centre(panel, (1,)))  # into the empty group
    assert _drag(panel, "workers.tasks.xsum", _centre(panel, (1,)) + QPointF(200, 0))
    assert model.root == ChainNode(
        [TaskNode("workers.tasks.add"), GroupNode([TaskNode("workers.tasks.mul")]),
         TaskNode("workers.tasks.xsum")]
    )  # fmt: skip
    # The group followed by a step is sent as a chord, and the canvas says so.
    assert view._container_title(view._box((1,)), view._box(())) == "group → chord"
    assert "Sent as a chord" in view.tooltip_at(view._box((1,)).rect.topLeft() + QPointF(4, 4))
    # Keys: select mul, duplicate, move it first, delete, undo, redo.
    view.setFocus()
    view.select((1, 0))
    QTest.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert model.node((1,)) == GroupNode([TaskNode("workers.tasks.mul")] * 2)
    assert view.selected == (1, 1)
    QTest.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert view.selected == (1, 0)
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert model.node((1,)) == GroupNode([TaskNode("workers.tasks.mul")])
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert model.node((1,)) == GroupNode([TaskNode("workers.tasks.mul")] * 2)
    QTest.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert model.node((1,)) == GroupNode([TaskNode("workers.tasks.mul")])
    # Keyboard move: cut xsum, select add, paste after it; wrap add in a chain and unwrap.
    view.select((2,))
    QTest.keyClick(view, Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier)
    view.select((0,))
    QTest.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [type(n).__name__ for n in model.root.children] == ["TaskNode", "TaskNode", "GroupNode"]
    assert view.selected == (1,)
    view.select((0,))
    QTest.keyClick(view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert model.node((0,)) == ChainNode([TaskNode("workers.tasks.add")])
    QTest.keyClick(
        view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert model.node((0,)) == TaskNode("workers.tasks.add")
    # Enter in the palette adds after the selection.
    view.select((0,))
    panel.add_from_palette(panel.proxy.mapFromSource(_palette_index(panel, "workers.tasks.t2")))
    assert model.node((1,)) == TaskNode("workers.tasks.t2")
    # Arrows walk the canvas in reading order.
    view.select((0,))
    QTest.keyClick(view, Qt.Key.Key_Right)
    assert view.selected == (1,)
    QTest.keyClick(view, Qt.Key.Key_Up)
    assert view.selected == ()


def test_problems_are_marked_on_their_nodes_and_stop_sending(
    qtbot: QtBot, window: MainWindow
) -> None:
    panel = window.builder
    panel.model.load(
        canvas.Canvas(
            "marks",
            ChainNode(
                [
                    TaskNode("workers.tasks.add", [1, 2]),
                    TaskNode("workers.tasks.mul", [1, 2]),  # plus the previous result: 3
                    TaskNode("workers.tasks.nope"),
                    TaskNode("workers.tasks.t2", [], {}, True, {"priority": 12}),
                ]
            ),
        )
    )
    marks = panel.view.problems
    assert set(marks) == {(1,), (2,), (3,)}
    assert "takes at most 2 positional argument(s), gets 3" in marks[(1,)][0].message
    assert "unknown task 'workers.tasks.nope'" in marks[(2,)][0].message
    assert marks[(3,)][0].level == canvas_checks.WARNING
    rows = [panel.problems.item(i).text() for i in range(panel.problems.count())]
    assert rows[0].startswith("error: node 1: workers.tasks.mul takes at most 2")
    assert "above kombu's maximum 9" in rows[-1]
    panel.send()
    assert "Not sent: 2 problem(s)" in panel.message.text()
    # The node editor fixes it: mul takes the previous result and one more.
    panel.view.select((1,))
    qtbot.waitUntil(lambda: "x" in panel.editor.arg_fields, timeout=2000)
    assert panel.editor.arg_fields["x"].text() == "← previous result"
    panel.editor.raw_toggle.setChecked(True)
    panel.editor.raw_text.setPlainText('{"args": [1], "kwargs": {}}')
    panel.editor.raw_apply.click()
    assert panel.model.node((1,)) == TaskNode("workers.tasks.mul", [1])
    assert (1,) not in panel.view.problems
    # Its tooltip names the problem.
    tip = panel.view.tooltip_at(_centre(panel, (2,)))
    assert "unknown task" in tip


def test_save_open_library_bad_file_and_copy_as_python(window: MainWindow, tmp_path: Path) -> None:
    panel = window.builder
    assert panel.load_file(canvas_library.EXAMPLES_DIR / "chain-s-and-si.json")
    example = panel.model.canvas()
    assert panel._write(panel.library_dir() / "mine.json")
    assert [e.title for e in canvas_library.entries(panel.library_dir()) if not e.example] == [
        "mine"
    ]
    assert canvas_format.loads((panel.library_dir() / "mine.json").read_text()) == example
    bad = tmp_path / "bad.json"
    root = {"type": "chain", "children": [{"type": "task"}]}
    bad.write_text(json.dumps({"format": "celery-desk/canvas", "version": 1, "root": root}))
    assert not panel.load_file(bad)
    assert "root.children[0].task: missing" in panel.message.text()
    assert panel.model.canvas() == example  # the canvas on screen is left as it was
    panel.copy_python()
    code = QGuiApplication.clipboard().text()
    assert code.startswith("# Chain: demo1.s()") and "chain(" in code
    namespace: dict[str, Any] = {}
    assert code.endswith("result = workflow.apply_async()\n")
    # Built, not sent: the shared tasks bind to whichever app is current in this process (an
    # earlier test's, on a broker long gone), and the machine's own Redis is not ours to fill.
    runnable = code.replace("from workers import app", "from workers.app import app")
    runnable = runnable.replace("result = workflow.apply_async()\n", "")
    exec(compile(runnable, "copied", "exec"), namespace)
    assert canvas_signatures.from_signature(namespace["workflow"]) == example.root
    # An empty container cannot be saved: nothing is written, and the message says where.
    panel.view.select(())
    assert _drag(panel, "group", _centre(panel, (3,)) + QPointF(200, 0))
    assert not panel._write(panel.library_dir() / "mine.json")
    assert "node 4 is an empty container" in panel.message.text()
    assert canvas_format.loads((panel.library_dir() / "mine.json").read_text()) == example


def test_typing_in_the_node_editor_commits_without_losing_the_field(
    qtbot: QtBot, window: MainWindow
) -> None:
    """A commit rebuilds nothing under the person's fingers: the field that committed stays,
    keeps focus, and the next edit goes on from there (a rebuild inside the field's own
    signal used to delete it mid-handler)."""
    panel = window.builder
    panel.model.load(canvas.Canvas("t1", TaskNode("workers.tasks.t1", [1, 2])))
    panel.view.select(())
    qtbot.waitUntil(lambda: "b" in panel.editor.arg_fields, timeout=2000)
    field = panel.editor.arg_fields["b"]
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "5")
    QTest.keyClick(field, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: panel.model.root == TaskNode("workers.tasks.t1", [1, 5]), timeout=2000)
    assert panel.editor.arg_fields["b"] is field  # the same widget, not a rebuilt one
    message = panel.editor.arg_fields["message"]
    message.setText("hi")
    message.editingFinished.emit()
    assert panel.model.root == TaskNode("workers.tasks.t1", [1, 5, "hi"])  # next in line
    panel.model.undo_stack.undo()  # undo rebuilds the editor, later, from the tree
    qtbot.waitUntil(lambda: panel.editor.arg_fields["message"].text() == "", timeout=2000)


def test_undoing_an_open_also_restores_where_save_writes(window: MainWindow) -> None:
    panel = window.builder
    first = panel.library_dir() / "first.json"
    panel.model.load(canvas.Canvas("first", TaskNode("workers.tasks.t2")))
    assert panel._write(first)
    other = panel.library_dir() / "other.json"
    canvas_library.write(other, canvas.Canvas("other", TaskNode("workers.tasks.t3")))
    assert panel.load_file(other)
    assert panel.model.file == other
    panel.model.undo_stack.undo()
    assert panel.model.file == first and panel.model.name == "first"
    assert panel.save()
    assert canvas_format.loads(other.read_text()).root == TaskNode("workers.tasks.t3")  # untouched
    assert canvas_format.loads(first.read_text()).root == TaskNode("workers.tasks.t2")


def test_drops_on_an_empty_root_and_moves_select_where_the_node_landed(
    window: MainWindow,
) -> None:
    panel = window.builder
    view, model = panel.view, panel.model
    panel.new_canvas()
    assert _drag(panel, "chain", QPointF(100, 100))
    assert _drag(panel, "workers.tasks.add", QPointF(900, 600))  # outside its small frame
    assert model.root == ChainNode([TaskNode("workers.tasks.add")])
    for name in ("mul", "group"):
        assert _drag(panel, f"workers.tasks.{name}" if name != "group" else name,
                     QPointF(900, 600))  # fmt: skip
    assert _drag(panel, "workers.tasks.t2", _centre(panel, (2,)))
    # Drag add (0) into the group (2): it lands at (1, 1), and that is what is selected.
    moving = model.mimeData([model.index_of((0,))])
    group_end = view._box((2,)).rect.bottomLeft() + QPointF(20, -4)
    assert view.drop(moving, group_end, Qt.DropAction.MoveAction)
    assert model.root == ChainNode(
        [TaskNode("workers.tasks.mul"),
         GroupNode([TaskNode("workers.tasks.t2"), TaskNode("workers.tasks.add")])]
    )  # fmt: skip
    assert view.selected == (1, 1)
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)  # acts on the node that is really there
    assert model.node((1,)) == GroupNode([TaskNode("workers.tasks.t2")])


TINY_APP = """
from celery import Celery

app = Celery("tinyapp")


@app.task(name="tinyapp.hello")
def hello(who: str = "world") -> str:
    return f"hello {who}"
"""


def _tip(panel: BuilderPanel, name: str) -> str:
    return str(_palette_index(panel, name).data(Qt.ItemDataRole.ToolTipRole) or "")


def _palette_names(panel: BuilderPanel) -> set[str]:
    model = panel.palette_model
    names = set()
    for group in range(model.rowCount()):
        parent = model.index(group, 0)
        for row in range(model.rowCount(parent)):
            names.add(str(model.index(row, 0, parent).data(NameRole)))
    return names


@pytest.mark.slow
def test_a_profile_switch_empties_the_palette_then_lists_the_new_apps_tasks(
    qtbot: QtBot, embedded_redis: Any, prefix: str, tmp_path: Path, unused_port: int
) -> None:
    """Neither the old app's tasks nor the old workers' `inspect registered` answer stay."""
    first = Profile(
        name="first",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + "tasks", 10)],
    )
    (tmp_path / "tinyapp.py").write_text(TINY_APP)
    # Another app on a broker nobody answers: no worker of its own will ever reply.
    second = Profile(
        name="second",
        broker_url=f"redis://127.0.0.1:{unused_port}/0",
        result_backend=f"redis://127.0.0.1:{unused_port}/1",
        app_module="tinyapp",
        workdir=str(tmp_path),
    )
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix=prefix)
    worker = WorkerProcess(
        queues=[prefix + "tasks"],
        broker_url=embedded_redis.url(0),
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        name=f"only-on-first-{prefix}",
    )
    with window_on(qtbot, first) as window, running_worker(client, worker) as running:
        panel = window.builder
        panel._inspect_if_visible(force=True)

        qtbot.waitUntil(lambda: running.nodename in _tip(panel, "workers.tasks.add"), timeout=10000)
        window.session.services.profiles.save(second, create=True)
        window.session.activate("second")
        assert _palette_names(panel) == {"chain", "group"}  # emptied at once
        qtbot.waitUntil(lambda: "tinyapp.hello" in _palette_names(panel), timeout=30000)
        assert _palette_names(panel) == {"chain", "group", "tinyapp.hello"}
        assert running.nodename not in _tip(panel, "tinyapp.hello")
        qtbot.wait(1500)  # the refused broker's answer is in: still nothing of the old workers
        assert _palette_names(panel) == {"chain", "group", "tinyapp.hello"}
    client.close()
