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


def _collected(thing: object) -> bool:
    """Whether full collections still walk `thing` (frozen objects are in no generation).
    Asked of the objects themselves: the frozen count moves as other tests' objects die."""
    return any(o is thing for o in gc.get_objects())


def test_what_opening_made_is_frozen_once_the_app_was_first_read(qtbot: QtBot) -> None:
    session = Session(Services.open())
    try:
        keep_collections_short(session)
        opening = [[n] for n in range(5000)]  # made while the window opens: tracked lists
        qtbot.wait(FREEZE_AFTER_APP_READ_MS + 200)
        assert _collected(opening)  # not frozen before the app is read
        session.app_config_changed.emit(app_config(), "")
        qtbot.waitUntil(lambda: not _collected(opening), timeout=20000)
        later = [[n] for n in range(5000)]
        session.app_config_changed.emit(app_config(), "")  # a later read: frozen no more
        qtbot.wait(FREEZE_AFTER_APP_READ_MS + 200)
        assert _collected(later)
    finally:
        gc.unfreeze()  # the other tests' objects are collected as before
        shut_down(qtbot, session)
