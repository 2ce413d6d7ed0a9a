"""Canvases: a tree of tasks, chains, groups and chords, as a JSON file and as Celery signatures.

The file format (version 1) is documented in docs/canvas-format.md with a JSON Schema in
resources/canvas.schema.json. Loading checks every element and names the first bad one by its
path (`root.children[2].args`), so a broken file is refused whole and nothing on screen changes.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from desktop.core.app import priorities
from desktop.core.canvas.published import Keeper, as_published, results_not_awaited
from desktop.core.canvas.values import (
    MAX_NESTING,
    NESTING_WHY,
    argument_problem,
    is_number,
    parse_int,
    seconds_problem,
    shown,
    time_problem,
)

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig

FORMAT = "celery-desk/canvas"
VERSION = 1
OPTION_TYPES: dict[str, str] = {
    "queue": "a queue name (text)",
    "routing_key": "a routing key (text)",
    "priority": "a whole number from 0 to 255",
    "countdown": "seconds from now (a number, 0 or more)",
    "eta": "an ISO 8601 date and time, e.g. 2026-11-24T18:00:00+00:00",
    "expires": "seconds from now (a number) or an ISO 8601 date and time",
}
MAX_PRIORITY = 255  # AMQP's limit; Redis priority steps and x-max-priority narrow it further


class CanvasError(ValueError):
    """A file or node that is not a valid canvas; `path` names the first bad element."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


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


# -- JSON -----------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _check_keys(data: dict[str, Any], allowed: set[str], required: set[str], path: str) -> None:
    for key in sorted(set(data) - allowed):
        raise CanvasError(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required - set(data)):
        raise CanvasError(f"{path}.{key}", "missing")


def _is_time(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_options(options: Any, path: str) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise CanvasError(path, f"must be an object, not {_kind(options)}")
    for key, value in options.items():
        where = f"{path}.{key}"
        if key not in OPTION_TYPES:
            raise CanvasError(where, f"unknown option (allowed: {', '.join(sorted(OPTION_TYPES))})")
        ok = {
            "queue": isinstance(value, str) and bool(value),
            "routing_key": isinstance(value, str) and bool(value),
            "priority": isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value <= MAX_PRIORITY,
            "countdown": is_number(value),
            "eta": _is_time(value),
            "expires": is_number(value) or _is_time(value),
        }[key]
        if not ok:
            raise CanvasError(where, f"must be {OPTION_TYPES[key]}, not {shown(value)}")
        if key in ("countdown", "expires", "eta"):
            problem = time_problem(value) if isinstance(value, str) else seconds_problem(value)
            if problem:
                raise CanvasError(where, f"{problem}, not {shown(value)}")
    return dict(options)


def _refuse_unsendable(value: Any, path: str) -> None:
    found = argument_problem(value, path)
    if found:
        raise CanvasError(*found)


def _children(data: dict[str, Any], key: str, path: str, editing: bool, depth: int) -> list[Node]:
    items = data.get(key)
    if not isinstance(items, list) or not (items or editing):
        raise CanvasError(f"{path}.{key}", "must be a non-empty list of nodes")
    return [
        node_from_json(item, f"{path}.{key}[{i}]", editing=editing, depth=depth + 1)
        for i, item in enumerate(items)
    ]


def node_from_json(data: Any, path: str = "root", *, editing: bool = False, depth: int = 0) -> Node:
    """One node; `editing` lets a chain or group be empty, as the builder's clipboard and drag
    data may hold one a person has not filled yet (files never do)."""
    if not isinstance(data, dict):
        raise CanvasError(path, f"must be an object, not {_kind(data)}")
    if depth > MAX_NESTING:
        raise CanvasError(path, f"nested more than {MAX_NESTING} levels deep ({NESTING_WHY})")
    kind = data.get("type")
    if kind == "task":
        _check_keys(
            data, {"type", "task", "args", "kwargs", "immutable", "options"}, {"task"}, path
        )
        name = data["task"]
        if not isinstance(name, str) or not name.strip():
            raise CanvasError(f"{path}.task", "must be a task name such as workers.tasks.add")
        args = data.get("args", [])
        if not isinstance(args, list):
            raise CanvasError(f"{path}.args", f"must be a list, not {_kind(args)}")
        kwargs = data.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise CanvasError(f"{path}.kwargs", f"must be an object, not {_kind(kwargs)}")
        _refuse_unsendable(args, f"{path}.args")
        _refuse_unsendable(kwargs, f"{path}.kwargs")
        immutable = data.get("immutable", False)
        if not isinstance(immutable, bool):
            raise CanvasError(f"{path}.immutable", "must be true (si) or false (s)")
        options = check_options(data.get("options", {}), f"{path}.options")
        return TaskNode(name, list(args), dict(kwargs), immutable, options)
    if kind in ("chain", "group"):
        _check_keys(data, {"type", "children", "options"}, {"children"}, path)
        children = _children(data, "children", path, editing, depth)
        options = check_options(data.get("options", {}), f"{path}.options")
        return ChainNode(children, options) if kind == "chain" else GroupNode(children, options)
    if kind == "chord":
        _check_keys(data, {"type", "header", "body", "options"}, {"header", "body"}, path)
        header = _children(data, "header", path, False, depth)
        body = node_from_json(data["body"], f"{path}.body", editing=editing, depth=depth + 1)
        options = check_options(data.get("options", {}), f"{path}.options")
        return ChordNode(header, body, options)
    raise CanvasError(f"{path}.type", "must be one of task, chain, group, chord")


def node_to_json(node: Node) -> dict[str, Any]:
    data: dict[str, Any]
    if isinstance(node, TaskNode):
        data = {"type": "task", "task": node.task, "args": list(node.args)}
        data["kwargs"] = dict(node.kwargs)
        data["immutable"] = node.immutable
    elif isinstance(node, ChordNode):
        data = {
            "type": "chord",
            "header": [node_to_json(c) for c in node.header],
            "body": node_to_json(node.body),
        }
    else:
        kind = "chain" if isinstance(node, ChainNode) else "group"
        data = {"type": kind, "children": [node_to_json(c) for c in node.children]}
    data["options"] = dict(node.options)
    return data


def loads(text: str) -> Canvas:
    """A canvas from file text; CanvasError names the first problem and its path."""
    try:
        data = json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise CanvasError(
            "file", f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise CanvasError("file", "nested too deeply") from exc
    if not isinstance(data, dict):
        raise CanvasError("file", f"must be a JSON object, not {_kind(data)}")
    if data.get("format") != FORMAT:
        raise CanvasError("format", f'must be "{FORMAT}" (this is not a Celery Desk canvas)')
    if data.get("version") != VERSION:
        raise CanvasError(
            "version", f"version {shown(data.get('version'))} is not supported (only 1)"
        )
    _check_keys(data, {"format", "version", "name", "root"}, {"root"}, "file")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise CanvasError("name", "must be text")
    try:
        return Canvas(name, node_from_json(data["root"]))
    except RecursionError as exc:
        raise CanvasError("root", "nested too deeply") from exc


def dumps(canvas: Canvas) -> str:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "name": canvas.name,
        "root": node_to_json(canvas.root),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# -- Celery signatures ----------------------------------------------------------------------
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


# -- sending ----------------------------------------------------------------------------------
@dataclass
class SentNode:
    """One task of a sent canvas: its position, name, id and the options it went with."""

    path: str
    task: str
    id: str
    queue: str | None
    priority: int | None


@dataclass
class Unjournaled:
    """Tasks the broker took that the journal could not keep (disk full, locked, unwritable),
    and why. They WERE sent: sending them again would run them twice."""

    nodes: list[SentNode]
    reason: str

    def said(self, sent: int) -> str:
        return f"sent {sent} task(s), {len(self.nodes)} of them not journaled: {self.reason}"


@dataclass
class Sent:
    """What went out; `unjournaled` when the journal failed to keep some of it (still sent)."""

    root_id: str
    nodes: list[SentNode]
    unjournaled: Unjournaled | None = None


def _sent_nodes(node: Node, path: str, options: dict[str, Any]) -> list[SentNode]:
    """Every task of the tree with a new id, and the queue and priority the canvas gives it
    (what Celery then publishes is taken from the messages: `_as_published`)."""
    merged = options_of(node, options)
    if isinstance(node, TaskNode):
        task_id = str(uuid.uuid4())
        return [SentNode(path, node.task, task_id, merged.get("queue"), merged.get("priority"))]
    if isinstance(node, ChordNode):
        found = []
        for index, child in enumerate(node.header):
            found += _sent_nodes(child, join_path(path, index), merged)
        return found + _sent_nodes(node.body, join_path(path, len(node.header)), merged)
    found = []
    for index, child in enumerate(node.children):
        found += _sent_nodes(child, join_path(path, index), passed_down(node, index, merged))
    return found


def _root_id(result: Any) -> str:
    """The id of what the workflow starts with, from Celery's result tree (each result links to
    the one before it): the first task's id, which every task of it carries as its root id;
    for a canvas that starts with a group or a chord's header, that group's id as sent."""
    while getattr(result, "parent", None) is not None:
        result = result.parent
    return str(result.id)


class SendError(Exception):
    """Sending stopped part way; `sent` are the tasks whose messages the broker took (they are
    the ones recorded), out of `total`; `unjournaled` those of them the journal failed to keep."""

    def __init__(
        self,
        cause: BaseException,
        sent: list[SentNode],
        total: int,
        unjournaled: Unjournaled | None = None,
    ) -> None:
        said = f"{len(sent)} of {total} task(s) sent, then {type(cause).__name__}: {cause}"
        if unjournaled is not None:
            said += f"; {len(unjournaled.nodes)} of them not journaled: {unjournaled.reason}"
        super().__init__(said)
        self.sent = sent
        self.total = total
        self.unjournaled = unjournaled


def send(
    canvas: Canvas, app: Any, record: Any = None, config: EffectiveConfig | None = None
) -> Sent:
    """Give every task its id, send, and let `record(SentNode)` keep what went out (the
    journal: priority and queue travel in no event). The ids are chosen here rather than read
    back from Celery: Celery freezes copies of some signatures while sending (the header of a
    chord, a group followed by a step in a chain), so ids read from our own signatures can be
    missing or not the ones sent, while an id set beforehand is the one its task message
    carries. With the app's configuration, a task sent without a queue or priority is recorded
    with the queue the app's routes pick and the priority the app sends (its
    task_default_priority).

    A task is recorded as soon as the broker has taken its message (Celery's
    after_task_publish), with the tasks that message carries for a worker to send later (a
    chain's later steps, a chord's body): a process ended mid-send has journaled what went out,
    and a send that fails part way records only what was sent and raises SendError.

    A `record` that fails (the journal full, locked, unwritable) never makes a sent task look
    unsent: the rest are sent and not recorded (one failure is enough to stop asking a failing
    journal), and `Sent.unjournaled` (or `SendError.unjournaled`) says which and why."""
    nodes = _sent_nodes(canvas.root, "", {})
    if config is not None:
        for node in nodes:
            node.queue = node.queue or config.routed_queue(node.task)
            node.priority = priorities.sent_priority(config, node.task, {"priority": node.priority})
    built = to_signature(
        canvas.root, app, sending=True, task_ids={node.path: node.id for node in nodes}
    )
    keeper = Keeper(record)
    with results_not_awaited(app), as_published(nodes, keeper.keep) as published:
        try:
            result = built.apply_async()
        except Exception as exc:
            raise SendError(exc, list(published), len(nodes), _unjournaled(keeper)) from exc
    for node in nodes:  # anything Celery sent in a way not seen above is recorded now
        keeper.keep(node, again=False)
    return Sent(_root_id(result), nodes, _unjournaled(keeper))


def _unjournaled(keeper: Keeper) -> Unjournaled | None:
    return None if keeper.failure is None else Unjournaled(list(keeper.missed), keeper.failure)
