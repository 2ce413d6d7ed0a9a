import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dtutorial.settings")
app = Celery("dtutorial")
app.config_from_object("django.conf:settings", namespace="CELERY")

# RabbitMQ message priority, as the tutorial declares it
app.conf.task_queues = [
    Queue("tasks", Exchange("tasks"), routing_key="tasks", queue_arguments={"x-max-priority": 10}),
]
app.conf.task_default_queue = "tasks"
app.conf.task_default_exchange = "tasks"
app.conf.task_default_exchange_type = "direct"
app.conf.task_default_routing_key = "tasks"
app.conf.task_acks_late = True
app.conf.task_default_priority = 5
app.conf.worker_prefetch_multiplier = 1

app.autodiscover_tasks()
