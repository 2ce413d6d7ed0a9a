"""Periodic tasks (celery beat): every schedule the app's beat runs, read in a child process
that imports the app (`app/beat_probe.py`), and sent now as beat would send it."""
