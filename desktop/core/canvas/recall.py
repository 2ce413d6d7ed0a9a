"""A past task, or a whole past workflow, back as a canvas a person can edit and send again.

The journal keeps what events say: names, arguments as Celery's argsrepr, queue and priority
for what the panel sent, and parent/root ids. A chain's later step was sent by the worker with
the previous result prepended to its arguments, so that argument is taken off again: the
canvas's s() passes it on by itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from desktop.core.base.task_record import TaskRecord, queue_of
from desktop.core.broker.control import ControlError, literal
from desktop.core.canvas.model import ChainNode, GroupNode, Node, TaskNode


def task_node(
    row: TaskRecord,
    previous: TaskRecord | None = None,
    routing: Mapping[str, str] | None = None,
) -> TaskNode:
    """ControlError when the arguments were shortened or are not literals. The task keeps its
    queue (`queue_of`: the one recorded, else where its routing key went, named by the app's
    `routing` when given), as sending it again from the Tasks screen does."""
    args = literal(row.get("args"), [])
    kwargs = literal(row.get("kwargs"), {})
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise ControlError("the stored arguments are not a list and a dict")
    args = list(args)
    immutable = False
    if previous is not None and previous.get("result") is not None:
        try:
            passed = literal(previous["result"], None)
        except ControlError:
            passed = None
        if args and passed is not None and args[0] == passed:
            args = args[1:]
        elif passed is not None:
            immutable = True  # the worker prepends the result unless the step was si()
    options: dict[str, Any] = {}
    queue = queue_of(row, routing)
    if queue:
        options["queue"] = queue
    if isinstance(row.get("priority"), int):
        options["priority"] = row["priority"]
    return TaskNode(str(row.get("name") or "unknown"), args, dict(kwargs), immutable, options)


def _chord_bodies(
    rows: list[TaskRecord], following: dict[str, list[TaskRecord]]
) -> dict[str, TaskRecord]:
    """Celery sends a chord's body from the header task that finishes last, so the body's
    parent is that one member, not the group. A member's only follower whose first argument
    is the list of all the members' results is the body of their group: parent id -> body."""
    found: dict[str, TaskRecord] = {}
    for parent_id, members in following.items():
        if len(members) < 2:
            continue
        for member in members:
            after = following.get(member["id"], [])
            if len(after) != 1:
                continue
            try:
                args = literal(after[0].get("args"), [])
            except ControlError:
                continue
            if args and isinstance(args[0], list | tuple) and len(args[0]) == len(members):
                found[parent_id] = after[0]
                following[member["id"]] = []
    return found


def workflow(rows: list[TaskRecord], routing: Mapping[str, str] | None = None) -> Node:
    """Steps linked by parent id become a chain; several children of one task, a group,
    followed by its chord body when there is one."""
    if not rows:
        raise ControlError("no task of this workflow is in the journal")
    by_id = {row["id"]: row for row in rows}
    following: dict[str, list[TaskRecord]] = defaultdict(list)
    for row in rows:
        parent_id = row.get("parent_id")
        if parent_id is not None and parent_id in by_id:
            following[parent_id].append(row)
    bodies = _chord_bodies(rows, following)

    def steps_from(row: TaskRecord, previous: TaskRecord | None) -> Node:
        steps: list[Node] = [task_node(row, previous, routing)]
        current = row
        while True:
            after = following.get(current["id"], [])
            if len(after) == 1:
                steps.append(task_node(after[0], current, routing))
                current = after[0]
                continue
            if not after:
                break
            steps.append(GroupNode([steps_from(child, current) for child in after]))
            body = bodies.get(current["id"])
            if body is None:
                break
            node = task_node(body, routing=routing)
            node.args = node.args[1:]  # the header's results, which the chord passes on
            steps.append(node)
            current = body
        return steps[0] if len(steps) == 1 else ChainNode(steps)

    tops = [row for row in rows if row.get("parent_id") not in by_id]
    if len(tops) == 1:
        return steps_from(tops[0], None)
    return GroupNode([steps_from(top, None) for top in tops])
