"""(c) Ten steps 0..9 and a separator of the app's own."""

import os

from celery import Celery

app = Celery("steps_sep", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
app.conf.broker_transport_options = {
    "queue_order_strategy": "priority",
    "priority_steps": list(range(10)),
    "sep": ":",
}
app.conf.task_acks_late = True
