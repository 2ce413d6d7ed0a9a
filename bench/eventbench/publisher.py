"""The publisher: synthetic task lifecycles flooded through Celery's event dispatchers."""

from __future__ import annotations

import time
import uuid
from typing import Any

LAG = 64  # tasks in flight: a lifecycle's four events interleave with other tasks' events
WORKERS = 4


_NAMES = (
    "reports.render_pdf",
    "mail.send_digest",
    "billing.charge_card",
    "etl.load_partition",
    "images.make_thumbnail",
    "search.reindex_document",
)


def _event(index: int, task_id: str, stage: int) -> tuple[int, str, dict[str, Any]]:
    """Stage 0-3 of one task's lifecycle, with the fields a client and a worker send (celery 5):
    (dispatcher index, event type, fields)."""
    worker = 1 + index % WORKERS
    if stage == 2:
        return worker, "task-started", {"uuid": task_id}
    if stage == 3:
        result = repr({"status": "ok", "rows": index % 500, "path": f"/srv/out/{task_id}.pdf"})
        runtime = 0.01 + (index % 97) / 100
        return worker, "task-succeeded", {"uuid": task_id, "result": result, "runtime": runtime}
    fields = {
        "uuid": task_id,
        "name": _NAMES[index % len(_NAMES)],
        "args": repr((index, f"customer-{index % 977}", {"rows": index % 500, "tags": ["a"]})),
        "kwargs": repr({"priority": "normal", "user": f"user-{index % 131}", "notify": True}),
        "root_id": task_id,
        "parent_id": None,
        "retries": 0,
        "eta": None,
        "expires": None,
    }
    if stage == 0:
        fields.update(queue="celery", exchange="", routing_key="celery")
        return 0, "task-sent", fields
    return worker, "task-received", fields


def publish(url: str, tasks: int, pipeline: int, rate: float = 0.0) -> dict[str, Any]:
    """Flood `tasks` lifecycles through Celery's dispatchers, pipelined with kombu's batch();
    with `rate`, no faster than that many events/s (a steady cluster rather than a flood)."""
    from celery import Celery

    app = Celery("bench-publisher", broker=url, set_as_current=False)
    ids = [str(uuid.uuid4()) for _ in range(tasks)]
    sent = 0
    with app.events.default_dispatcher(hostname="client@bench") as client:
        dispatchers = [client] + [
            app.events.Dispatcher(
                client.connection, hostname=f"celery@worker-{k}", channel=client.channel
            )
            for k in range(1, WORKERS + 1)
        ]
        producer = client.producer
        started = time.perf_counter()
        with producer.batch(pipeline):
            # Stage s of task i goes out at step i + s*LAG: four tasks' stages interleave.
            for step in range(tasks + 3 * LAG):
                for stage in range(4):
                    index = step - stage * LAG
                    if 0 <= index < tasks:
                        who, kind, fields = _event(index, ids[index], stage)
                        dispatchers[who].publish(kind, fields, producer)
                        sent += 1
                        if rate and not sent % pipeline:
                            ahead = started + sent / rate - time.perf_counter()
                            if ahead > 0:
                                time.sleep(ahead)
        elapsed = time.perf_counter() - started
    return {"published": sent, "elapsed_s": elapsed, "eps": sent / elapsed if elapsed else 0.0}
