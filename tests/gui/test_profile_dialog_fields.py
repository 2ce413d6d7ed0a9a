"""The profile dialog's fields as a person handles them: scrolling the form with the wheel
changes no value under the pointer, a password typed into the broker URL leaves it, and the
Redis transport options show only for a Redis broker."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.ui.shell.main_window import MainWindow
from tests.gui.test_profile_dialog import _open


def _wheel(widget: QWidget, steps: int) -> None:
    """A mouse wheel turned over the middle of `widget`, as Qt delivers it."""
    middle = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        middle, widget.mapToGlobal(middle), QPoint(), QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def test_scrolling_the_form_never_changes_a_value_under_the_pointer(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    main = connected_window
    session = main.session
    dialog = _open(qtbot, session, main)
    spin = next(s for s in dialog.findChildren(QSpinBox) if s.isEnabled() and s.isVisible())
    spin.setValue(10)
    scroll = dialog.findChild(QScrollArea).verticalScrollBar()
    scroll.setValue(0)
    _wheel(spin, -3)  # over the spin box, not focused: the form scrolls
    assert spin.value() == 10
    assert scroll.value() > 0, "the wheel did not reach the scroll area"
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    _wheel(spin, 1)  # focused (clicked or tabbed into): the wheel changes it
    assert spin.value() == 11


def test_a_password_typed_in_the_url_leaves_it_and_rabbitmq_hides_redis_options(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    main = connected_window
    session = main.session
    dialog = _open(qtbot, session, main)
    transport = next(
        box for box in dialog.findChildren(QGroupBox) if box.title().startswith("Redis transport")
    )
    dialog.broker.setFocus()
    dialog.broker.setText("redis://:s3cret-typed@127.0.0.1:6379/0")
    dialog.broker.editingFinished.emit()  # the person leaves the field
    assert "s3cret-typed" not in dialog.broker.text()
    assert dialog.broker.text() == "redis://127.0.0.1:6379/0"
    assert dialog.password.text() == "s3cret-typed"
    assert dialog.password.echoMode() == QLineEdit.EchoMode.Password
    assert not transport.isHidden()
    dialog.broker.setText("amqp://guest@127.0.0.1:5672//")
    assert transport.isHidden()
    dialog.broker.setText("embedded")
    assert not transport.isHidden()
