"""Commands a person sends to the cluster: revoke, terminate, worker commands (sending a task
again is broker/retrying.py). Blocking: callers run them off the GUI thread."""

from __future__ import annotations

from typing import Any

from celery import Celery

from desktop.core.base.literals import LiteralRefused, read_literal

TERMINATE_SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")


class ControlError(ValueError):
    """A command that cannot be sent as asked; the message says why."""


def revoke(
    app: Celery, task_id: str | list[str], *, terminate: bool = False, signal: str = "SIGTERM"
) -> None:
    """Revoke one task, or many in one broadcast (workers keep the ids and discard them)."""
    if signal not in TERMINATE_SIGNALS:
        raise ControlError(f"unknown signal '{signal}'")
    app.control.revoke(task_id, terminate=terminate, signal=signal)


ARGSREPR_LIMIT = 1024  # Celery cuts argsrepr/kwargsrepr to this many characters


def literal(text: str | None, empty: Any) -> Any:
    """Arguments as the journal stored them (Celery's argsrepr), read back without eval."""
    if text is None or not text.strip():
        return empty
    if len(text) >= ARGSREPR_LIMIT or "..." in text:
        raise ControlError(
            "the arguments were shortened in the task's events (Celery keeps 1024 characters), "
            "so they cannot be sent again exactly"
        )
    try:
        return read_literal(text)
    except LiteralRefused as exc:
        raise ControlError(
            f"cannot read the arguments back: {text[:80]!r} is not a literal"
        ) from exc


# -- workers: inspect and remote control ------------------------------------------------------
REPLY_TIMEOUT_S = 1.0


def _reply_text(replies: Any) -> str:
    """Broadcast replies ([{node: {"ok": ...}}] or [{node: {"error": ...}}]) as one line."""
    if not replies:
        return "no reply (is the worker online?)"
    parts = []
    for reply in replies:
        for node, answer in reply.items():
            if isinstance(answer, dict):
                text = answer.get("ok") or answer.get("error") or answer
            else:
                text = answer
            parts.append(f"{node}: {text}")
    return "; ".join(parts)


def answering_workers(app: Celery, timeout: float = REPLY_TIMEOUT_S) -> list[str]:
    """The workers that answer a ping: how many replies the inspections after it may stop at
    (`expected`), instead of each waiting out its whole timeout."""
    replies = app.control.inspect(timeout=timeout).ping() or {}
    return sorted(replies)


def inspect_workers(
    app: Celery, timeout: float = REPLY_TIMEOUT_S, expected: int | None = None
) -> dict[str, dict[str, Any]]:
    """Pool, concurrency and consumed queues of every worker that answers (`celery inspect`);
    `expected`: stop waiting once that many workers replied (answering_workers)."""
    inspector = app.control.inspect(timeout=timeout, limit=expected)
    stats = inspector.stats() or {}
    queues = inspector.active_queues() or {}
    facts: dict[str, dict[str, Any]] = {}
    for node in {*stats, *queues}:
        node_stats = stats.get(node) or {}
        pool = node_stats.get("pool") or {}
        facts[node] = {
            # "celery.concurrency.prefork:TaskPool" -> "prefork", as `-P` names it
            "pool": str(pool.get("implementation", "")).split(":")[0].rsplit(".", 1)[-1] or None,
            "concurrency": pool.get("max-concurrency"),
            "processes": len(pool.get("processes") or []) or None,
            "prefetch": node_stats.get("prefetch_count"),
            "queues": sorted(q.get("name", "?") for q in queues.get(node) or []),
        }
    return facts


def registered_and_consumed(
    app: Celery, timeout: float = REPLY_TIMEOUT_S, expected: int | None = None
) -> tuple[dict[str, list[str]], set[str]]:
    """What the builder checks against: each worker's registered task names, and the queues
    any live worker consumes."""
    inspector = app.control.inspect(timeout=timeout, limit=expected)
    registered = {node: list(names) for node, names in (inspector.registered() or {}).items()}
    queues = inspector.active_queues() or {}
    consumed = {str(q.get("name")) for entries in queues.values() for q in entries or []}
    return registered, consumed


def priorities_held(held: list[dict[str, Any]]) -> dict[str, int]:
    """Task id -> priority from the workers' delivery info (held_by_workers)."""
    return {
        str(entry["id"]): entry["priority"]
        for entry in held
        if entry.get("id") and isinstance(entry.get("priority"), int)
    }


def held_by_workers(
    app: Celery, timeout: float = REPLY_TIMEOUT_S, expected: int | None = None
) -> list[dict[str, Any]]:
    """What each worker holds: running (active), prefetched (reserved) and waiting for their
    ETA (scheduled), with the priority and queue from their delivery info."""
    inspector = app.control.inspect(timeout=timeout, limit=expected)
    found: list[dict[str, Any]] = []
    for kind, replies in (
        ("active", inspector.active() or {}),
        ("reserved", inspector.reserved() or {}),
        ("scheduled", inspector.scheduled() or {}),
    ):
        for worker, entries in replies.items():
            for entry in entries or []:
                request = entry.get("request", entry) if kind == "scheduled" else entry
                delivery = request.get("delivery_info") or {}
                found.append(
                    {
                        "worker": worker,
                        "kind": kind,
                        "id": request.get("id"),
                        "task": request.get("name") or request.get("type"),
                        "args": request.get("args"),
                        "kwargs": request.get("kwargs"),
                        "priority": delivery.get("priority"),
                        "queue": delivery.get("routing_key"),
                        "eta": entry.get("eta") if kind == "scheduled" else None,
                        "started": request.get("time_start"),
                    }
                )
    return found


def holding_revocation(
    app: Celery, task_id: str, timeout: float = REPLY_TIMEOUT_S, expected: int | None = None
) -> list[str]:
    """The workers that keep `task_id` among their revoked ids (`inspect revoked`): any of
    them discards the task when it takes it. Revocations live in each worker's memory (and
    its --statedb), so a worker started after the revoke does not hold it."""
    replies = app.control.inspect(timeout=timeout, limit=expected).revoked() or {}
    return sorted(node for node, ids in replies.items() if task_id in (ids or []))


def consumers_per_queue(app: Celery, timeout: float = REPLY_TIMEOUT_S) -> dict[str, int]:
    """How many live workers consume each queue (`inspect active_queues`)."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    counted: dict[str, int] = {}
    for entries in replies.values():
        for queue in entries or []:
            name = str(queue.get("name"))
            counted[name] = counted.get(name, 0) + 1
    return counted


def worker_command(app: Celery, command: str, node: str, **arguments: Any) -> str:
    """One of the broadcast commands a person can send to one worker; returns its reply."""
    where = {"destination": [node], "reply": True, "timeout": REPLY_TIMEOUT_S, "limit": 1}
    control = app.control
    if command == "pool_grow":
        replies = control.pool_grow(n=int(arguments.get("n", 1)), **where)
    elif command == "pool_shrink":
        replies = control.pool_shrink(n=int(arguments.get("n", 1)), **where)
    elif command == "autoscale":
        high, low = int(arguments["max"]), int(arguments["min"])
        if not 0 <= low <= high or high < 1:
            raise ControlError("autoscale needs 1 <= max and 0 <= min <= max")
        replies = control.autoscale(high, low, **where)
    elif command == "add_consumer":
        replies = control.add_consumer(_queue(arguments), **where)
    elif command == "cancel_consumer":
        replies = control.cancel_consumer(_queue(arguments), **where)
    elif command == "rate_limit":
        replies = control.rate_limit(_task(arguments), str(arguments["rate"]), **where)
    elif command == "time_limit":
        soft, hard = arguments.get("soft"), arguments.get("hard")
        if soft is None and hard is None:
            raise ControlError("give a soft or a hard time limit (seconds)")
        replies = control.time_limit(_task(arguments), soft=soft, hard=hard, **where)
    elif command == "shutdown":
        control.shutdown(destination=[node])  # a worker leaves without answering
        return f"{node}: shutdown sent (warm: running tasks finish first)"
    else:
        raise ControlError(f"unknown worker command '{command}'")
    return _reply_text(replies)


def _queue(arguments: dict[str, Any]) -> str:
    queue = str(arguments.get("queue") or "").strip()
    if not queue:
        raise ControlError("give a queue name")
    return queue


def _task(arguments: dict[str, Any]) -> str:
    task = str(arguments.get("task") or "").strip()
    if not task:
        raise ControlError("give a task name")
    return task
