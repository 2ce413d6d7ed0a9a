"""The task every beat app schedules: it appends what it was sent with (its label, keyword
arguments, the queue's routing key, the priority and beat's headers) to NOTE_FILE as a JSON
line, so a test sees that a worker ran it and how it was sent."""

import json
import os

from celery import shared_task


@shared_task(bind=True)
def note(self, label, **kwargs):
    info = self.request.delivery_info or {}
    line = {
        "label": label,
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
