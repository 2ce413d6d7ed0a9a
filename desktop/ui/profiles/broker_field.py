"""The profile form's broker URL as a person types it.

A password typed into the URL moves into the password field (shown as dots) as soon as the
field is left, never staying readable on screen until the app is read or the profile saved;
and the Redis transport options show only for a Redis broker (or the embedded one): for an
amqp:// URL they mean nothing and would suggest they do.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QWidget

from desktop.core.settings import urls
from desktop.core.settings.profile_model import broker_kind_of


def follow_broker_url(broker: QLineEdit, password: QLineEdit, redis_only: QWidget) -> None:
    def take_password() -> None:
        split = urls.split_password(broker.text().strip())
        if split.password is not None and split.password != urls.MASK:
            password.setText(split.password)
            broker.setText(split.url)

    def show_transport(text: str) -> None:
        redis_only.setVisible(broker_kind_of(text) != "rabbitmq")

    broker.editingFinished.connect(take_password)
    broker.textChanged.connect(show_transport)
    show_transport(broker.text())
