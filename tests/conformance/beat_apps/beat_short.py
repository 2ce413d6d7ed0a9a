"""A static `beat_schedule` of one short interval, for missed runs: beat's app sends a
`task-sent` event for each send (`task_send_sent_event`), which is how the panel sees beat."""

import os

from celery import Celery
from kombu import Queue

app = Celery("beat_short", broker=os.environ.get("CELERY_BROKER"), include=["beat_tasks"])
app.conf.timezone = "Europe/Paris"
app.conf.task_queues = [Queue("celery"), Queue("beats")]
app.conf.task_send_sent_event = True
app.conf.beat_schedule = {
    "every-six": {
        "task": "beat_tasks.note",
        "schedule": float(os.environ.get("BEAT_EVERY_S", "6")),
        "args": ("every-six",),
        "options": {"queue": "beats"},
    },
}
