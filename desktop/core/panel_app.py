"""The panel's own Celery app: listens to events, broadcasts control, sends tasks.

It never imports user code (task names are strings), speaks JSON only, and sends the
`task-sent` event so the panel's own submissions show up like anyone else's.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from desktop.core.profiles import QueueSpec


class _PollingCelery(Celery):  # type: ignore[misc]
    """For callers that read results with `get_task_meta` and never wait on `.get()` (the
    window, `celery-desk run`). A Redis result backend would otherwise SUBSCRIBE to every task
    sent (freeze() of a group does it too) and keep the subscription; the result objects then
    try to unsubscribe when collected, long after the broker may be gone. Celery makes one
    backend per thread, so this is done wherever a backend is made."""

    def _get_backend(self) -> Any:
        backend = super()._get_backend()
        consumer = getattr(backend, "result_consumer", None)
        if consumer is not None:
            consumer.consume_from = lambda task_id: None
        return backend


def panel_app(
    broker_url: str,
    backend_url: str = "",
    transport_options: dict[str, Any] | None = None,
    queues: list[QueueSpec] | None = None,
    *,
    poll_results: bool = False,
) -> Celery:
    """`poll_results`: results are only read with `get_task_meta`, so `.get()` would not work
    and no result is subscribed to."""
    app = (_PollingCelery if poll_results else Celery)(
        "celery-desk",
        broker=broker_url,
        backend=backend_url or None,
        set_as_current=False,
    )
    app.conf.update(
        accept_content=["json"],
        result_accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        task_send_sent_event=True,
        result_extended=True,
        broker_transport_options=dict(transport_options or {}),
        broker_connection_retry_on_startup=False,
    )
    if queues:
        # Declared as the workers declare them: RabbitMQ refuses a queue redeclared without
        # the x-max-priority it was created with (406 PRECONDITION_FAILED).
        app.conf.task_queues = [
            Queue(
                q.name,
                Exchange(q.name, type="direct"),
                routing_key=q.keys()[0],
                queue_arguments={"x-max-priority": q.max_priority} if q.max_priority else None,
            )
            for q in queues
        ]
    return app


def use_app_routes(app: Celery, routes: Any, default_queue: str) -> None:
    """Send the way the person's app would: its routes and default queue (read by the app
    probe), so a task sent without a queue lands where that app's workers listen."""
    if isinstance(routes, dict | list | tuple) and routes:
        app.conf.task_routes = routes
    if default_queue:
        app.conf.task_default_queue = default_queue
        app.conf.task_default_exchange = default_queue
        app.conf.task_default_routing_key = default_queue
