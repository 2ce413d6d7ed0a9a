"""The Celery app the panel ships and `celery -A workers worker` runs.

Everything a worker needs arrives through the environment (broker, backend, queue prefix,
transport options), because the panel starts workers as plain processes and must keep
passwords out of their command lines.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

from celery import Celery

from workers.queues import build_queues, build_routes, default_queue, prefix_from_env

BROKER_ENV = "CELERY_BROKER"
BACKEND_ENV = "CELERY_BACKEND"
TRANSPORT_OPTIONS_ENV = "CELERY_DESK_TRANSPORT_OPTIONS"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
REDIS_SCHEMES = frozenset({"redis", "rediss"})

DEFAULT_TRANSPORT_OPTIONS: dict[str, Any] = {
    # Without the priority strategy Redis ignores priorities altogether.
    "queue_order_strategy": "priority",
    # Ten steps so that every priority 0-9 keeps its own list (the default has four).
    "priority_steps": list(range(10)),
    "sep": "\x06\x16",
    # Shown as profile settings: they decide when Redis redelivers a lost task.
    "visibility_timeout": 3600,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 10,
}


def resolve_broker_url(broker_url: str | None = None) -> str:
    return broker_url or os.environ.get(BROKER_ENV) or DEFAULT_BROKER_URL


def resolve_backend_url(broker_url: str, backend_url: str | None = None) -> str:
    """A Redis broker doubles as the result store; anything else falls back to rpc://."""
    explicit = backend_url or os.environ.get(BACKEND_ENV)
    if explicit:
        return explicit
    if urlsplit(broker_url).scheme.lower() in REDIS_SCHEMES:
        return broker_url
    return "rpc://"


def transport_options_from_env() -> dict[str, Any]:
    """Defaults overridden key by key, so a profile only has to carry what it changes."""
    options = dict(DEFAULT_TRANSPORT_OPTIONS)
    options["priority_steps"] = list(DEFAULT_TRANSPORT_OPTIONS["priority_steps"])
    raw = os.environ.get(TRANSPORT_OPTIONS_ENV, "").strip()
    if not raw:
        return options
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{TRANSPORT_OPTIONS_ENV} is not valid JSON ({exc.msg} at character {exc.pos}); "
            'expected an object such as {"visibility_timeout": 3600}'
        ) from exc
    if not isinstance(overrides, dict):
        raise ValueError(
            f"{TRANSPORT_OPTIONS_ENV} must be a JSON object, not {type(overrides).__name__}; "
            'expected something like {"visibility_timeout": 3600}'
        )
    options.update(overrides)
    return options


def create_app(
    broker_url: str | None = None,
    backend_url: str | None = None,
    queue_prefix: str | None = None,
) -> Celery:
    """A fresh app per call, so the panel and tests can talk to several brokers at once."""
    broker = resolve_broker_url(broker_url)
    backend = resolve_backend_url(broker, backend_url)
    prefix = prefix_from_env() if queue_prefix is None else queue_prefix
    options = transport_options_from_env()
    default = default_queue(prefix)

    app = Celery("workers", broker=broker, backend=backend, include=["workers.tasks"])
    app.conf.update(
        # Never unpickle what comes off a broker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # The panel builds its live view from events, including task-sent.
        worker_send_task_events=True,
        task_send_sent_event=True,
        # Priorities only show when a worker holds one message at a time.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_priority=5,
        # Name, args, queue and worker in the backend make reconciliation after an outage possible.
        result_extended=True,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        task_queues=build_queues(prefix),
        task_routes=build_routes(prefix),
        task_default_queue=default,
        task_default_exchange=default,
        task_default_exchange_type="direct",
        task_default_routing_key=default,
        broker_transport_options=options,
    )
    if "global_keyprefix" in options:
        app.conf.result_backend_transport_options = {
            "global_keyprefix": options["global_keyprefix"],
        }
    return app


app = create_app()
