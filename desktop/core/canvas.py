"""Canvases: a tree of tasks, chains, groups and chords, as a JSON file and as Celery signatures.

The file format (version 1) is documented in docs/canvas-format.md with a JSON Schema in
resources/canvas.schema.json. Loading checks every element and names the first bad one by its
path (`root.children[2].args`), so a broken file is refused whole and nothing on screen changes.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import keyword
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from desktop.core.effective_config import EffectiveConfig

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
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok = {
            "queue": isinstance(value, str) and bool(value),
            "routing_key": isinstance(value, str) and bool(value),
            "priority": isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value <= MAX_PRIORITY,
            "countdown": number and value >= 0,
            "eta": _is_time(value),
            "expires": (number and value >= 0) or _is_time(value),
        }[key]
        if not ok:
            raise CanvasError(where, f"must be {OPTION_TYPES[key]}, not {json.dumps(value)}")
    return dict(options)


def _children(data: dict[str, Any], key: str, path: str, editing: bool) -> list[Node]:
    items = data.get(key)
    if not isinstance(items, list) or not (items or editing):
        raise CanvasError(f"{path}.{key}", "must be a non-empty list of nodes")
    return [
        node_from_json(item, f"{path}.{key}[{i}]", editing=editing) for i, item in enumerate(items)
    ]


def node_from_json(data: Any, path: str = "root", *, editing: bool = False) -> Node:
    """One node; `editing` lets a chain or group be empty, as the builder's clipboard and drag
    data may hold one a person has not filled yet (files never do)."""
    if not isinstance(data, dict):
        raise CanvasError(path, f"must be an object, not {_kind(data)}")
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
        immutable = data.get("immutable", False)
        if not isinstance(immutable, bool):
            raise CanvasError(f"{path}.immutable", "must be true (si) or false (s)")
        options = check_options(data.get("options", {}), f"{path}.options")
        return TaskNode(name, list(args), dict(kwargs), immutable, options)
    if kind in ("chain", "group"):
        _check_keys(data, {"type", "children", "options"}, {"children"}, path)
        children = _children(data, "children", path, editing)
        options = check_options(data.get("options", {}), f"{path}.options")
        return ChainNode(children, options) if kind == "chain" else GroupNode(children, options)
    if kind == "chord":
        _check_keys(data, {"type", "header", "body", "options"}, {"header", "body"}, path)
        header = _children(data, "header", path, False)
        body = node_from_json(data["body"], f"{path}.body", editing=editing)
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
        data = json.loads(text)
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
            "version", f"version {json.dumps(data.get('version'))} is not supported (only 1)"
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
            header = [build(c, _join(path, i)) for i, c in enumerate(node.header)]
            body = build(node.body, _join(path, len(node.header)))
            return chord(header, body, app=app).set(**options)
        members = [build(c, _join(path, i)) for i, c in enumerate(node.children)]
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


# -- Python -----------------------------------------------------------------------------------
# Names the generated code binds itself: a task imported under one of them would shadow it.
_CODE_NAMES = frozenset({"app", "chain", "chord", "group", "workflow", "result"})


def _plain_name(text: str) -> bool:
    """Usable as written in Python source: an identifier, no keyword, and one that NFKC
    normalisation leaves alone (Python reads `ﬁ` as `fi`)."""
    return (
        text.isidentifier()
        and not keyword.iskeyword(text)
        and unicodedata.normalize("NFKC", text) == text
    )


def _task_names(node: Node) -> set[str]:
    if isinstance(node, TaskNode):
        return {node.task}
    kids = [*node.header, node.body] if isinstance(node, ChordNode) else node.children
    return set().union(*map(_task_names, kids))


def _task_imports(root: Node) -> dict[str, tuple[str, str]]:
    """Task name -> (module, attribute) for every task the person's code can import by its
    name: Celery names a task `<module>.<function>`, so `workers.tasks.add` is
    `from workers.tasks import add`. Not for a name without a module, with a part that is not
    an identifier, whose short name two modules share (one `add` cannot be both) or that the
    generated code uses itself; those stay `app.signature("name", ...)`."""
    by_short: dict[str, list[str]] = {}
    for name in _task_names(root):
        module, _, short = name.rpartition(".")
        parts = name.split(".")
        if module and module != "__future__" and all(map(_plain_name, parts)):
            by_short.setdefault(short, []).append(name)
    return {
        found[0]: (found[0].rpartition(".")[0], short)
        for short, found in by_short.items()
        if len(found) == 1 and short not in _CODE_NAMES
    }


def _call(node: TaskNode) -> str:
    """The arguments of `add.s(...)`: positional ones, then keywords, as `**{...}` when a key
    is not a plain name."""
    parts = [repr(value) for value in node.args]
    if all(map(_plain_name, node.kwargs)):
        parts += [f"{key}={value!r}" for key, value in node.kwargs.items()]
    elif node.kwargs:
        parts.append(f"**{node.kwargs!r}")
    return ", ".join(parts)


def _python(
    node: Node, indent: int, imported: dict[str, tuple[str, str]], used: set[tuple[str, str]]
) -> str:
    """The node's expression; its first line starts where the caller puts it, later lines are
    indented for `indent` levels. Adds the (module, name) imports it uses to `used`."""
    pad = "    " * indent
    options = ", ".join(f"{k}={v!r}" for k, v in node.options.items())
    settings = f".set({options})" if options else ""
    if isinstance(node, TaskNode):
        # `self` is the one keyword s() cannot take: it is s()'s own first parameter.
        if node.task in imported and "self" not in node.kwargs:
            method = "si" if node.immutable else "s"  # si(): ignores the previous result
            used.add(imported[node.task])
            return f"{imported[node.task][1]}.{method}({_call(node)}){settings}"
        parts = [repr(node.task)]
        if node.args:
            parts.append(f"args={tuple(node.args)!r}")
        if node.kwargs:
            parts.append(f"kwargs={node.kwargs!r}")
        if node.immutable:
            parts.append("immutable=True")
        parts += [f"{k}={v!r}" for k, v in node.options.items()]
        return f"app.signature({', '.join(parts)})"

    def items(nodes: list[Node], level: int) -> str:
        lead = "    " * level
        return "".join(f"{lead}{_python(n, level, imported, used)},\n" for n in nodes)

    inner = pad + "    "
    if isinstance(node, ChordNode):
        body = _python(node.body, indent + 1, imported, used)
        text = f"chord(\n{inner}[\n{items(node.header, indent + 2)}{inner}],\n{inner}{body},\n"
    elif isinstance(node, ChainNode):
        text = f"chain(\n{items(node.children, indent + 1)}"
    else:
        # A list, as Celery documents it: group(one_group) would take that group's tasks as
        # its own and drop the inner group's options.
        text = f"group(\n{inner}[\n{items(node.children, indent + 2)}{inner}]\n"
    return f"{text}{pad}){settings}"


def _kinds(node: Node) -> set[str]:
    """The canvas functions a tree is written with: chain, group, chord."""
    if isinstance(node, TaskNode):
        return set()
    kind = type(node).__name__.removesuffix("Node").lower()
    kids = [*node.header, node.body] if isinstance(node, ChordNode) else node.children
    return {kind}.union(*map(_kinds, kids))


def python_code(canvas: Canvas, app_module: str = "workers") -> str:
    """ "Copy as Python": the same workflow as a person writes it with Celery's canvas
    functions, `add.s(2, 3)` for each task the code can import. `app_module` is the profile's
    `-A` value (`proj` or `proj:celery_app`); importing the app binds shared tasks to it."""
    used: set[tuple[str, str]] = set()
    workflow = _python(canvas.root, 0, _task_imports(canvas.root), used)
    module, _, attribute = app_module.partition(":")
    names = {module: {"app" if attribute in ("", "app") else f"{attribute} as app"}}
    for task_module, short in used:
        names.setdefault(task_module, set()).add(short)
    title = "".join(c if c.isprintable() else " " for c in canvas.name)  # one comment line
    lines = [f"# {title or 'canvas'}: made with Celery Desk"]
    kinds = _kinds(canvas.root)
    if kinds:
        lines.append(f"from celery import {', '.join(sorted(kinds))}")
    lines.append("")
    lines += [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]
    lines += ["", f"workflow = {workflow}"]
    return "\n".join(lines) + "\nresult = workflow.apply_async()\n"


# -- checks before sending ------------------------------------------------------------------
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    """Something wrong with one node; `path` is its position ('' for the root)."""

    path: str
    message: str
    level: str = ERROR


@dataclass(frozen=True)
class Target:
    """What the checks need to know about where a canvas goes."""

    tasks: dict[str, list[dict[str, Any]]] | None = None  # name -> parameters, None: unknown
    has_backend: bool = True
    queues: frozenset[str] = frozenset()  # the app's queues (and the profile's extra ones)
    consumed: frozenset[str] | None = None  # queues live workers consume, None: not known
    config: EffectiveConfig | None = None  # routes, priority rules; None: not read yet

    @classmethod
    def for_config(
        cls,
        config: EffectiveConfig,
        has_backend: bool,
        consumed: frozenset[str] | None = None,
    ) -> Target:
        """Tasks are checked only against an app that was imported (a default config knows
        none, and a worker may still know the name)."""
        tasks = {t.name: t.params for t in config.tasks} if config.imported else None
        return cls(
            tasks=tasks,
            has_backend=has_backend,
            queues=frozenset(config.queue_names()),
            consumed=consumed,
            config=config,
        )


def _argument_problem(params: list[dict[str, Any]], node: TaskNode, receives: bool) -> str:
    positional = [p for p in params if p["kind"] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    keyword_names = {
        p["name"] for p in params if p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
    }
    var_args = any(p["kind"] == "VAR_POSITIONAL" for p in params)
    var_kwargs = any(p["kind"] == "VAR_KEYWORD" for p in params)
    given = len(node.args) + (1 if receives else 0)
    note = " (counting the previous result, which s() passes on)" if receives else ""
    if given > len(positional) and not var_args:
        return f"takes at most {len(positional)} positional argument(s), gets {given}{note}"
    for name in node.kwargs:
        if name not in keyword_names and not var_kwargs:
            return f"has no parameter '{name}'"
    filled = {p["name"] for p in positional[:given]} | set(node.kwargs)
    missing = [
        p["name"]
        for p in params
        if p["kind"] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
        and p.get("default") is None
        and p["name"] not in filled
    ]
    if missing:
        return f"misses argument(s) {', '.join(missing)}{note}"
    return ""


def check(canvas: Canvas, target: Target) -> list[Problem]:
    """Everything that would fail or surprise once sent, each on its node."""
    problems: list[Problem] = []

    def visit(node: Node, path: str, receives: bool, inherited: dict[str, Any]) -> None:
        options = {**inherited, **node.options}
        if isinstance(node, TaskNode):
            check_task(node, path, receives, options)
            return
        if isinstance(node, ChordNode):
            if not target.has_backend:
                problems.append(
                    Problem(path, "a chord needs a result backend; the profile has none")
                )
            for index, child in enumerate(node.header):
                visit(child, _join(path, index), receives, options)
            visit(node.body, _join(path, len(node.header)), True, options)
            return
        for index, child in enumerate(node.children):
            if isinstance(node, ChainNode):
                passed = receives if index == 0 else True
                if is_chord_in_chain(node, index) and not target.has_backend:
                    problems.append(
                        Problem(
                            _join(path, index),
                            "a group followed by a step is sent as a chord, which needs a "
                            "result backend; the profile has none",
                        )
                    )
            else:
                passed = receives
            visit(child, _join(path, index), passed, options)

    def check_task(node: TaskNode, path: str, receives: bool, options: dict[str, Any]) -> None:
        receives = receives and not node.immutable
        if target.tasks is not None:
            params = target.tasks.get(node.task)
            if params is None:
                problems.append(Problem(path, f"unknown task '{node.task}' (not registered)"))
            else:
                problem = _argument_problem(params, node, receives)
                if problem:
                    problems.append(Problem(path, f"{node.task} {problem}"))
        try:
            json.dumps([node.args, node.kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(path, f"arguments are not JSON: {exc}"))
        queue = options.get("queue") or ""
        config = target.config
        chosen = queue or (config.routed_queue(node.task) if config else "")
        if config is not None:
            problems.extend(_priority_problems(config, node.task, options, chosen, path))
        if queue and target.queues and queue not in target.queues:
            problems.append(
                Problem(path, f"queue '{queue}' is not one of the app's queues", WARNING)
            )
        if chosen and target.consumed is not None and chosen not in target.consumed:
            problems.append(
                Problem(path, f"no worker consumes queue '{chosen}' right now", WARNING)
            )

    visit(canvas.root, "", False, {})
    return problems


def _priority_problems(
    config: EffectiveConfig, task: str, options: dict[str, Any], queue: str, path: str
) -> list[Problem]:
    """A priority sent into a Redis list no worker of the app reads is refused (the task would
    wait forever); one the broker caps or ignores is a warning."""
    priority = config.sent_priority(task, options)
    unread = config.unread_step(priority)
    if unread:
        return [Problem(path, unread)]
    given = options.get("priority")
    if not isinstance(given, int):
        return []
    if config.is_redis and config.priority_range and given > config.priority_range[1]:
        top = config.priority_range[1]
        return [
            Problem(
                path,
                f"priority {given} is above kombu's maximum {top}: it is treated as {top}",
                WARNING,
            )
        ]
    if not config.is_redis and queue:
        cap = config.max_priority_of(queue)
        if cap is None:
            return [
                Problem(
                    path,
                    f"queue '{queue}' has no x-max-priority: RabbitMQ ignores priority {given}",
                    WARNING,
                )
            ]
        if given > cap:
            return [
                Problem(
                    path,
                    f"priority {given} is above the x-max-priority {cap} of queue '{queue}': "
                    f"it is treated as {cap}",
                    WARNING,
                )
            ]
    return []


def _join(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


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
class Sent:
    root_id: str
    nodes: list[SentNode]


def _sent_nodes(node: Node, path: str, options: dict[str, Any]) -> list[SentNode]:
    """Every task of the tree with a new id, and the queue and priority the canvas gives it."""
    merged = {**options, **node.options}
    if isinstance(node, TaskNode):
        task_id = str(uuid.uuid4())
        return [SentNode(path, node.task, task_id, merged.get("queue"), merged.get("priority"))]
    if isinstance(node, ChordNode):
        found = []
        for index, child in enumerate(node.header):
            found += _sent_nodes(child, _join(path, index), merged)
        return found + _sent_nodes(node.body, _join(path, len(node.header)), merged)
    found = []
    for index, child in enumerate(node.children):
        # A group passes its options to every member; a chain's reach only its first step
        # (Celery's _chain.run), so later steps are recorded with their own options only.
        passed = merged if isinstance(node, GroupNode) or index == 0 else {}
        found += _sent_nodes(child, _join(path, index), passed)
    return found


def _root_id(result: Any) -> str:
    """The id of what the workflow starts with, from Celery's result tree (each result links to
    the one before it): the first task's id, which every task of it carries as its root id;
    for a canvas that starts with a group or a chord's header, that group's id as sent."""
    while getattr(result, "parent", None) is not None:
        result = result.parent
    return str(result.id)


@contextlib.contextmanager
def _results_not_awaited(app: Any) -> Iterator[None]:
    """While sending, Celery registers the result objects of group members with an
    asynchronous result backend (Redis, RPC) to wake whoever waits on them: it subscribes to
    each task's result and keeps the object until the result arrives. Nobody here waits on a
    result (states are read with get_task_meta), so those objects would live, subscribed, until
    the process exits, and then reconnect to unsubscribe while Python shuts down ("Exception
    ignored in AsyncResult.__del__"). While it sends, this thread's backend (Celery makes one
    per thread) registers nothing, as a synchronous backend never does."""
    backend = app.backend
    own = vars(backend).get("add_pending_result")
    backend.add_pending_result = lambda result, *args, **kwargs: result
    try:
        yield
    finally:
        if own is None:
            del backend.add_pending_result
        else:
            backend.add_pending_result = own


def send(
    canvas: Canvas, app: Any, record: Any = None, config: EffectiveConfig | None = None
) -> Sent:
    """Give every task its id, let `record(SentNode)` keep them (the journal: priority and
    queue travel in no event), then send. The ids are chosen here rather than read back from
    Celery: Celery freezes copies of some signatures while sending (the header of a chord, a
    group followed by a step in a chain), so ids read from our own signatures can be missing
    or not the ones sent, while an id set beforehand is the one its task message carries.
    With the app's configuration, a task sent without a queue or priority is recorded with the
    queue the app's routes pick and the priority the app sends (its task_default_priority)."""
    nodes = _sent_nodes(canvas.root, "", {})
    if config is not None:
        for node in nodes:
            node.queue = node.queue or config.routed_queue(node.task)
            node.priority = config.sent_priority(node.task, {"priority": node.priority})
    built = to_signature(
        canvas.root, app, sending=True, task_ids={node.path: node.id for node in nodes}
    )
    if record is not None:
        for node in nodes:
            record(node)
    with _results_not_awaited(app):
        return Sent(_root_id(built.apply_async()), nodes)
