"""The canvas file format (version 1): a canvas as JSON, read, written and checked.

The format is documented in docs/canvas-format.md with a JSON Schema in
resources/canvas.schema.json. Loading checks every element and names the first bad one by its
path (`root.children[2].args`), so a broken file is refused whole and nothing on screen changes.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, Node, TaskNode
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
