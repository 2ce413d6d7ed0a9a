"""The Celery app the panel ships; `celery -A workers worker` finds `app` here."""

from workers.app import app, create_app

__all__ = ["app", "create_app"]
