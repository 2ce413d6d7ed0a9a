"""Canvases: a tree of tasks, chains, groups and chords, and how options flow down it.

The tree is read from and written to files by `format`, turned into Celery signatures by
`signatures` and sent by `sending`; this module holds only the tree itself and the rules of it
that every one of those (and the checks) share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class TaskNode:
    task: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChainNode:
    children: list[Node]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroupNode:
    children: list[Node]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChordNode:
    header: list[Node]
    body: Node
    options: dict[str, Any] = field(default_factory=dict)


Node = Union[TaskNode, ChainNode, GroupNode, ChordNode]  # noqa: UP007 - used at runtime


@dataclass
class Canvas:
    name: str
    root: Node


def is_chord_in_chain(node: ChainNode, index: int) -> bool:
    """A group followed by another step inside a chain: Celery sends it as a chord."""
    return isinstance(node.children[index], GroupNode) and index + 1 < len(node.children)


def join_path(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def options_of(node: Node, inherited: dict[str, Any]) -> dict[str, Any]:
    """The options a node goes out with: what its containers pass down wins over its own, as
    in Celery (Signature._merge: the options given to apply_async override the signature's)."""
    return {**node.options, **inherited}


def passed_down(container: Node, index: int, options: dict[str, Any]) -> dict[str, Any]:
    """What a container passes to its child at `index`: a group and a chord's header pass
    theirs to every member, a chain only to its first step (Celery's _chain.run)."""
    if isinstance(container, ChainNode) and index > 0:
        return {}
    return options
