"""(e) No transport options at all: kombu's round robin over queues, its default steps, and
priorities sent anyway. Plain acks (a task is acknowledged when it starts)."""

import os

from celery import Celery

app = Celery("round_robin", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
