"""The app keeps Python's full garbage collections short: what exists once the window is
shown, and again once the session first read the person's app, is frozen out of them."""

from __future__ import annotations

import gc

from pytestqt.qtbot import QtBot

from desktop.app import FREEZE_AFTER_APP_READ_MS, keep_collections_short
from desktop.core.services import Services
from desktop.ui.session.session import Session
from tests.factories import app_config
from tests.support import shut_down


def test_what_opening_made_is_frozen_once_the_app_was_first_read(qtbot: QtBot) -> None:
    session = Session(Services.open())
    try:
        keep_collections_short(session)
        shown = gc.get_freeze_count()
        opening = [[n] for n in range(5000)]  # made while the window opens: tracked lists
        qtbot.wait(FREEZE_AFTER_APP_READ_MS + 200)
        assert gc.get_freeze_count() == shown  # not before the app is read
        session.app_config_changed.emit(app_config(), "")
        qtbot.waitUntil(lambda: gc.get_freeze_count() >= shown + len(opening), timeout=5000)
        read = gc.get_freeze_count()
        later = [[n] for n in range(5000)]
        session.app_config_changed.emit(app_config(), "")  # a later read: frozen no more
        qtbot.wait(FREEZE_AFTER_APP_READ_MS + 200)
        assert gc.get_freeze_count() < read + len(later)
    finally:
        gc.unfreeze()  # the other tests' objects are collected as before
        shut_down(qtbot, session)
