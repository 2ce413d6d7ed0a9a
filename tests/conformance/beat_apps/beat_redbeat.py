"""An app whose periodic tasks RedBeat keeps in Redis, under a key prefix of its own."""

import os

from celery import Celery
from kombu import Queue

broker = os.environ.get("CELERY_BROKER")
app = Celery("beat_redbeat", broker=broker, include=["beat_tasks"])
app.conf.timezone = "America/New_York"
app.conf.task_queues = [Queue("celery"), Queue("beats")]
app.conf.beat_scheduler = "redbeat.RedBeatScheduler"
app.conf.redbeat_redis_url = broker
app.conf.redbeat_key_prefix = os.environ.get("REDBEAT_PREFIX", "deskbeat:")
