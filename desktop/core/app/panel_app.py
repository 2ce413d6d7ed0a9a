"""The panel's own Celery app: listens to events, broadcasts control, sends tasks.

It never imports user code (task names are strings) and reads JSON only. What it sends it sends
as the person's app would: `client_app` takes the app's effective configuration (app_config)
and declares its queues exactly, routes by the app's own routes and task options, uses its
serializer, transport options, control and event exchanges. It also sends the `task-sent`
event so the panel's own submissions show up like anyone else's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu.connection import Connection, ConnectionPool, PooledConnection

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.queues import QueueInfo
from desktop.core.base.bounds import PANEL_SOCKET_TIMEOUT_S
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints, QueueSpec

# Settings taken from the person's app as they are: they decide where a message goes, how it
# is declared and encoded, and where control and events travel.
_MIRRORED = (
    "task_default_queue",
    "task_default_exchange",
    "task_default_exchange_type",
    "task_default_routing_key",
    "task_default_delivery_mode",
    "task_queue_max_priority",
    "task_create_missing_queues",
    "task_create_missing_queue_type",
    "task_create_missing_queue_exchange_type",
    "task_serializer",
    "task_compression",
    "task_protocol",
    "result_backend_transport_options",
    "broker_use_ssl",
    "control_exchange",
    "event_exchange",
    "event_queue_prefix",
    "event_queue_ttl",
    "event_queue_expires",
)


# kombu retries a publish that names no retry policy for ever (Connection.ensure), and Celery's
# control broadcasts (inspect, ping, revoke) name none: against a broker that has gone, an
# inspect never returned, its job thread never ended, and a window could not close. The panel
# gives up after a few attempts and says so; sending tasks keeps Celery's own policy.
CONTROL_RETRIES = 2


def _with_panel_bounds(broker_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """The panel's own socket bounds on a Redis broker connection (kombu waits for ever by
    default: a paused Redis accepts the connection and never answers). Only ever on the
    panel's connections: workers get the app's options (Supervisor.argv), messages carry none.
    An app's own smaller bound is kept."""
    if urls.scheme_of(broker_url) not in ("redis", "rediss", "sentinel"):
        return options
    bounded = dict(options)
    for key in ("socket_timeout", "socket_connect_timeout"):
        current = bounded.get(key)
        if not isinstance(current, int | float) or not 0 < current <= PANEL_SOCKET_TIMEOUT_S:
            bounded[key] = PANEL_SOCKET_TIMEOUT_S
    return bounded


class _BoundedRetries:
    """kombu retries a publish for ever by default (`ensure(max_retries=None)`): a control
    broadcast to a broker that went away mid-way (the Queues screen asking the workers what
    they hold) retried once a second for as long as the process lived, and the process then
    could not quit (its job pool waits for the job). The panel's connections try
    CONTROL_RETRIES times, then say the broker is gone."""

    def ensure(self, obj: Any, fun: Any, errback: Any = None, max_retries: Any = None,
               *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        if max_retries is None:
            max_retries = CONTROL_RETRIES
        return super().ensure(  # type: ignore[misc]
            obj, fun, errback, max_retries, *args, **kwargs
        )


class _BoundedPooledConnection(_BoundedRetries, PooledConnection):
    """What the app's connection pool (producers, control broadcasts) hands out: kombu's
    `ConnectionPool.new` makes a plain PooledConnection, which the bound would not reach."""


class _BoundedConnectionPool(ConnectionPool):
    def new(self) -> _BoundedPooledConnection:
        info = dict(self.connection._info(resolve=False))
        return _BoundedPooledConnection(self, **info)  # type: ignore[no-untyped-call]


class _BoundedConnection(_BoundedRetries, Connection):
    def Pool(self, limit: int | None = None, **kwargs: Any) -> ConnectionPool:
        return _BoundedConnectionPool(self, limit=limit, **kwargs)  # type: ignore[no-untyped-call]


class _PanelCelery(Celery):  # type: ignore[misc]
    """Celery merges a registered task's own options (its queue, its priority, which is where
    task_default_priority lands) into what it sends (celery/app/base.py, send_task). The panel
    registers no task of the person's app, so it merges the options the app probe read for
    that task name, the same way: only set values, explicit options win."""

    desk_exec_options: dict[str, dict[str, Any]] = {}
    desk_poll_results = False

    def on_after_finalize_drop_foreign_tasks(self) -> None:
        """Celery registers every `shared_task` the process has imported on every app it
        finalizes. The panel never imports the person's code, but a process that imported some
        (a test, a script) would then send those tasks as registered ones, through Celery's own
        argument check, unlike the names the panel sends for everyone else. Only Celery's own
        tasks stay (a chord needs celery.chord_unlock on some backends)."""
        for name in [n for n in self._tasks if not n.startswith("celery.")]:
            del self._tasks[name]

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        defaults = self.desk_exec_options.get(name)
        if defaults:
            options = {**{k: v for k, v in defaults.items() if v is not None}, **options}
        return super().send_task(name, args, kwargs, **options)

    def _get_backend(self) -> Any:
        """`poll_results`: for callers that read results with `get_task_meta` and never wait
        on `.get()` (the window, `celery-desk run`). A Redis result backend would otherwise
        SUBSCRIBE to every task sent (freeze() of a group does it too) and keep the
        subscription; the result objects then try to unsubscribe when collected, long after
        the broker may be gone. Celery makes one backend per thread, so this is done wherever
        a backend is made."""
        backend = super()._get_backend()
        consumer = getattr(backend, "result_consumer", None)
        if consumer is not None and self.desk_poll_results:
            consumer.consume_from = lambda task_id: None
        return backend


def panel_app(
    broker_url: str,
    backend_url: str = "",
    transport_options: dict[str, Any] | None = None,
    queues: Sequence[QueueInfo | QueueSpec] | None = None,
    *,
    poll_results: bool = False,
) -> Celery:
    """The bare panel app on a broker. `queues` are declared as given (QueueSpec: as Celery
    declares a queue it creates for a name). `poll_results`: results are only read with
    `get_task_meta`, so `.get()` would not work and no result is subscribed to."""
    app = _PanelCelery(
        "celery-desk",
        broker=broker_url,
        backend=backend_url or None,
        set_as_current=False,
    )
    app.desk_exec_options = {}
    app.desk_poll_results = poll_results
    app.amqp.Connection = _BoundedConnection
    app.on_after_finalize.connect(
        lambda sender, **kwargs: sender.on_after_finalize_drop_foreign_tasks(),
        sender=app,
        weak=False,
    )
    app.conf.update(
        accept_content=["json"],
        result_accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        task_send_sent_event=True,
        result_extended=True,
        broker_transport_options=_with_panel_bounds(broker_url, dict(transport_options or {})),
        broker_connection_retry_on_startup=False,
        # The panel's own bounds (bounds.py), on its own connections only.
        broker_connection_timeout=PANEL_SOCKET_TIMEOUT_S,
        redis_socket_timeout=PANEL_SOCKET_TIMEOUT_S,
        redis_socket_connect_timeout=PANEL_SOCKET_TIMEOUT_S,
    )
    if queues:
        # Declared as the workers declare them: RabbitMQ refuses a queue redeclared without
        # the x-max-priority it was created with (406 PRECONDITION_FAILED).
        app.conf.task_queues = [
            (q if isinstance(q, QueueInfo) else QueueInfo.extra(q, {})).to_kombu() for q in queues
        ]
    return app


def client_app(
    config: EffectiveConfig, endpoints: Endpoints, *, poll_results: bool = False
) -> Celery:
    """The panel app acting as the person's app: its queues, routes, task options, serializer,
    transport options and exchanges (config), on the profile's broker and backend."""
    app = panel_app(
        endpoints.broker_url,
        endpoints.result_backend,
        config.sending_transport_options(),
        config.queues,
        poll_results=poll_results,
    )
    mirrored = {
        key: config.settings[key]
        for key in _MIRRORED
        if key in config.settings and f"setting.{key}" not in config.inexact
    }  # an SSLContext, say, did not come across as itself: kombu goes by the URL instead
    if not mirrored.get("broker_use_ssl"):
        mirrored.pop("broker_use_ssl", None)
    if not mirrored.get("result_backend_transport_options"):
        mirrored.pop("result_backend_transport_options", None)
    app.conf.update(mirrored)
    app.conf.task_routes = routes_of(config)
    app.desk_exec_options = {t.name: dict(t.exec_options) for t in config.tasks}
    return app


def routes_of(config: EffectiveConfig) -> list[Any]:
    """The panel app's router: for a task the app registers, what the app's own routers gave
    it (resolved in the probe, router functions included); for a name only workers know, the
    app's plain routing tables (exact names and globs: router functions and regexes live in
    user code the panel never imports, so such names go to the default queue)."""
    from celery.app.routes import MapRoute

    table = {t.name: t.route for t in config.tasks}
    fallbacks = [
        MapRoute(pairs) for pairs in map(_plain_pairs, _as_list(config.task_routes)) if pairs
    ]

    def route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> Any:
        if name in table:
            found = table[name]
            return (dict(found) if isinstance(found, dict) else found) or None
        for fallback in fallbacks:
            found = fallback(name, args, kwargs, options, task=task)
            if found:
                return found
        return None

    return [route]


def _plain_pairs(entry: Any) -> list[tuple[str, Any]]:
    """A routing table of the app, as (name or glob, route) pairs, from either form Celery
    takes (a dict, or a list of pairs); entries keyed by a regex or naming a router in user
    code are left out."""
    pairs = entry.items() if isinstance(entry, dict) else entry if isinstance(entry, list) else []
    found = []
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            key, route = pair
            if isinstance(key, str) and isinstance(route, dict | str):
                found.append((key, route))
    return found


def _as_list(routes: Any) -> list[Any]:
    if routes is None:
        return []
    return list(routes) if isinstance(routes, list | tuple) else [routes]
