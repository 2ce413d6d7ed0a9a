"""A canvas as Celery signatures, both ways: to send it, to show it as Python, and to open a
signature made elsewhere in the builder."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from desktop.core.canvas.format import OPTION_TYPES
from desktop.core.canvas.model import ChainNode, ChordNode, GroupNode, Node, TaskNode, join_path


def _send_options(options: dict[str, Any]) -> dict[str, Any]:
    """ISO times become datetimes only when sending: the file and the round trip keep text."""
    sent = dict(options)
    for key in ("eta", "expires"):
        if isinstance(sent.get(key), str):
            sent[key] = datetime.datetime.fromisoformat(sent[key])
    return sent


def to_signature(
    node: Node, app: Any, *, sending: bool = False, task_ids: Mapping[str, str] | None = None
) -> Any:
    """The Celery signature for a node. Chains are built as `_chain` so a group followed by a
    task stays a chain here; Celery itself turns it into a chord when it is sent.

    `task_ids` (a task's position -> its id) gives every task its id before Celery sees it:
    Celery keeps an id set on a signature through all the copies it makes while sending (a
    chord's header, a group turned into a chord in a chain), and sends the task under it."""
    from celery import group
    from celery.canvas import Signature, _chain, chord

    def build(node: Node, path: str) -> Any:
        options = _send_options(node.options) if sending else dict(node.options)
        if isinstance(node, TaskNode):
            if task_ids is not None:
                options["task_id"] = task_ids[path]
            return Signature(
                node.task,
                args=tuple(node.args),
                kwargs=dict(node.kwargs),
                options=options,
                immutable=node.immutable,
                app=app,
            )
        if isinstance(node, ChordNode):
            header = [build(c, join_path(path, i)) for i, c in enumerate(node.header)]
            body = build(node.body, join_path(path, len(node.header)))
            return chord(header, body, app=app).set(**options)
        members = [build(c, join_path(path, i)) for i, c in enumerate(node.children)]
        if isinstance(node, ChainNode):
            return _chain(*members, app=app).set(**options)
        return group(members, app=app).set(**options)

    return build(node, "")


def from_signature(signature: Any) -> Node:
    """Back from a Celery signature (for "open in builder" and round-trip tests)."""
    from celery import group
    from celery.canvas import _chain, chord

    options = {k: v for k, v in dict(signature.options).items() if k in OPTION_TYPES}
    if isinstance(signature, chord):
        return ChordNode(
            [from_signature(s) for s in signature.tasks], from_signature(signature.body), options
        )
    if isinstance(signature, _chain):
        return ChainNode([from_signature(s) for s in signature.tasks], options)
    if isinstance(signature, group):
        return GroupNode([from_signature(s) for s in signature.tasks], options)
    return TaskNode(
        str(signature.task),
        list(signature.args),
        dict(signature.kwargs),
        bool(signature.immutable),
        options,
    )
