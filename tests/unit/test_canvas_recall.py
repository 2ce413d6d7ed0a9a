"""Past tasks back as canvases: chains by parent id, s() and si() told apart, bad args refused."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.core.broker.control import ControlError
from desktop.core.canvas.model import ChainNode, GroupNode, TaskNode
from desktop.core.canvas.recall import task_node, workflow


def _row(task_id: str, name: str, args: str = "()", parent: str | None = None,
         result: str | None = None, **more: Any) -> dict[str, Any]:  # fmt: skip
    row = {"id": task_id, "name": f"workers.tasks.{name}", "args": args, "kwargs": "{}"}
    return {**row, "parent_id": parent, "result": result, "queue": None, "priority": None, **more}


def test_a_chain_comes_back_with_s_and_si_and_a_fan_out_as_a_group() -> None:
    rows = [
        _row("a", "add", "(2, 3)", result="5", queue="tasks", priority=7),
        _row("b", "mul", "(5, 4)", parent="a", result="20"),  # s(): 5 was prepended
        _row("c", "t2", "()", parent="b", result="'t2'"),  # si(): nothing prepended
        _row("d1", "add", "('t2', 1)", parent="c"),
        _row("d2", "mul", "('t2', 2)", parent="c"),
    ]
    assert workflow(rows) == ChainNode(
        [
            TaskNode("workers.tasks.add", [2, 3], {}, False, {"queue": "tasks", "priority": 7}),
            TaskNode("workers.tasks.mul", [4]),
            TaskNode("workers.tasks.t2", [], {}, True),
            GroupNode([TaskNode("workers.tasks.add", [1]), TaskNode("workers.tasks.mul", [2])]),
        ]
    )
    assert workflow([_row("x", "t1"), _row("y", "t2")]) == GroupNode(
        [TaskNode("workers.tasks.t1"), TaskNode("workers.tasks.t2")]
    )


def test_a_chord_comes_back_with_its_body_after_the_group() -> None:
    """Celery sends the body from the header task that finished last: its parent is that one."""
    rows = [
        _row("a", "add", "(1, 1)", result="2"),
        _row("b", "mul", "(2, 3)", parent="a", result="6"),
        _row("c", "mul", "(2, 4)", parent="a", result="8"),
        _row("d", "xsum", "([6, 8],)", parent="c", result="14"),
        _row("e", "t2", "()", parent="d"),
    ]
    assert workflow(rows) == ChainNode(
        [
            TaskNode("workers.tasks.add", [1, 1]),
            GroupNode([TaskNode("workers.tasks.mul", [3]), TaskNode("workers.tasks.mul", [4])]),
            TaskNode("workers.tasks.xsum"),
            TaskNode("workers.tasks.t2", [], {}, True),
        ]
    )


def test_arguments_that_cannot_be_read_back_are_refused() -> None:
    with pytest.raises(ControlError, match="shortened"):
        task_node(_row("a", "xsum", "([1, 2, 3, ...],)"))
    with pytest.raises(ControlError, match="not a literal"):
        task_node(_row("a", "xsum", "(<object at 0x1>,)"))
    with pytest.raises(ControlError, match="no task"):
        workflow([])
