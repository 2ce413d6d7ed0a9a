"""The Overview's guided first run on the embedded broker, driven by its own buttons: the
tutorial's workers really start, its examples really run, Tasks opens on them; the guide is
not shown again once the profile has tasks, nor once dismissed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.services import Services
from desktop.ui.shell.main_window import MainWindow
from tests.support import shut_down

pytestmark = pytest.mark.slow
SHOT = Path("/tmp/overview-first-run.png")


def opened(qtbot: QtBot, services: Services) -> tuple[Any, MainWindow]:
    session, window = build_window(services)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    session.start()
    qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
    qtbot.waitUntil(lambda: window.events_label.text() == "Events: connected", timeout=15000)
    return session, window


def press(qtbot: QtBot, window: MainWindow, button: QWidget, limit: int = 80) -> None:
    """Tab to `button` from wherever the focus is, then press Space on it: keys only, as a
    person without a mouse would."""
    window.activateWindow()
    for _ in range(limit):
        focused = QApplication.focusWidget()
        if focused is button:
            qtbot.keyClick(button, Qt.Key.Key_Space)
            return
        qtbot.keyClick(focused or window, Qt.Key.Key_Tab)
    raise AssertionError(f"Tab never reached {button.text()!r}")  # type: ignore[attr-defined]


def finished(session: Any) -> int:
    journal = session.journal
    return sum(journal.count(TaskQuery(state=s)) for s in ("SUCCESS", "FAILURE"))


def test_three_steps_by_keyboard_start_workers_run_the_examples_and_show_them(
    qtbot: QtBot, services: Services
) -> None:
    session, window = opened(qtbot, services)
    guide = window.overview.guide
    try:
        qtbot.waitUntil(guide.isVisible, timeout=10000)
        press(qtbot, window, guide.start_button)
        qtbot.waitUntil(lambda: "3 workers online" in guide.start_said.text(), timeout=60000)
        assert sorted(w.name for w in session.local_workers) == ["priority", "queue1", "queue2"]

        press(qtbot, window, guide.run_button)
        qtbot.waitUntil(lambda: "sent 3 examples" in guide.run_said.text(), timeout=20000)
        sent = int(guide.run_said.text().split(", ")[1].split()[0])
        assert sent >= 10  # four demos, the chain's four steps, the priority demo's three
        qtbot.waitUntil(lambda: finished(session) >= sent, timeout=60000)
        qtbot.waitUntil(
            lambda: window.overview.rates.total("state", "succeeded") >= sent, timeout=10000
        )
        qtbot.wait(1200)  # a repaint of the rates
        assert window.grab().save(str(SHOT))

        press(qtbot, window, guide.tasks_button)
        assert window.tabs.currentWidget() is window.tasks
        qtbot.waitUntil(lambda: window.tasks.model.rowCount() >= sent, timeout=10000)
        window.tabs.setCurrentWidget(window.overview)
        press(qtbot, window, guide.queues_button)
        assert window.tabs.currentWidget() is window.queues
        assert window.queues.selected == "tasks"
    finally:
        window.close_without_asking()
        shut_down(qtbot, session)

    # The profile has tasks now: the guide is not shown again.
    session, window = opened(qtbot, services)
    try:
        qtbot.waitUntil(lambda: window.overview.guide.jobs.running("count") is False, timeout=5000)
        qtbot.wait(500)
        assert not window.overview.guide.isVisible()
    finally:
        window.close_without_asking()
        shut_down(qtbot, session)


def test_a_dismissed_guide_never_comes_back(qtbot: QtBot, services: Services) -> None:
    session, window = opened(qtbot, services)
    try:
        guide = window.overview.guide
        qtbot.waitUntil(guide.isVisible, timeout=10000)
        qtbot.mouseClick(guide.dismiss_button, Qt.MouseButton.LeftButton)
        assert not guide.isVisible()
    finally:
        window.close()
        shut_down(qtbot, session)
    session, window = opened(qtbot, services)
    try:
        qtbot.wait(1000)
        assert window.session.journal is not None
        assert not window.overview.guide.isVisible()
    finally:
        window.close()
        shut_down(qtbot, session)


def test_tasks_run_another_way_hide_the_guide(qtbot: QtBot, services: Services) -> None:
    from workers import create_app

    session, window = opened(qtbot, services)
    try:
        guide = window.overview.guide
        qtbot.waitUntil(guide.isVisible, timeout=10000)
        window.tabs.setCurrentWidget(window.builder)  # the Overview need not be on show
        endpoints = services.endpoints(session.profile)
        client = create_app(endpoints.broker_url, endpoints.result_backend, queue_prefix="")
        try:
            client.send_task("workers.tasks.add", args=(1, 2), queue="queue2")  # no worker
        finally:
            client.close()
        qtbot.waitUntil(guide.isHidden, timeout=10000)
        window.tabs.setCurrentWidget(window.overview)
        assert not guide.isVisible()
    finally:
        window.close()
        shut_down(qtbot, session)
