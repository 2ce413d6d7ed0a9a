"""The person's Celery app as Celery configures it (probe, effective configuration,
declared queues) and the panel's own client app built from it."""
