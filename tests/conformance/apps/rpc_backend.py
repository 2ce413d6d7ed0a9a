"""(i) Results through RabbitMQ itself: the rpc:// backend."""

import os

from celery import Celery
from kombu import Exchange, Queue

app = Celery(
    "rpc_backend",
    broker=os.environ.get("CELERY_BROKER"),
    backend="rpc://",
    include=["shape_tasks"],
)
app.conf.task_queues = [
    Queue(
        "celery", Exchange("celery"), routing_key="celery", queue_arguments={"x-max-priority": 10}
    ),
]
app.conf.task_acks_late = True
