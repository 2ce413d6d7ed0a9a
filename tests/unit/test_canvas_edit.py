"""Edits by position: they keep every task, never touch their input, and refuse nonsense."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas.edit import EditError
from desktop.core.canvas.model import ChainNode, ChordNode, GroupNode, Node, TaskNode
from tests.canvas_strategies import nodes


def _tasks(node: Node | None) -> list[str]:
    """Every task with all it carries, so an edit that alters one is caught."""
    if node is None:
        return []
    if isinstance(node, TaskNode):
        return [repr(node)]
    return [text for child in canvas_edit.children(node) for text in _tasks(child)]


def _t(name: str, **values: object) -> TaskNode:
    return TaskNode(f"workers.tasks.{name}", **values)  # type: ignore[arg-type]


@given(nodes, st.data())
def test_a_move_keeps_every_task_and_leaves_the_input_alone(
    root: Node, data: st.DataObject
) -> None:
    before = copy.deepcopy(root)
    everywhere = canvas_edit.positions(root)
    source = data.draw(st.sampled_from(everywhere))
    holders = [p for p in everywhere if canvas_edit.is_container(canvas_edit.node_at(root, p))]
    holders = [p for p in holders if p[: len(source)] != source] or [()]
    parent = data.draw(st.sampled_from(holders))
    if parent[: len(source)] == source:
        with pytest.raises(EditError):
            canvas_edit.move(root, source, parent, 0)
        return
    places = len(canvas_edit.children(canvas_edit.node_at(root, parent)))
    index = data.draw(st.integers(0, max(places, 0)))
    try:
        moved, landed = canvas_edit.move(root, source, parent, index)
    except EditError as refused:
        assert "chord's body" in str(refused)
        return
    assert root == before
    assert sorted(_tasks(moved)) == sorted(_tasks(root))
    assert canvas_edit.node_at(moved, landed) == canvas_edit.node_at(root, source)


@given(nodes, st.data())
def test_remove_then_insert_at_the_same_place_gives_the_same_tree(
    root: Node, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from(canvas_edit.positions(root)[1:] or [()]))
    if not position:
        assert canvas_edit.remove(root, ()) is None
        return
    parent = canvas_edit.node_at(root, position[:-1])
    if isinstance(parent, ChordNode) and position[-1] == len(parent.header):
        return  # a chord's body: removing it leaves a group, covered below
    node = canvas_edit.node_at(root, position)
    removed = canvas_edit.remove(root, position)
    if isinstance(parent, ChordNode) and len(parent.header) == 1:
        return  # the chord's only header task: the body alone is left, a different shape
    assert canvas_edit.insert(removed, position[:-1], position[-1], node) == root


@given(nodes, st.data())
def test_wrap_then_unwrap_is_no_change_and_duplicate_adds_one_copy(
    root: Node, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from(canvas_edit.positions(root)))
    kind = data.draw(st.sampled_from(["chain", "group"]))
    wrapped = canvas_edit.wrap(root, position, kind)
    assert canvas_edit.node_at(wrapped, position) == (
        ChainNode([canvas_edit.node_at(root, position)])
        if kind == "chain"
        else GroupNode([canvas_edit.node_at(root, position)])
    )
    assert canvas_edit.unwrap(wrapped, position) == root
    if not position:
        doubled, copy_at = canvas_edit.duplicate(root, position)
        assert doubled == ChainNode([root, root]) and copy_at == (1,)
        return
    try:
        doubled, copy_at = canvas_edit.duplicate(root, position)
    except EditError:
        return  # a chord's body has no place for a second body
    assert canvas_edit.node_at(doubled, copy_at) == canvas_edit.node_at(root, position)
    assert len(_tasks(doubled)) == len(_tasks(root)) + len(
        _tasks(canvas_edit.node_at(root, position))
    )


def test_dropping_beside_a_lone_task_makes_a_chain_and_into_a_chord_goes_to_its_header() -> None:
    lone = _t("add", args=[1, 2])
    assert canvas_edit.insert(None, None, 0, lone) == lone
    assert canvas_edit.insert(lone, None, 1, _t("mul")) == ChainNode([lone, _t("mul")])
    chain = ChainNode([lone])
    assert canvas_edit.insert(chain, None, 0, _t("mul")) == ChainNode([_t("mul"), lone])
    chord = ChordNode([_t("add")], _t("xsum"))
    grown = canvas_edit.insert(ChainNode([chord]), (0,), 2, _t("mul"))
    assert grown == ChainNode([ChordNode([_t("add"), _t("mul")], _t("xsum"))])


def test_nonsense_edits_are_refused() -> None:
    tree = ChainNode([GroupNode([_t("add"), _t("mul")]), _t("xsum")])
    with pytest.raises(EditError, match="into itself"):
        canvas_edit.move(tree, (0,), (0,), 0)
    with pytest.raises(EditError, match="cannot hold"):
        canvas_edit.insert(tree, (1,), 0, _t("add"))
    with pytest.raises(EditError, match="no node"):
        canvas_edit.remove(tree, (5,))
    chord = ChordNode([_t("add"), _t("mul")], _t("xsum"))
    with pytest.raises(EditError, match="one body"):
        canvas_edit.duplicate(chord, (2,))
    with pytest.raises(EditError, match="chord's body stays its body"):
        canvas_edit.move(chord, (2,), (), 0)  # it would become a header task
    with pytest.raises(EditError, match="one after another"):
        canvas_edit.unwrap(GroupNode([_t("add"), _t("mul")]), ())  # parallel would turn serial
    assert canvas_edit.unwrap(ChainNode([_t("add")]), ()) == _t("add")
    # Moved out of the chord, the body leaves a group behind.
    moved, landed = canvas_edit.move(ChainNode([chord]), (0, 2), (), 1)
    assert moved == ChainNode([GroupNode([_t("add"), _t("mul")]), _t("xsum")]) and landed == (1,)


def test_an_empty_container_is_kept_while_editing_but_not_saved() -> None:
    tree = ChainNode([_t("add", args=[1, 2]), GroupNode([])])
    assert canvas_edit.empty_containers(tree) == [(1,)]
    with pytest.raises(EditError, match="node 1 is an empty container"):
        canvas_edit.as_canvas("x", tree)
    with pytest.raises(EditError, match="empty"):
        canvas_edit.as_canvas("x", None)
    filled = canvas_edit.insert(tree, (1,), 0, _t("mul", args=[2]))
    assert (
        canvas_format.loads(canvas_format.dumps(canvas_edit.as_canvas("x", filled))).root == filled
    )


def test_which_nodes_get_the_previous_result() -> None:
    tree = ChainNode(
        [
            _t("add", args=[1, 2]),
            _t("mul", args=[3]),
            _t("t2", immutable=True),
            GroupNode([_t("add", args=[1]), _t("mul", args=[2])]),
            _t("xsum"),
        ]
    )
    assert canvas_edit.feeding(tree, (0,)) == (False, False)
    assert canvas_edit.feeding(tree, (1,)) == (True, True)
    assert canvas_edit.feeding(tree, (2,)) == (False, True)  # si()
    assert canvas_edit.feeding(tree, (3, 1)) == (True, True)
    chord = ChordNode([_t("add", args=[1, 2])], _t("xsum"))
    assert canvas_edit.feeding(chord, (0,)) == (False, False)
    assert canvas_edit.feeding(chord, (1,)) == (True, True)


@given(nodes, st.data())
def test_replacing_a_task_changes_its_name_only(root: Node, data: st.DataObject) -> None:
    before = copy.deepcopy(root)
    everywhere = canvas_edit.positions(root)
    at = data.draw(st.sampled_from(everywhere))
    old = canvas_edit.node_at(root, at)
    if not isinstance(old, TaskNode):
        with pytest.raises(EditError, match="only a task"):
            canvas_edit.replace_task(root, at, "workers.tasks.mul")
        return
    replaced = canvas_edit.replace_task(root, at, "workers.tasks.mul")
    assert root == before
    assert canvas_edit.positions(replaced) == everywhere
    for position in everywhere:
        node, was = canvas_edit.node_at(replaced, position), canvas_edit.node_at(root, position)
        if position == at:
            assert node == TaskNode("workers.tasks.mul", old.args, old.kwargs, old.immutable,
                                    old.options)  # fmt: skip
        elif isinstance(was, TaskNode):
            assert node == was


@given(nodes)
def test_renaming_tasks_keeps_the_shape_and_everything_else(root: Node) -> None:
    before = copy.deepcopy(root)
    renamed = canvas_edit.rename_tasks(root, {"workers.tasks.add": "apis.tasks.add"})
    assert root == before
    assert canvas_edit.positions(renamed) == canvas_edit.positions(root)
    back = canvas_edit.rename_tasks(renamed, {"apis.tasks.add": "workers.tasks.add"})
    assert back == root
    assert "workers.tasks.add" not in repr(renamed)
