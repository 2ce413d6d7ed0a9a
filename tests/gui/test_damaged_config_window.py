"""The window opened on a damaged profiles.toml shows what is wrong and keeps running."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.paths import Paths
from desktop.core.services import Services
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
