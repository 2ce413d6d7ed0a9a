"""Helpers several test modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop.core.base.processes import pid_alive
from desktop.core.settings.profile_model import Profile
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow

__all__ = ["pid_alive", "shut_down"]


def shut_down(qtbot: QtBot, session: Session) -> None:
    """`session.shutdown()`, then make sure nothing of the session can fire later.

    Before Session.shutdown became final (test_shutdown_is_final_with_a_result_on_its_way), a
    late result restarted the 5 s health timer; the Session, destroyed later from a pool thread
    (its last reference or the cyclic GC running there), could not unregister that timer
    ("Timers cannot be stopped from another thread") and it fired on freed memory: a segfault
    in whatever test ran 5 s later. Joining the pool keeps the last references on this thread.
    """
    session.shutdown()
    session.background._pool.shutdown(wait=True)  # every job done, its references released
    qtbot.wait(20)  # anything still queued is delivered (and dropped) on the GUI thread
    assert not session.connection._health.isActive()


def with_prefix(path: Path, prefix: str, directory: Path) -> Path:
    """A copy of a shipped canvas with its queue names made unique to the test."""
    text = path.read_text()
    for name in ("queue1", "queue2", "tasks"):
        text = text.replace(f'"{name}"', f'"{prefix}{name}"')
    copy = directory / path.name
    copy.write_text(text)
    return copy


@contextlib.contextmanager
def window_on(qtbot: QtBot, profile: Profile, *, saved: bool = False) -> Iterator[MainWindow]:
    """The real window on a test profile it saves (unless `saved` already): the app read,
    events connected. Closed after, and on RabbitMQ the profile's queues deleted."""
    from desktop.app import build_window
    from desktop.core.services import Services
    from tests.integration.worker_process import delete_rabbitmq_entities

    services = Services.open()
    if not saved:
        services.profiles.save(profile, create=True)
    session, shown = build_window(services)
    qtbot.addWidget(shown)
    shown.show()
    session.start(profile.name)
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        qtbot.waitUntil(lambda: shown.events_label.text() == "Events: connected", timeout=15000)
        yield shown
    finally:
        shown.close_without_asking()
        session.shutdown()
        if profile.broker_kind == "rabbitmq":
            delete_rabbitmq_entities(profile.broker_url, [q.name for q in profile.queues])


def every_text(root: QWidget) -> Iterator[str]:
    """Everything a window shows a person: every label, non-password field, button, tooltip,
    window title, status bar, text pane, combo item and table cell (display and tooltip, up
    to 500 rows a table) of `root` and its children."""
    from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QComboBox,
        QLabel,
        QLineEdit,
        QPlainTextEdit,
        QStatusBar,
        QTextEdit,
    )

    for widget in [root, *root.findChildren(QWidget)]:
        yield widget.toolTip()
        yield widget.windowTitle()
        hidden = QLineEdit.EchoMode.Password
        if isinstance(widget, QLabel | QAbstractButton) or (
            isinstance(widget, QLineEdit) and widget.echoMode() != hidden
        ):
            yield widget.text()
        elif isinstance(widget, QTextEdit | QPlainTextEdit):
            yield widget.toPlainText()
        elif isinstance(widget, QStatusBar):
            yield widget.currentMessage()
        elif isinstance(widget, QComboBox):
            yield from (widget.itemText(i) for i in range(widget.count()))
        elif isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            top = QModelIndex()
            for row in range(min(model.rowCount(top), 500)):
                listing = isinstance(model, QAbstractListModel)  # one column, private
                for column in range(1 if listing else model.columnCount(top)):
                    index = model.index(row, column)
                    for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                        value = model.data(index, role)
                        if value is not None:
                            yield str(value)
