"""An app whose periodic tasks live in code (`beat_schedule`), run by Celery's own
PersistentScheduler, in a timezone of its own."""

import os

from celery import Celery
from celery.schedules import crontab, solar
from kombu import Queue

app = Celery("beat_static", broker=os.environ.get("CELERY_BROKER"), include=["beat_tasks"])
app.conf.timezone = "Europe/Paris"
app.conf.task_queues = [Queue("celery"), Queue("beats")]
app.conf.beat_schedule = {
    "every-ten": {
        "task": "beat_tasks.note",
        "schedule": 10.0,
        "args": ("every-ten",),
        "kwargs": {"source": "static"},
        "options": {"queue": "beats", "priority": 3},
    },
    "weekday-morning": {
        "task": "beat_tasks.note",
        "schedule": crontab(minute=30, hour=7, day_of_week="1-5"),
        "args": ("weekday-morning",),
    },
    "paris-sunrise": {
        "task": "beat_tasks.note",
        "schedule": solar("sunrise", 48.8566, 2.3522),
        "args": ("paris-sunrise",),
    },
    "not-json": {
        "task": "beat_tasks.note",
        "schedule": 3600.0,
        "args": ("not-json", {1, 2}),
    },
}
