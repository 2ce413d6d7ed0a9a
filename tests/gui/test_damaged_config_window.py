"""The window opened on a damaged profiles.toml shows what is wrong and keeps running."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.app import build_window, run_gui
from desktop.core.services import Services
from desktop.core.settings.paths import Paths
from desktop.ui.profiles.dialog import ProfileDialog
from tests.support import shut_down


def test_window_on_a_damaged_profiles_file_shows_the_file_and_the_problem(
    qtbot: QtBot, isolated_config: Paths
) -> None:
    isolated_config.ensure()
    isolated_config.profiles_file.write_bytes(b'[[profiles]]\nname = "a"\nqueues = 5\n')
    session, window = build_window(Services.open())
    qtbot.addWidget(window)
    window.show()
    try:
        session.start(None)
        assert session.state == "failed"
        assert "profiles.toml" in window.indicator.message
        assert "queues" in window.indicator.message
    finally:
        shut_down(qtbot, session)


def test_saving_a_profile_over_a_damaged_file_says_which_file_and_writes_nothing(
    qtbot: QtBot, isolated_config: Paths
) -> None:
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        damaged = b"# ours\n[[profiles]]\nname = 'a'\nbroker_url = 5\n"
        isolated_config.profiles_file.write_bytes(damaged)
        dialog = ProfileDialog(session, None, window)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.name.setText("fresh")
        dialog.broker.setText("redis://127.0.0.1:1/0")
        dialog.backend.setText("")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(lambda: not dialog.saving, timeout=10000)  # written off the GUI thread
        assert "profiles.toml" in dialog.status.text()
        assert "broker_url" in dialog.status.text()
        assert dialog.result() != QDialog.DialogCode.Accepted
        assert isolated_config.profiles_file.read_bytes() == damaged
    finally:
        window.close()
        shut_down(qtbot, session)


def test_the_app_that_cannot_start_says_why_in_a_message_box(
    qtbot: QtBot, isolated_config: Paths
) -> None:
    """`celery-desk --app x` reads the active profile before any window exists."""
    isolated_config.ensure()
    isolated_config.profiles_file.write_bytes(b"\xff\xfe not text")
    shown: list[str] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, read_and_close)
            return
        assert isinstance(box, QMessageBox)
        shown.append(box.text())
        box.close()

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style = app.styleSheet()  # run_gui styles the shared application: undone for later tests
    QTimer.singleShot(20, read_and_close)
    try:
        assert run_gui(None, None, {"app_module": "other"}) == 2
    finally:
        app.setStyleSheet(style)
    assert shown and "profiles.toml" in shown[0] and "UTF-8" in shown[0]
