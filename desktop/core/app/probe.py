"""Run as a script in a child process: import a Celery app and print its effective configuration.

It runs under the profile's own interpreter (a Django project's venv may not have Celery Desk
installed), so it imports nothing but the standard library, Celery and kombu. Everything it
reports is what Celery itself computes after `app.finalize()`: settings with Celery's defaults
for what the app leaves unset, the broker transport's own defaults (read from kombu's transport
class, never copied), every queue as Celery would declare it, and the route and execution
options Celery applies to each registered task. `describe` also runs in the panel itself on a
bare app, for Celery's and kombu's defaults when the person's app cannot be imported.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from typing import Any

MARKER = "CELERY_DESK_PROBE_JSON:"

# The settings that decide what the panel sends, reads, declares and starts. Values are the
# effective ones (the app's, else Celery's default); `defaults` carries Celery's own next to them.
SETTINGS = (
    "task_default_queue",
    "task_default_exchange",
    "task_default_exchange_type",
    "task_default_routing_key",
    "task_default_delivery_mode",
    "task_default_priority",
    "task_queue_max_priority",
    "task_create_missing_queues",
    "task_create_missing_queue_type",
    "task_create_missing_queue_exchange_type",
    "task_inherit_parent_priority",
    "task_serializer",
    "task_compression",
    "task_protocol",
    "accept_content",
    "result_serializer",
    "result_accept_content",
    "result_extended",
    "result_backend_transport_options",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "task_ignore_result",
    "task_track_started",
    "worker_prefetch_multiplier",
    "worker_concurrency",
    "task_send_sent_event",
    "worker_send_task_events",
    "event_queue_ttl",
    "event_queue_expires",
    "event_queue_prefix",
    "event_exchange",
    "event_serializer",
    "control_exchange",
    "broker_use_ssl",
    "broker_connection_timeout",
    "timezone",
    "enable_utc",
    "beat_scheduler",
)
_EXEC_OPTION_TYPES = (str, int, float, bool)


def _json_safe(value: Any) -> Any:
    """JSON as is; containers item by item; anything else (a class, a function) as its repr."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | range):
        return [_json_safe(v) for v in value]
    name = getattr(value, "name", None)
    if isinstance(name, str) and type(value).__name__ in ("Exchange", "Queue"):
        return name
    pattern = getattr(value, "pattern", None)
    if isinstance(pattern, str):  # a compiled regular expression in task_routes
        return {"regex": pattern}
    return repr(value)


def _exact(value: Any) -> bool:
    """Whether the JSON form is the value itself (a list for a tuple or a range counts): what is
    not (a socket option keyed by an int, an SSLContext, a class) cannot be handed on."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _exact(v) for k, v in value.items())
    if isinstance(value, list | tuple | range):
        return all(_exact(v) for v in value)
    return False


def _exchange(exchange: Any) -> dict[str, Any]:
    return {
        "name": exchange.name or "",
        "type": exchange.type or "direct",
        "durable": bool(exchange.durable),
        "auto_delete": bool(exchange.auto_delete),
        "arguments": _json_safe(exchange.arguments or {}),
    }


def describe_queue(queue: Any) -> dict[str, Any]:
    """Every attribute that decides how RabbitMQ declares the queue: the panel must declare it
    exactly so, or RabbitMQ refuses the send (406 PRECONDITION_FAILED)."""
    from kombu.common import Broadcast

    arguments = dict(queue.queue_arguments or {})
    return {
        "name": queue.name,
        "alias": queue.alias,
        "broadcast": isinstance(queue, Broadcast),
        "exchange": _exchange(queue.exchange),
        "routing_key": queue.routing_key or "",
        "queue_arguments": _json_safe(arguments),
        "binding_arguments": _json_safe(queue.binding_arguments or {}),
        "durable": bool(queue.durable),
        "exclusive": bool(queue.exclusive),
        "auto_delete": bool(queue.auto_delete),
        "no_declare": queue.no_declare,
        # kombu's own attribute becomes x-max-priority when declared, over the argument
        # (kombu.common prepare_queue_arguments): what the broker applies is that one
        "queue_max_priority": queue.max_priority,
        "max_priority": queue.max_priority
        if queue.max_priority is not None
        else arguments.get("x-max-priority"),
        "expires": queue.expires,
        "message_ttl": queue.message_ttl,
        "max_length": queue.max_length,
        "max_length_bytes": queue.max_length_bytes,
        "bindings": [
            {"exchange": _exchange(b.exchange), "routing_key": b.routing_key or ""}
            for b in (queue.bindings or [])
            if b.exchange is not None
        ],
    }


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


def _exec_options(task: Any) -> dict[str, Any]:
    """What Celery's send_task merges in for a registered task (celery/app/base.py): its own
    queue, routing key, priority (task_default_priority lands here), time limits…"""
    found: dict[str, Any] = {}
    for key, value in dict(task._get_exec_options()).items():
        if value is None:
            continue
        found[key] = value if isinstance(value, _EXEC_OPTION_TYPES) else _json_safe(value)
    return found


def _route(app: Any, name: str, task: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The route the app's routers give this task (its raw form, as Celery merges it under
    explicit options), and the queue Celery finally picks."""
    router = app.amqp.router
    try:
        raw = router.lookup_route(name, (), {}, dict(options), task) if router.routes else None
        resolved = router.route(dict(options), name, (), {}, task)
    except Exception as exc:  # a router function of the person's app that needs real arguments
        return {"error": f"{type(exc).__name__}: {exc}"}
    queue = resolved.get("queue")
    return {
        "raw": _json_safe(raw),
        "queue": getattr(queue, "name", queue),
        "exchange": _json_safe(resolved.get("exchange")),
        "routing_key": resolved.get("routing_key"),
    }


def transport_defaults(app: Any) -> dict[str, Any]:
    """The broker transport's own defaults, from kombu's classes in this interpreter: every
    option the transport's channel takes from `broker_transport_options`, with its value when
    the app sets none, and the priority range kombu clamps a message to."""
    transport = app.connection_for_write().transport
    channel = getattr(transport, "Channel", None)
    names = tuple(getattr(channel, "from_transport_options", ()) or ())
    options = {name: _json_safe(getattr(channel, name, None)) for name in names}
    found: dict[str, Any] = {
        "driver": str(getattr(transport, "driver_type", "") or ""),
        "class": f"{channel.__module__}.{channel.__qualname__}" if channel else "",
        "options": options,
    }
    if channel is not None and hasattr(channel, "max_priority"):
        found["priority_range"] = [int(channel.min_priority), int(channel.max_priority)]
        found["default_priority"] = int(getattr(channel, "default_priority", 0))
    return found


def _module_files(workdir: str) -> list[str]:
    """The person's own source files the app imported: when one changes, so may the config."""
    root = os.path.realpath(workdir)
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        real = os.path.realpath(path)
        if real.startswith(root + os.sep) and "site-packages" not in real:
            found.add(real)
    return sorted(found)


def describe(app: Any) -> dict[str, Any]:
    """Everything the panel needs to act exactly as this app would, after `finalize()`."""
    from celery.app.defaults import DEFAULTS

    app.finalize(auto=True)
    conf = app.conf
    tasks = []
    routes = {}
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        doc = (inspect.getdoc(task.run) or "").strip().splitlines()
        options = _exec_options(task)
        tasks.append(
            {
                "name": name,
                "params": _signature(task),
                "doc": doc[0] if doc else "",
                "rate_limit": getattr(task, "rate_limit", None),
                "ignore_result": bool(getattr(task, "ignore_result", False)),
                "exec_options": options,
            }
        )
        routes[name] = _route(app, name, task, options)
    # Routes may name queues task_queues lacks (task_create_missing_queues): Celery made them
    # while routing above, so the list now holds every queue this app sends to.
    queues = [describe_queue(q) for q in app.amqp.queues.values()]
    raw_routes = conf.task_routes
    return {
        "main": app.main or "",
        "namespace": str(app.namespace or ""),
        "broker_url": str(conf.broker_url or ""),
        "result_backend": str(conf.result_backend or ""),
        "settings": {key: _json_safe(conf.get(key)) for key in SETTINGS},
        "defaults": {key: _json_safe(DEFAULTS.get(key)) for key in SETTINGS},
        # Whether this Celery's beat takes --enable-remote-control (5.7): a capability of the
        # installed Celery, not a setting of the app, so it is not among SETTINGS (which the
        # fingerprint covers: a new key there would look like a change of every app).
        "beat_remote_control": "beat_enable_remote_control" in DEFAULTS,
        "transport_options": _json_safe(dict(conf.broker_transport_options or {})),
        "inexact": sorted(
            [f"setting.{k}" for k in SETTINGS if not _exact(conf.get(k))]
            + [
                f"transport.{k}"
                for k, v in dict(conf.broker_transport_options or {}).items()
                if not _exact(v)
            ]
        ),
        "transport": transport_defaults(app),
        "queues": queues,
        "routes": routes,
        "task_routes": _json_safe(raw_routes),
        "tasks": tasks,
    }


def load_app(module: str) -> Any:
    """The person's app as `celery -A MODULE` finds it, with the modules it imports by default
    (its tasks; under Django, the ORM set up): what every child here reads from."""
    from celery.app.utils import find_app

    app = find_app(module)
    app.loader.import_default_modules()
    return app


def probe(module: str) -> dict[str, Any]:
    found = describe(load_app(module))
    found["files"] = _module_files(os.getcwd())
    return found


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


def start_child() -> str:
    """What every child script does first (this one and `beat_probe`): leave when the panel
    is gone, and put the person's working directory, not this folder, on the path. Returns
    the working directory."""
    _exit_when_orphaned(os.getppid())
    workdir = os.getcwd()
    # Run as a script, Python put this file's folder first on the path: its neighbours
    # (config.py, queues.py...) would shadow the person's own modules of those names.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    return workdir


def failure(exc: BaseException, workdir: str) -> dict[str, Any]:
    """The report of a child whose work raised (user code may raise anything, SystemExit too)."""
    return {
        "ok": False,
        "error": _error_line(exc, workdir),
        "traceback": traceback.format_exc(limit=8),
    }


def report(result: dict[str, Any]) -> None:
    """The one marked JSON line the panel reads, then leave at once: not `return`, since a
    thread the app started at import would keep the interpreter alive."""
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> int:
    workdir = start_child()
    module = sys.argv[1]
    # The broker's scheme only (never a password): the transport whose defaults apply when
    # the app cannot be imported and the environment names no broker.
    scheme = sys.argv[2] if len(sys.argv) > 2 else ""
    try:
        result: dict[str, Any] = {"ok": True, **probe(module)}
    except BaseException as exc:  # report anything user code raises, including SystemExit
        result = failure(exc, workdir)
        try:  # the transport's defaults still hold, from the kombu this interpreter has
            from celery import Celery

            bare = Celery(
                "default", broker=f"{scheme}://" if scheme else None, set_as_current=False
            )
            result["fallback"] = describe(bare)
        except BaseException as inner:  # no Celery in that interpreter at all
            result["fallback_error"] = f"{type(inner).__name__}: {inner}"
    report(result)
    return 0


def _error_line(exc: BaseException, workdir: str) -> str:
    """The exception's last line and where in the person's own code it was raised
    ("RuntimeError: no settings (tasks.py:12)"): what a person needs to fix the import."""
    line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    root = os.path.realpath(workdir) + os.sep
    if isinstance(exc, SyntaxError) and exc.filename:
        found: tuple[str, int | None] | None = (exc.filename, exc.lineno)
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if os.path.realpath(f.filename).startswith(root)]
        chosen = (own or frames)[-1] if (own or frames) else None
        found = (chosen.filename, chosen.lineno) if chosen else None
    if found is None:
        return line
    filename, lineno = found
    real = os.path.realpath(filename)
    shown = real[len(root) :] if real.startswith(root) else filename
    return f"{line} ({shown}:{lineno})"


if __name__ == "__main__":
    sys.exit(main())
