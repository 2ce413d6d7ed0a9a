"""Hypothesis strategies for canvases, shared by the core, editor-model and GUI tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, TaskNode

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
option_sets = st.fixed_dictionaries(
    {},
    optional={
        "queue": st.sampled_from(["tasks", "queue1", "queue2"]),
        "priority": st.integers(0, 255),
        "countdown": st.integers(0, 100),
        "routing_key": st.just("tasks"),
    },
)


def tasks_of(names: st.SearchStrategy[str]) -> st.SearchStrategy[TaskNode]:
    return st.builds(
        TaskNode,
        task=names,
        args=st.lists(json_values, max_size=3),
        kwargs=st.dictionaries(st.text(min_size=1, max_size=5), json_values, max_size=2),
        immutable=st.booleans(),
        options=option_sets,
    )


tasks = tasks_of(st.sampled_from(["workers.tasks.add", "workers.tasks.t1", "proj.other"]))


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    children = st.lists(inner, min_size=1, max_size=3)
    return (
        st.builds(ChainNode, children=children, options=option_sets)
        | st.builds(GroupNode, children=children, options=option_sets)
        | st.builds(ChordNode, header=children, body=inner, options=option_sets)
    )


def canvases_of(names: st.SearchStrategy[str]) -> st.SearchStrategy[Canvas]:
    """Canvases whose tasks have the given names."""
    return st.builds(
        Canvas,
        name=st.text(max_size=12),
        root=st.recursive(tasks_of(names), _containers, max_leaves=8),
    )


nodes = st.recursive(tasks, _containers, max_leaves=8)
canvases = st.builds(Canvas, name=st.text(max_size=12), root=nodes)
