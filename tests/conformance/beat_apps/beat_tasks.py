"""The task every beat app schedules: it appends what it was sent with (its label, keyword
arguments, the queue's routing key, the priority, beat's headers and when it ran) to NOTE_FILE
as a JSON line, so a test sees that a worker ran it, how it was sent and how often."""

import json
import os
import time

from celery import shared_task


@shared_task(bind=True)
def note(self, label, **kwargs):
    info = self.request.delivery_info or {}
    line = {
        "label": label,
        "at": time.time(),
        "id": self.request.id,
        "kwargs": kwargs,
        "routing_key": info.get("routing_key"),
        "priority": info.get("priority"),
        "periodic_task_name": getattr(self.request, "periodic_task_name", None),
        "celery_beat_task": getattr(self.request, "celery_beat_task", None),
    }
    with open(os.environ["NOTE_FILE"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
    return label
