"""The builder's editor model: round trips, drag and drop through mime data, undo and redo."""

from __future__ import annotations

import json

from celery import Celery
from hypothesis import HealthCheck, given, settings
from PySide6.QtCore import QMimeData, QModelIndex, Qt

from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import signatures as canvas_signatures
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from desktop.ui.builder.canvas_model import (
    MOVE_MIME,
    NODE_MIME,
    CanvasModel,
    empty_container,
    node_mime,
)
from tests.canvas_strategies import canvases

APP = Celery("canvas-model-tests", set_as_current=False)
MOVE, COPY = Qt.DropAction.MoveAction, Qt.DropAction.CopyAction


def _t(name: str, *args: object) -> TaskNode:
    return TaskNode(f"workers.tasks.{name}", list(args))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(canvases)
def test_random_canvases_round_trip_through_json_the_editor_model_and_signatures(
    drawn: Canvas,
) -> None:
    model = CanvasModel()
    model.load(canvas_format.loads(canvas_format.dumps(drawn)))
    assert model.canvas() == drawn
    signature = canvas_signatures.to_signature(model.canvas().root, APP)
    assert canvas_signatures.from_signature(signature) == drawn.root
    # Dragged out whole and dropped on an empty canvas elsewhere: the same tree.
    other = CanvasModel()
    dragged = model.mimeData([model.index(0, 0)])
    assert other.dropMimeData(dragged, COPY, -1, 0, QModelIndex())
    assert other.root == drawn.root
    model.undo_stack.undo()
    assert model.root is None
    model.undo_stack.redo()
    assert model.canvas() == drawn


def test_palette_drops_build_a_chain_with_a_group_inside() -> None:
    model = CanvasModel()
    model.dropMimeData(node_mime(_t("add", 1, 2)), COPY, -1, 0, QModelIndex())
    model.dropMimeData(node_mime(empty_container("group")), COPY, -1, 0, QModelIndex())
    group = model.index_of((1,))
    assert model.flags(group) & Qt.ItemFlag.ItemIsDropEnabled
    for n in (1, 2, 3):
        assert model.dropMimeData(node_mime(_t("mul", n)), COPY, -1, 0, group)
    assert model.dropMimeData(node_mime(_t("xsum")), COPY, -1, 0, QModelIndex())
    assert model.root == ChainNode(
        [_t("add", 1, 2), GroupNode([_t("mul", 1), _t("mul", 2), _t("mul", 3)]), _t("xsum")]
    )
    assert model.rowCount(model.index_of(())) == 3
    assert model.rowCount(group) == 3
    assert model.parent(model.index_of((1, 2))) == group
    assert model.data(group) == "group (3 tasks)"
    assert model.undo_stack.count() == 6


def test_a_move_reorders_and_a_copy_from_another_canvas_inserts() -> None:
    model = CanvasModel()
    model.load(Canvas("c", ChainNode([_t("add"), _t("mul"), GroupNode([_t("t1")])])))
    dragged = model.mimeData([model.index_of((0,))])
    assert json.loads(bytes(dragged.data(MOVE_MIME).data()))["position"] == "0"
    assert model.dropMimeData(dragged, MOVE, 1, 0, model.index_of((2,)))  # into the group
    assert model.root == ChainNode([_t("mul"), GroupNode([_t("t1"), _t("add")])])
    other = CanvasModel()
    other.load(Canvas("d", ChainNode([_t("t2")])))
    from_elsewhere = other.mimeData([other.index_of((0,))])
    assert model.dropMimeData(from_elsewhere, MOVE, 0, 0, QModelIndex())
    assert model.root == ChainNode([_t("t2"), _t("mul"), GroupNode([_t("t1"), _t("add")])])
    assert other.root == ChainNode([_t("t2")])  # the other canvas keeps its node
    model.undo_stack.undo()
    model.undo_stack.undo()
    assert model.root == ChainNode([_t("add"), _t("mul"), GroupNode([_t("t1")])])


def test_bad_drops_change_nothing_and_say_why() -> None:
    model = CanvasModel()
    model.load(Canvas("c", ChainNode([_t("add"), GroupNode([_t("t1")])])))
    said: list[str] = []
    model.edit_refused.connect(said.append)
    before = model.root
    steps = model.undo_stack.count()
    # Into a task.
    assert not model.dropMimeData(node_mime(_t("mul")), COPY, -1, 0, model.index_of((0,)))
    # A container into itself.
    into_itself = model.mimeData([model.index_of((1,))])
    assert not model.dropMimeData(into_itself, MOVE, 0, 0, model.index_of((1,)))
    # Not a node.
    broken = QMimeData()
    broken.setData(NODE_MIME, b'{"type": "task", "task": 5}')
    assert not model.dropMimeData(broken, COPY, -1, 0, QModelIndex())
    text_only = QMimeData()
    text_only.setText("workers.tasks.add")
    assert not model.canDropMimeData(text_only, COPY, -1, 0, QModelIndex())
    assert model.root == before
    assert model.undo_stack.count() == steps
    assert said == [
        "a task cannot hold other tasks; drop beside it instead",
        "a container cannot go into itself",
        "not a canvas node: root.task: must be a task name such as workers.tasks.add",
    ]
