"""Edits of a canvas tree by node position, for the builder's undo stack and drag and drop.

Every edit returns a new tree and leaves its input alone, so an undo step is just the tree
before. A position is a tuple of child indexes from the root; a chord's children are its header
followed by its body, the same numbering `canvas_checks.check` and `canvas.send` use in their paths.
The editor allows empty chains and groups (a person drops a container, then fills it); they
are reported by `empty_containers` and must be filled or removed before saving or sending.
"""

from __future__ import annotations

import copy
import dataclasses

from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, Node, TaskNode

Position = tuple[int, ...]
CONTAINERS = (ChainNode, GroupNode, ChordNode)


class EditError(ValueError):
    """An edit that makes no sense (into itself, out of range); nothing changed."""


def parse_position(text: str) -> Position:
    return tuple(int(part) for part in text.split(".")) if text else ()


def position_text(position: Position) -> str:
    return ".".join(map(str, position))


def children(node: Node) -> list[Node]:
    if isinstance(node, ChordNode):
        return [*node.header, node.body]
    if isinstance(node, ChainNode | GroupNode):
        return list(node.children)
    return []


def is_container(node: Node) -> bool:
    return isinstance(node, CONTAINERS)


def _rebuilt(node: Node, kids: list[Node]) -> Node:
    """The same container with other children; a chord keeps its last child as the body."""
    if isinstance(node, ChordNode):
        if len(kids) >= 2:
            return ChordNode(kids[:-1], kids[-1], dict(node.options))
        return ChainNode(kids, dict(node.options))  # its header emptied: what is left runs alone
    if isinstance(node, ChainNode):
        return ChainNode(kids, dict(node.options))
    if isinstance(node, GroupNode):
        return GroupNode(kids, dict(node.options))
    raise EditError("a task has no children")


def node_at(root: Node | None, position: Position) -> Node:
    if root is None:
        raise EditError("the canvas is empty")
    node = root
    for index in position:
        kids = children(node)
        if not 0 <= index < len(kids):
            raise EditError(f"no node at {position_text(position)}")
        node = kids[index]
    return node


def positions(root: Node | None) -> list[Position]:
    """Every node's position, parents before their children."""
    if root is None:
        return []
    found: list[Position] = []

    def visit(node: Node, position: Position) -> None:
        found.append(position)
        for index, child in enumerate(children(node)):
            visit(child, (*position, index))

    visit(root, ())
    return found


def _replace(node: Node, position: Position, new: Node | None) -> Node | None:
    """`node` with the node at `position` replaced by `new` (None removes it)."""
    if not position:
        return new
    kids = children(node)
    head, rest = position[0], position[1:]
    if not 0 <= head < len(kids):
        raise EditError(f"no node at {position_text(position)}")
    child = _replace(kids[head], rest, new)
    if isinstance(node, ChordNode) and head == len(kids) - 1 and child is None:
        return GroupNode(list(node.header), dict(node.options))  # the body went: a plain group
    kids = kids[:head] + ([child] if child is not None else []) + kids[head + 1 :]
    return _rebuilt(node, kids)


def replace(root: Node | None, position: Position, new: Node) -> Node:
    node_at(root, position)
    assert root is not None
    result = _replace(copy.deepcopy(root), position, copy.deepcopy(new))
    assert result is not None
    return result


def remove(root: Node | None, position: Position) -> Node | None:
    node_at(root, position)
    assert root is not None
    return _replace(copy.deepcopy(root), position, None)


def insert(root: Node | None, parent: Position | None, index: int, node: Node) -> Node:
    """Put `node` into the container at `parent` before child `index` (len: at the end); into
    a chord it goes into the header.

    `parent` None is the canvas itself: into the root when that is a chain or group; beside a
    root task or chord both become the steps of a new chain, because "then" is what a person
    means by putting something after a task."""
    node = copy.deepcopy(node)
    if root is None:
        return node
    if parent is None:
        if isinstance(root, ChainNode | GroupNode):
            parent = ()
        else:
            steps: list[Node] = [copy.deepcopy(root)]
            steps.insert(max(0, min(index, 1)), node)
            return ChainNode(steps)
    target = node_at(root, parent)
    if not is_container(target):
        raise EditError("a task cannot hold other tasks; drop beside it or into a container")
    kids = children(target)
    limit = len(kids) - 1 if isinstance(target, ChordNode) else len(kids)
    if not 0 <= index <= len(kids):
        raise EditError(f"no place {index} in {position_text(parent) or 'the root'}")
    kids.insert(min(index, limit), node)
    return replace(root, parent, _rebuilt(target, kids))


class _Placeholder(TaskNode):
    """Marks where a moved node was, so positions stay put until it is dropped elsewhere."""


class _Arrival(TaskNode):
    """Marks where a node lands, to learn its position once the tree has settled."""


def place(
    root: Node | None, parent: Position | None, index: int, node: Node
) -> tuple[Node, Position]:
    """`insert`, and the position the node ended up at (to select it)."""
    placed = insert(root, parent, index, _Arrival("-"))
    spot = next(p for p in positions(placed) if isinstance(node_at(placed, p), _Arrival))
    return replace(placed, spot, node), spot


def _is_chord_body(root: Node | None, position: Position) -> bool:
    if not position:
        return False
    holder = node_at(root, position[:-1])
    return isinstance(holder, ChordNode) and position[-1] == len(holder.header)


def move(
    root: Node | None, source: Position, parent: Position | None, index: int
) -> tuple[Node, Position]:
    """The node taken from `source` and put into `parent` before `index`; the new tree and
    where the node is now."""
    if parent is not None and parent[: len(source)] == source:
        raise EditError("a container cannot go into itself")
    if _is_chord_body(root, source) and parent == source[:-1]:
        raise EditError("a chord's body stays its body: move it out of the chord, or move a "
                        "header task instead")  # fmt: skip
    moving = node_at(root, source)
    assert root is not None
    marked = _replace(copy.deepcopy(root), source, _Placeholder("-"))
    assert marked is not None
    arrived = insert(marked, parent, index, _Arrival("-"))
    spot = next(p for p in positions(arrived) if isinstance(node_at(arrived, p), _Placeholder))
    settled = _replace(arrived, spot, None)
    assert settled is not None
    landed = next(p for p in positions(settled) if isinstance(node_at(settled, p), _Arrival))
    return replace(settled, landed, moving), landed


def duplicate(root: Node | None, position: Position) -> tuple[Node, Position]:
    """A copy right after the node; the copy's position. The canvas itself duplicated
    becomes a chain of it and its copy."""
    original = node_at(root, position)
    if not position:
        return ChainNode([copy.deepcopy(original), copy.deepcopy(original)]), (1,)
    parent, index = position[:-1], position[-1]
    if _is_chord_body(root, position):
        raise EditError("a chord has one body; duplicate a header task instead")
    return insert(root, parent, index + 1, original), (*parent, index + 1)


def replace_task(root: Node | None, position: Position, task: str) -> Node:
    """The task at `position` calls `task` instead, with the same arguments, s()/si() and
    options (the builder's "Replace task…")."""
    node = node_at(root, position)
    if not isinstance(node, TaskNode):
        raise EditError("only a task can be replaced by another task; select a task")
    if not task.strip():
        raise EditError("choose a task to replace it with")
    return replace(root, position, dataclasses.replace(node, task=task))


def rename_tasks(root: Node, names: dict[str, str]) -> Node:
    """Every task called by a name in `names` calls the name it maps to; the rest as it was."""
    renamed = copy.deepcopy(root)
    for position in positions(renamed):
        node = node_at(renamed, position)
        if isinstance(node, TaskNode):
            node.task = names.get(node.task, node.task)
    return renamed


def wrap(root: Node | None, position: Position, kind: str) -> Node:
    """Put the node into a new chain or group of its own, in its place."""
    node = copy.deepcopy(node_at(root, position))
    wrapper: Node = ChainNode([node]) if kind == "chain" else GroupNode([node])
    return replace(root, position, wrapper) if position else wrapper


def unwrap(root: Node | None, position: Position) -> Node | None:
    """A container's children take its place in its parent (or become the root)."""
    node = node_at(root, position)
    kids = children(node)
    if not is_container(node):
        raise EditError("only a chain, group or chord can be unwrapped")
    if not position:
        if len(kids) == 1:
            return copy.deepcopy(kids[0])
        if not isinstance(node, ChainNode):
            raise EditError(
                "the canvas itself is this group: unwrapped, its tasks would have to run one "
                "after another, which is a different workflow"
            )
        return copy.deepcopy(node)
    parent, index = position[:-1], position[-1]
    holder = node_at(root, parent)
    if isinstance(holder, ChordNode) and index == len(holder.header) and len(kids) != 1:
        raise EditError("a chord has one body: it cannot be unwrapped into several steps")
    siblings = children(holder)
    spliced = siblings[:index] + copy.deepcopy(kids) + siblings[index + 1 :]
    return replace(root, parent, _rebuilt(holder, spliced))


def feeding(root: Node | None, position: Position) -> tuple[bool, bool]:
    """(receives, follows): whether the node gets the previous result as its first argument
    (it follows a step in a chain or is a chord body, and is not si()), and whether it follows
    another step at all, which is when s() vs si() matters."""
    if root is None:
        return False, False
    node = root
    receives = follows = False
    for index in position:
        if isinstance(node, ChainNode):
            follows = index > 0 or follows
            receives = receives if index == 0 else True
        elif isinstance(node, ChordNode):
            body = index == len(node.header)
            follows = body or follows
            receives = True if body else receives
        node = children(node)[index]
    if isinstance(node, TaskNode) and node.immutable:
        receives = False
    return receives, follows


def empty_containers(root: Node | None) -> list[Position]:
    return [
        p
        for p in positions(root)
        if is_container(node_at(root, p)) and not children(node_at(root, p))
    ]


def task_count(node: Node) -> int:
    if isinstance(node, TaskNode):
        return 1
    return sum(task_count(child) for child in children(node))


def as_canvas(name: str, root: Node | None) -> Canvas:
    if root is None:
        raise EditError("the canvas is empty: drag a task onto it first")
    empty = empty_containers(root)
    if empty:
        raise EditError(
            f"node {position_text(empty[0]) or 'root'} is an empty container: "
            "drop a task into it or delete it"
        )
    return Canvas(name, copy.deepcopy(root))
