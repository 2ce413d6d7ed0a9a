import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbeat.settings")
app = Celery("dbeat", include=["beat_tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("celery"), Queue("beats")]
