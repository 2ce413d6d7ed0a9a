"""(d) Every key under a global prefix, the results' too (a Redis shared by several apps)."""

import os

from celery import Celery

broker = os.environ.get("CELERY_BROKER")
app = Celery("keyprefix", broker=broker, backend=broker, include=["shape_tasks"])
app.conf.broker_transport_options = {
    "queue_order_strategy": "priority",
    "global_keyprefix": "shapeapp:",
}
app.conf.result_backend_transport_options = {"global_keyprefix": "shapeapp:"}
app.conf.task_acks_late = True
