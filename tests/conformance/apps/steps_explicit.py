"""(b) kombu's steps [0, 3, 6, 9] set explicitly, with the priority strategy."""

import os

from celery import Celery

app = Celery("steps_explicit", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
app.conf.broker_transport_options = {
    "queue_order_strategy": "priority",
    "priority_steps": [0, 3, 6, 9],
}
app.conf.task_acks_late = True
