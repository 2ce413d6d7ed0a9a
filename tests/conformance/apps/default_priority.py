"""(j) task_default_priority and task_queue_max_priority set: a task sent with no priority
goes with 5, and queues get x-max-priority 10 without declaring it."""

import os

from celery import Celery

app = Celery("default_priority", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
app.conf.task_default_priority = 5
app.conf.task_queue_max_priority = 10
app.conf.broker_transport_options = {"queue_order_strategy": "priority"}
app.conf.task_acks_late = True
