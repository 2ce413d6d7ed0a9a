"""What each field and button of the profile dialog is for: its tooltips, as a table.

Apart from form.py so that file stays one screen's worth of fields (and under the size rule):
`explain_form` names each row's field by its row's title and gives it its tooltip from
`FIELD_TIPS`, by that title, and gives the buttons theirs from `BUTTON_TIPS`, by their label."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QWidget

from desktop.ui.common.accessible import explain_labelled, name_rows

FIELD_TIPS = {
    "Name": "The profile's name, as the tool bar lists it",
    "Broker URL": "Where the broker is: embedded (the panel's own Redis), redis:// or amqp://; "
    "a password typed here moves to the password field",
    "Broker password": "The broker's password, kept in the system's secret store, not in the file",
    "Result backend": "Where task results are kept: embedded, redis://, rpc://, or empty",
    "Management URL": "RabbitMQ's management API, for queue totals and consumers",
    "App module": "The Celery app, as given to `celery -A`: e.g. proj or proj.celery:app",
    "Working directory": "The folder `celery -A` runs from: the app is imported there",
    "DJANGO_SETTINGS_MODULE": "DJANGO_SETTINGS_MODULE, for a Django project's Celery app",
    "Python for workers": "The Python that runs this profile's workers, e.g. your virtualenv's",
    "Queue order strategy": "How a Redis worker picks among its queues",
    "Priority steps": "The priority levels Redis keeps a list for, comma separated",
    "Separator": "What separates a queue's name from its priority in Redis keys",
    "Global key prefix": "A prefix before every Redis key of Celery's",
    "Visibility timeout": "How long a task taken but not acknowledged stays hidden "
    "before Redis gives it to another worker",
    "Restore interval": "How often unacknowledged tasks are checked to be given again",
    "Restore throttle": "How many unacknowledged tasks are given again at a time",
    "Keep at most": "At most this many failed tasks are kept, apart from the journal's task limit",
    "Keep for": "Failed tasks older than this are dropped from the journal",
}

BUTTON_TIPS = {
    "Save": "Save the profile (its passwords into the secret store)",
    "Test connection": "Try the broker, result backend and management URL as typed",
    "Read the app's configuration": "Import the app as set above and show its queues, "
    "routes and transport options",
    "Browse": "Choose it in a file dialog",
    "Override": "Use the value on the right instead of the app's own",
    "Add queue": "Add a queue the app's configuration does not declare",
    "Remove selected": "Remove the selected extra queues",
}


def explain_form(dialog: QWidget) -> None:
    for form in dialog.findChildren(QFormLayout):
        name_rows(form, FIELD_TIPS)
    explain_labelled(dialog, BUTTON_TIPS)
