"""What each field and button of the profile dialog is for: its tooltips, as a table.

Apart from form.py so that file stays one screen's worth of fields (and under the size rule):
`explain_form` names each row's field by its row's title and gives it its tooltip from
`FIELD_TIPS`, by the key its errors use (form.py's `_row` puts a field and its error line in
one holder), and gives the buttons theirs from `BUTTON_TIPS`, by their label."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from desktop.ui.common.accessible import explain_labelled, name_field

FIELD_TIPS = {
    "name": "The profile's name, as the tool bar lists it",
    "broker_url": "Where the broker is: embedded (the panel's own Redis), redis:// or amqp://; "
    "a password typed here moves to the password field",
    "password": "The broker's password, kept in the system's secret store, not in the file",
    "result_backend": "Where task results are kept: embedded, redis://, rpc://, or empty",
    "management_url": "RabbitMQ's management API, for queue totals and consumers",
    "app_module": "The Celery app, as given to `celery -A`: e.g. proj or proj.celery:app",
    "workdir": "The folder `celery -A` runs from: the app is imported there",
    "django_settings": "DJANGO_SETTINGS_MODULE, for a Django project's Celery app",
    "python": "The Python that runs this profile's workers, e.g. your virtualenv's",
    "transport.queue_order_strategy": "How a Redis worker picks among its queues",
    "transport.priority_steps": "The priority levels Redis keeps a list for, comma separated",
    "transport.sep": "What separates a queue's name from its priority in Redis keys",
    "transport.global_keyprefix": "A prefix before every Redis key of Celery's",
    "transport.visibility_timeout": "How long a task taken but not acknowledged stays hidden "
    "before Redis gives it to another worker",
    "transport.unacked_restore_interval": "How often unacknowledged tasks are checked to be "
    "given again",
    "transport.unacked_restore_throttle": "How many unacknowledged tasks are given again at a time",
    "failure_retention_tasks": "At most this many failed tasks are kept, apart from the "
    "journal's task limit",
    "failure_retention_days": "Failed tasks older than this are dropped from the journal",
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


def explain_form(dialog: QWidget, error_labels: dict[str, QLabel]) -> None:
    for key, error in error_labels.items():
        holder = error.parentWidget()
        group = holder.parentWidget() if holder is not None else None
        form = group.layout() if group is not None else None
        if holder is None or not isinstance(form, QFormLayout):
            continue
        title = form.labelForField(holder)
        if isinstance(title, QLabel) and title.text():
            name_field(holder, title.text(), FIELD_TIPS.get(key, ""))
    explain_labelled(dialog, BUTTON_TIPS)
