"""Commands a person sends to the cluster: revoke, terminate, send again. Blocking: callers
run them off the GUI thread."""

from __future__ import annotations

import ast
from typing import Any

from celery import Celery

TERMINATE_SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")


class ControlError(ValueError):
    """A command that cannot be sent as asked; the message says why."""


def revoke(app: Celery, task_id: str, *, terminate: bool = False, signal: str = "SIGTERM") -> None:
    if signal not in TERMINATE_SIGNALS:
        raise ControlError(f"unknown signal '{signal}'")
    app.control.revoke(task_id, terminate=terminate, signal=signal)


def literal(text: str | None, empty: Any) -> Any:
    """Arguments as the journal stored them (Celery's argsrepr), read back without eval."""
    if text is None or not text.strip():
        return empty
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ControlError(
            f"cannot read the arguments back: {text[:80]!r} is not a literal"
        ) from exc


def send_again(app: Celery, row: dict[str, Any]) -> str:
    """Retry from the tasks screen: the same task, arguments, queue and priority, a new id."""
    name = row.get("name")
    if not name:
        raise ControlError("the task's name is not known, so it cannot be sent again")
    args = literal(row.get("args"), ())
    kwargs = literal(row.get("kwargs"), {})
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise ControlError("the stored arguments are not a list and a dict")
    options: dict[str, Any] = {}
    queue = row.get("queue") or row.get("routing_key")
    if queue:
        options["queue"] = queue
    if isinstance(row.get("priority"), int):
        options["priority"] = row["priority"]
    result = app.send_task(str(name), args=list(args), kwargs=dict(kwargs), **options)
    return str(result.id)
