"""Checks before sending: everything that would fail or surprise once sent, each on its node.

Task names and arguments against the app's registered tasks, a chord without a result backend,
priorities by the broker's rules (one home: the app's effective configuration), queues nobody
consumes. Paths are the positions `canvas.send` records (`0.1`).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.core.app import priorities
from desktop.core.canvas.format import CanvasError, check_options
from desktop.core.canvas.model import (
    Canvas,
    ChainNode,
    ChordNode,
    Node,
    TaskNode,
    is_chord_in_chain,
    join_path,
    options_of,
    passed_down,
)
from desktop.core.canvas.values import argument_problem, shown

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig

ERROR, WARNING = "error", "warning"
# RabbitMQ's longest per-message TTL, which Celery sets from `expires` (the `expiration`
# property, in ms): 315,360,000,000 ms (3650 days) is taken, one more is refused with
# PRECONDITION_FAILED value_too_large, which closes the channel after the publish returned.
RABBITMQ_MAX_TTL_S = 315_360_000


@dataclass(frozen=True)
class Problem:
    """Something wrong with one node; `path` is its position ('' for the root).

    `testable`: an error the broker still takes, so the worker is what fails or refuses
    (a name no worker knows, arguments the task's signature rejects, a priority list nobody
    reads): a person testing that failure may send it anyway, on purpose. Errors that cannot
    be sent at all (bad options, values JSON cannot carry, what the broker refuses) are not."""

    path: str
    message: str
    level: str = ERROR
    testable: bool = False


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


def only_testable(problems: list[Problem]) -> bool:
    """Errors there are, and each can be sent anyway to test the failure it names."""
    errors = [p for p in problems if p.level == ERROR]
    return bool(errors) and all(p.testable for p in errors)


def check(canvas: Canvas, target: Target) -> list[Problem]:
    """Everything that would fail or surprise once sent, each on its node."""
    problems: list[Problem] = []

    def visit(node: Node, path: str, receives: bool, inherited: dict[str, Any]) -> None:
        try:  # the file's own rules again: a canvas built in code, or loaded a while ago
            check_options(node.options, "options")
        except CanvasError as exc:
            problems.append(Problem(path, f"{exc.path}: {exc.message}"))
        options = options_of(node, inherited)
        if isinstance(node, TaskNode):
            check_task(node, path, receives, options)
            return
        if isinstance(node, ChordNode):
            if not target.has_backend:
                problems.append(
                    Problem(path, "a chord needs a result backend; the profile has none")
                )
            for index, child in enumerate(node.header):
                visit(child, join_path(path, index), receives, options)
            visit(node.body, join_path(path, len(node.header)), True, options)
            return
        for index, child in enumerate(node.children):
            if isinstance(node, ChainNode):
                passed = receives if index == 0 else True
                if is_chord_in_chain(node, index) and not target.has_backend:
                    problems.append(
                        Problem(
                            join_path(path, index),
                            "a group followed by a step is sent as a chord, which needs a "
                            "result backend; the profile has none",
                        )
                    )
            else:
                passed = receives
            visit(child, join_path(path, index), passed, passed_down(node, index, options))

    def check_task(node: TaskNode, path: str, receives: bool, options: dict[str, Any]) -> None:
        receives = receives and not node.immutable
        if target.tasks is not None:
            params = target.tasks.get(node.task)
            if params is None:
                problems.append(
                    Problem(path, f"unknown task '{node.task}' (not registered)", testable=True)
                )
            else:
                problem = _argument_problem(params, node, receives)
                if problem:
                    problems.append(Problem(path, f"{node.task} {problem}", testable=True))
        unsendable = argument_problem(node.args, "args") or argument_problem(node.kwargs, "kwargs")
        if unsendable:
            problems.append(Problem(path, f"{unsendable[0]}: {unsendable[1]}"))
        else:
            try:
                json.dumps([node.args, node.kwargs], allow_nan=False)
            except (TypeError, ValueError) as exc:
                problems.append(Problem(path, f"arguments are not JSON: {exc}"))
        queue = options.get("queue") or ""
        config = target.config
        if config is not None and config.is_rabbitmq:
            problems.extend(_ttl_problems(options.get("expires"), path))
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
    priority = priorities.sent_priority(config, task, options)
    unread = priorities.unread_step(config, priority)
    if unread:
        return [Problem(path, unread, testable=True)]
    given = options.get("priority")
    if not isinstance(given, int):
        return []
    said = priorities.capped(config, given, queue)
    return [Problem(path, said, WARNING)] if said else []


def _ttl_problems(expires: Any, path: str) -> list[Problem]:
    """RabbitMQ refuses a message whose time to live (Celery's `expires`) is over 3650 days."""
    if isinstance(expires, str):
        try:
            moment = datetime.datetime.fromisoformat(expires)
            if moment.tzinfo is None:  # Celery reads a naive time as UTC (maybe_make_aware)
                moment = moment.replace(tzinfo=datetime.UTC)
            seconds = (moment - datetime.datetime.now(datetime.UTC)).total_seconds()
        except (ValueError, OverflowError):
            return []  # the option's own check says what is wrong with it
    elif isinstance(expires, int | float) and not isinstance(expires, bool):
        seconds = expires
    else:
        return []
    if seconds > RABBITMQ_MAX_TTL_S:
        return [
            Problem(
                path,
                f"expires {shown(expires)} is more than RabbitMQ keeps a message "
                f"({RABBITMQ_MAX_TTL_S} s, 3650 days): it would refuse the message",
            )
        ]
    return []
