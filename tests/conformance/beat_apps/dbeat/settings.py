"""A Django project whose periodic tasks django-celery-beat keeps in SQLite (the file
DBEAT_DB names), in Tokyo time."""

import os

SECRET_KEY = "conformance-only"
INSTALLED_APPS = ["django_celery_beat"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DBEAT_DB", "")}
}
USE_TZ = True
TIME_ZONE = "Asia/Tokyo"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER", "redis://redis:6379/0")
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
