"""Run as a script in a child process: import a Celery app and print its configuration as JSON.

It runs under the profile's own interpreter (a Django project's venv may not have Celery Desk
installed), so it imports nothing but the standard library and Celery.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from typing import Any

MARKER = "CELERY_DESK_PROBE_JSON:"


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _json_safe(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [_json_safe(v) for v in value]
        return repr(value)


def _queues(app: Any) -> list[dict[str, Any]]:
    found = []
    for queue in app.conf.task_queues or []:
        arguments = getattr(queue, "queue_arguments", None) or {}
        exchange = getattr(queue, "exchange", None)
        found.append(
            {
                "name": queue.name,
                "routing_key": getattr(queue, "routing_key", None) or queue.name,
                "exchange": getattr(exchange, "name", "") or "",
                "max_priority": arguments.get("x-max-priority")
                or getattr(queue, "max_priority", None),
            }
        )
    return found


def _signature(task: Any) -> list[dict[str, Any]]:
    try:
        signature = inspect.signature(task.run)
    except (TypeError, ValueError):
        return []
    params = []
    for param in signature.parameters.values():
        if param.name == "self" and getattr(task, "bind", False):
            continue
        params.append(
            {
                "name": param.name,
                "kind": param.kind.name,
                "default": None if param.default is param.empty else repr(param.default),
                "annotation": None
                if param.annotation is param.empty
                else getattr(param.annotation, "__name__", str(param.annotation)),
            }
        )
    return params


def probe(module: str) -> dict[str, Any]:
    from celery.app.utils import find_app

    app = find_app(module)
    app.loader.import_default_modules()
    conf = app.conf
    tasks = []
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        doc = (inspect.getdoc(task.run) or "").strip().splitlines()
        tasks.append(
            {
                "name": name,
                "params": _signature(task),
                "doc": doc[0] if doc else "",
                "queue": getattr(task, "queue", None),
                "rate_limit": getattr(task, "rate_limit", None),
            }
        )
    return {
        "main": app.main,
        "broker_url": conf.broker_url or "",
        "result_backend": str(conf.result_backend or ""),
        "default_queue": conf.task_default_queue,
        "queues": _queues(app),
        "routes": _json_safe(conf.task_routes),
        "transport_options": _json_safe(dict(conf.broker_transport_options or {})),
        "default_priority": conf.task_default_priority,
        "acks_late": bool(conf.task_acks_late),
        "prefetch_multiplier": conf.worker_prefetch_multiplier,
        "serializer": conf.task_serializer,
        "tasks": tasks,
    }


def _exit_when_orphaned(parent: int) -> None:
    """Runs in its own session (so a timeout can kill its whole group); if the panel dies,
    nobody would stop a hung import, so leave as soon as the parent is gone."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="probe-orphan-watch", daemon=True).start()


def main() -> int:
    _exit_when_orphaned(os.getppid())
    module = sys.argv[1]
    workdir = os.getcwd()
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    try:
        result: dict[str, Any] = {"ok": True, **probe(module)}
    except BaseException as exc:  # report anything user code raises, including SystemExit
        result = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
