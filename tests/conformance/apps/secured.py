"""(g) A password-protected Redis broker, and the results on another server with a password
of its own, named in the environment as a deployed app would have it."""

import os

from celery import Celery

app = Celery(
    "secured",
    broker=os.environ.get("CELERY_BROKER"),
    backend=os.environ.get("SECURED_RESULT_BACKEND"),
    include=["shape_tasks"],
)
app.conf.broker_transport_options = {"queue_order_strategy": "priority"}
app.conf.task_acks_late = True
