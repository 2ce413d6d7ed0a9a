"""(a) The tutorial's Django project: CELERY_ settings, the priority strategy without steps
(kombu's default [0, 3, 6, 9] applies) and no TIME_ZONE (Django's America/Chicago)."""

import os

SECRET_KEY = "conformance-only"
INSTALLED_APPS = ["apis"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER", "redis://redis:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
