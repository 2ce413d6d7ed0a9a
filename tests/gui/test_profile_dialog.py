"""The profile dialog: a message under each wrong field, passwords kept out of the TOML."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QTableWidgetItem,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.profile_checks import validate
from desktop.core.settings.profile_model import QueueSpec
from desktop.ui.profiles.dialog import ProfileDialog
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow
from tests.support import shut_down

Mutation = Callable[[ProfileDialog, Path], None]


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[tuple[Services, Session, MainWindow]]:
    services = Services.open()
    session, main = build_window(services)
    qtbot.addWidget(main)
    try:
        yield services, session, main
    finally:
        main.close()
        shut_down(qtbot, session)
        services.embedded.stop()


def _open(qtbot: QtBot, session: Session, main: MainWindow | None, profile: Any = None) -> Any:
    dialog = ProfileDialog(session, profile, main)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: dialog.secrets_read, timeout=5000)  # read off the GUI thread
    return dialog


def _save(qtbot: QtBot, dialog: ProfileDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: not dialog.saving, timeout=10000)  # written off the GUI thread


def _set_queue_cell(dialog: ProfileDialog, row: int, column: int, text: str) -> None:
    dialog.queues.setItem(row, column, QTableWidgetItem(text))


def _text(attr: str, value: str) -> Mutation:
    def apply(dialog: ProfileDialog, tmp: Path) -> None:
        del tmp
        getattr(dialog, attr).setText(value)

    return apply


def _missing_workdir(dialog: ProfileDialog, tmp: Path) -> None:
    dialog.workdir.setText(str(tmp / "no-such-dir"))


def _missing_python(dialog: ProfileDialog, tmp: Path) -> None:
    dialog.python.setText(str(tmp / "no-such-python"))


def _duplicate_queue(dialog: ProfileDialog, tmp: Path) -> None:
    del tmp
    dialog._add_queue_row(QueueSpec("queue1", 10))
    dialog._add_queue_row(QueueSpec("queue1"))


def _queue_priority(value: str) -> Mutation:
    def apply(dialog: ProfileDialog, tmp: Path) -> None:
        del tmp
        dialog._add_queue_row(QueueSpec("extra"))
        _set_queue_cell(dialog, 0, 1, value)

    return apply


def _override(key: str, attr: str, value: str) -> Mutation:
    """Tick the field's Override box, then type: only an override is the profile's to check."""

    def apply(dialog: ProfileDialog, tmp: Path) -> None:
        del tmp
        dialog.override_boxes[key].setChecked(True)
        getattr(dialog, attr).setText(value)

    return apply


BAD_FIELDS: list[tuple[str, Mutation, str, str]] = [
    ("name-empty", _text("name", ""), "name", "Name must be 1-64 characters"),
    ("name-bang", _text("name", "bad name!"), "name", "Name must be 1-64 characters"),
    (
        "broker-ftp",
        _text("broker", "ftp://x"),
        "broker_url",
        "Broker URL scheme 'ftp' is not supported",
    ),
    ("broker-no-host", _text("broker", "redis://"), "broker_url", "Broker URL has no host name"),
    (
        "broker-port",
        _text("broker", "redis://h:99999/0"),
        "broker_url",
        "Broker URL port must be between 1 and 65535",
    ),
    (
        "broker-db",
        _text("broker", "redis://h/notadb"),
        "broker_url",
        "Redis database must be a number, got 'notadb'",
    ),
    (
        "backend-scheme",
        _text("backend", "mongodb://h/1"),
        "result_backend",
        "Result backend scheme 'mongodb' is not supported",
    ),
    (
        "app-module",
        _text("app_module", "1abc"),
        "app_module",
        "App module must be a dotted Python name",
    ),
    ("workdir", _missing_workdir, "workdir", "does not exist"),
    ("python", _missing_python, "python", "is not an executable file"),
    (
        "management",
        _text("management", "ftp://h"),
        "management_url",
        "Management URL scheme 'ftp' is not supported",
    ),
    (
        "steps-order",
        _override("priority_steps", "steps", "3,1"),
        "transport.priority_steps",
        "distinct whole numbers 0-255 in rising order",
    ),
    (
        "steps-letters",
        _override("priority_steps", "steps", "a,b"),
        "transport.priority_steps",
        "Priority steps must be numbers",
    ),
    ("queue-duplicate", _duplicate_queue, "queues", "Row 2: Queue 'queue1' is listed twice"),
    (
        "queue-priority-300",
        _queue_priority("300"),
        "queues",
        "Row 1: x-max-priority must be between 1 and 255",
    ),
    (
        "queue-priority-x",
        _queue_priority("x"),
        "queues",
        "Row 1: x-max-priority must be a number",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [pytest.param(m, f, msg, id=i) for i, m, f, msg in BAD_FIELDS],
)
def test_bad_field_shows_its_message_and_saves_nothing(
    qtbot: QtBot,
    window: tuple[Services, Session, MainWindow],
    tmp_path: Path,
    mutate: Mutation,
    field: str,
    message: str,
) -> None:
    services, session, main = window
    profiles_file = services.paths.profiles_file
    assert not profiles_file.exists()
    dialog = _open(qtbot, session, main)
    dialog.name.setText("good")
    baseline, parse_errors = dialog.profile_from_form()
    assert parse_errors == {} and validate(baseline) == {}
    mutate(dialog, tmp_path)
    _save(qtbot, dialog)

    label = dialog.error_labels[field]
    assert label.isVisible(), f"no message under {field}"
    assert message in label.text()
    others = [k for k, lb in dialog.error_labels.items() if k != field and lb.isVisible()]
    assert others == [], f"unexpected messages under {others}"
    assert "problem(s) to fix before saving" in dialog.status.text()
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.saved is None
    assert not profiles_file.exists()
    assert [main.profiles.itemText(i) for i in range(main.profiles.count())] in ([], ["embedded"])
    dialog.close()


def test_errors_leave_an_existing_file_unchanged(
    qtbot: QtBot, window: tuple[Services, Session, MainWindow]
) -> None:
    services, session, main = window
    services.profiles.set_active("embedded")
    before = services.paths.profiles_file.read_bytes()
    dialog = _open(qtbot, session, main)
    dialog.name.setText("x y!")
    dialog.broker.setText("redis://")
    _save(qtbot, dialog)
    assert dialog.error_labels["name"].isVisible()
    assert dialog.error_labels["broker_url"].isVisible()
    assert "2 problem(s)" in dialog.status.text()
    assert services.paths.profiles_file.read_bytes() == before
    # Correcting both lets it save; the old messages disappear.
    dialog.name.setText("fixed")
    dialog.broker.setText("redis://127.0.0.1:1/0")
    dialog.backend.setText("")
    _save(qtbot, dialog)
    assert not dialog.error_labels["name"].isVisible()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert services.paths.profiles_file.read_bytes() != before


def test_password_goes_to_secret_store_and_is_kept_on_edit(
    qtbot: QtBot, window: tuple[Services, Session, MainWindow], embedded_redis: Any
) -> None:
    services, session, main = window
    full_url = embedded_redis.url(0)
    split = urls.split_password(full_url)
    password = split.password
    assert password

    dialog = _open(qtbot, session, main)
    dialog.name.setText("secret-redis")
    dialog.broker.setText(split.url)
    dialog.password.setText(password)
    dialog.backend.setText("")
    _save(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    assert dialog.saved is not None and dialog.saved.name == "secret-redis"

    text = services.paths.profiles_file.read_text(encoding="utf-8")
    assert password not in text
    document = tomllib.loads(text)
    saved = next(p for p in document["profiles"] if p["name"] == "secret-redis")
    assert saved["broker_url"] == split.url
    assert services.secrets.get("profile/secret-redis/broker_url") == password
    assert password not in services.paths.profiles_file.read_text(encoding="utf-8")

    names = [main.profiles.itemText(i) for i in range(main.profiles.count())]
    assert "secret-redis" in names and "embedded" in names
    assert main.profiles.currentText() == "secret-redis"
    qtbot.waitUntil(lambda: session.state == "connected", timeout=5000)
    assert password not in main.indicator.message

    # Editing: the password is never shown, the placeholder says one is stored.
    edit = _open(qtbot, session, main, services.profiles.get("secret-redis"))
    assert edit.password.text() == ""
    assert edit.password.placeholderText().startswith("stored")
    assert password not in edit.broker.text()
    edit.app_module.setText("workers.app")
    _save(qtbot, edit)
    assert edit.result() == QDialog.DialogCode.Accepted
    stored = services.profiles.get("secret-redis")
    assert stored.app_module == "workers.app"
    assert services.profiles.with_secrets(stored).broker_url == full_url
    assert password not in services.paths.profiles_file.read_text(encoding="utf-8")


def test_connection_test_reports_connected_and_auth_failure(
    qtbot: QtBot, window: tuple[Services, Session, MainWindow], embedded_redis: Any
) -> None:
    services, session, main = window
    split = urls.split_password(embedded_redis.url(0))
    assert split.password
    dialog = _open(qtbot, session, main)
    dialog.name.setText("probe")
    dialog.broker.setText(split.url)
    dialog.password.setText(split.password)
    dialog.test_button.click()
    assert not dialog.test_button.isEnabled()  # running off the GUI thread
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=8000)
    assert "connected" in dialog.status.text()
    assert split.password not in dialog.status.text()

    dialog.password.setText("not-the-password")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=8000)
    assert "auth" in dialog.status.text()
    assert "connected to" not in dialog.status.text()
    assert dialog.isVisible()
    assert not services.paths.profiles_file.exists()


def test_connection_test_checks_the_result_backend_too(
    qtbot: QtBot,
    window: tuple[Services, Session, MainWindow],
    embedded_redis: Any,
    unused_port: int,
) -> None:
    """A good broker with a dead backend is not green: results would never show."""
    _services, session, main = window
    split = urls.split_password(embedded_redis.url(0))
    dialog = _open(qtbot, session, main)
    dialog.name.setText("dead-backend")
    dialog.broker.setText(split.url)
    dialog.password.setText(split.password or "")
    dialog.backend.setText(f"redis://127.0.0.1:{unused_port}/1")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=15000)
    status = dialog.status.text()
    assert "✔ broker" in status
    assert "✘ result backend" in status and str(unused_port) in status
    assert dialog.status.property("role") == "error"


def test_read_from_app_shows_the_apps_values_and_stores_none_of_them(
    qtbot: QtBot,
    window: tuple[Services, Session, MainWindow],
    tmp_path: Path,
    unused_port: int,
) -> None:
    """The app's backend (with its password) and transport options are read and shown, the
    password masked; the profile keeps none of them: they are the app's, read every time."""
    services, session, main = window
    backend = "redis://:app-s3cret@127.0.0.1:6390/3"
    (tmp_path / "leaky_app.py").write_text(
        f'from celery import Celery\napp = Celery("leaky_app", backend="{backend}")\n'
        'app.conf.broker_transport_options = {"priority_steps": [0, 5], "sep": ":"}\n'
    )
    dialog = _open(qtbot, session, main)
    dialog.name.setText("from-app")
    dialog.broker.setText(f"redis://127.0.0.1:{unused_port}/0")
    dialog.backend.setText("")
    dialog.app_module.setText("leaky_app")
    dialog.workdir.setText(str(tmp_path))
    qtbot.waitUntil(dialog.read_app.isEnabled, timeout=15000)  # the read made on opening
    dialog.read_app.click()
    qtbot.waitUntil(lambda: "Read 'leaky_app'" in dialog.status.text(), timeout=15000)
    assert "redis://:****@127.0.0.1:6390/3" in dialog.app_summary.text()
    assert "app-s3cret" not in dialog.app_summary.text()
    # Fields not overridden show the app's values and say where they come from.
    assert dialog.steps.text() == "0, 5" and not dialog.steps.isEnabled()
    assert dialog.source_labels["priority_steps"].text() == "app"
    assert dialog.source_labels["visibility_timeout"].text() == "kombu default"
    assert dialog.visibility.value() == 3600
    _save(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    text = services.paths.profiles_file.read_text(encoding="utf-8")
    assert "app-s3cret" not in text
    stored = services.profiles.get("from-app")
    assert stored.result_backend == "" and stored.transport.chosen() == {}
    assert stored.app_fingerprint  # what it was read with: later changes show as drift


def test_an_override_is_kept_and_marked(
    qtbot: QtBot, window: tuple[Services, Session, MainWindow], tmp_path: Path
) -> None:
    services, session, main = window
    dialog = _open(qtbot, session, main)
    dialog.name.setText("tuned")
    dialog.backend.setText("")
    dialog.override_boxes["visibility_timeout"].setChecked(True)
    assert dialog.visibility.isEnabled()
    assert dialog.source_labels["visibility_timeout"].text() == "override"
    dialog.visibility.setValue(120)
    _save(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert services.profiles.get("tuned").transport.chosen() == {"visibility_timeout": 120}


def test_editing_a_command_line_profile_does_not_break(qtbot: QtBot, tmp_path: Path) -> None:
    """`celery-desk --broker URL` makes an in-memory profile; its editor must still work."""
    from desktop.core.settings.profile_model import Profile as ProfileModel

    services = Services.open()
    adhoc = ProfileModel(
        name="command-line", broker_url="redis://:pw@127.0.0.1:1/0", result_backend=""
    )
    session = Session(services, adhoc)
    dialog = ProfileDialog(session, adhoc)
    qtbot.addWidget(dialog)
    profile, errors = dialog.profile_from_form()
    assert errors == {}
    from desktop.core.settings import urls as url_tools

    assert url_tools.password_of(profile.broker_url) == url_tools.MASK  # "keep the password"
    assert dialog._restore_masked(profile).broker_url == "redis://:pw@127.0.0.1:1/0"
    shut_down(qtbot, session)


def test_the_failure_retention_is_edited_and_saved_with_the_profile(qtbot: QtBot) -> None:
    from desktop.core.settings.profile_model import Profile as ProfileModel

    services = Services.open()
    session = Session(services)
    services.profiles.save(ProfileModel(name="kept", failure_retention_days=7))
    dialog = _open(qtbot, session, None, services.profiles.get("kept"))
    assert dialog.failures_days.value() == 7
    assert dialog.failures_kept.value() == 100_000
    dialog.failures_kept.setValue(2500)
    dialog.failures_days.setValue(90)
    _save(qtbot, dialog)
    stored = services.profiles.get("kept")
    assert (stored.failure_retention_tasks, stored.failure_retention_days) == (2500, 90)
    shut_down(qtbot, session)


def test_hidden_argument_names_and_keeping_their_values_are_edited_and_saved(
    qtbot: QtBot,
) -> None:
    from desktop.core.settings.profile_model import Profile as ProfileModel

    services = Services.open()
    session = Session(services)
    services.profiles.save(ProfileModel(name="hidden"))
    dialog = _open(qtbot, session, None, services.profiles.get("hidden"))
    fields = dialog.redaction
    assert not fields.keep.isChecked()  # the default: the journal stores ****
    assert "credit_card" in fields.names.text()
    fields.keep.setChecked(True)
    fields.names.setText(fields.names.text() + ", pin")
    _save(qtbot, dialog)
    stored = services.profiles.get("hidden")
    assert stored.keep_argument_values is True
    assert stored.redacted_arguments[-1] == "pin" and "password" in stored.redacted_arguments
    again = _open(qtbot, session, None, stored)
    assert again.redaction.keep.isChecked() and again.redaction.names.text().endswith("pin")
    shut_down(qtbot, session)


def test_editing_a_profile_keeps_its_shared_history_and_its_password(qtbot: QtBot) -> None:
    from desktop.core.settings.profile_model import Profile as ProfileModel

    services = Services.open()
    session = Session(services)
    url = "postgresql://team:pg-s3cret@db.example:5433/history"
    services.profiles.save(ProfileModel(name="shared", history=url))
    dialog = _open(qtbot, session, None, services.profiles.get("shared"))
    dialog.failures_kept.setValue(7)
    _save(qtbot, dialog)
    stored = services.profiles.get("shared")
    assert stored.failure_retention_tasks == 7  # the edit was saved
    assert stored.history == "postgresql://team@db.example:5433/history"
    assert services.profiles.with_secrets(stored).history == url  # its password kept
    shut_down(qtbot, session)
