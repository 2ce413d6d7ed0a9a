"""Alerts in the window: the rules dialog, the alerts log, and which screen an alert points to."""
