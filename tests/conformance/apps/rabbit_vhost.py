"""(h) RabbitMQ on a vhost and user of its own; kombu Queues on a direct and a topic exchange,
both with x-max-priority."""

import os

from celery import Celery
from kombu import Exchange, Queue

app = Celery("rabbit_vhost", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
app.conf.task_queues = [
    Queue(
        "work",
        Exchange("shape_direct", type="direct"),
        routing_key="work",
        queue_arguments={"x-max-priority": 10},
    ),
    Queue(
        "topical",
        Exchange("shape_topic", type="topic"),
        routing_key="topical.#",
        queue_arguments={"x-max-priority": 10},
    ),
]
app.conf.task_default_queue = "work"
app.conf.task_routes = {
    "shape_tasks.record": {"queue": "topical", "routing_key": "topical.record"},
}
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
