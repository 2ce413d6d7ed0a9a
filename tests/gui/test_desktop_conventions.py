"""Desktop conventions on the real window and the real embedded broker: the tray icon follows
the connection, splitters and the last screen come back in a second window, a bulk send shows
its progress and Cancel stops it, and the status bar says the broker's latency and the event
rate."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import redis
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QProgressDialog, QPushButton, QSplitter
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.canvas.model import Canvas, GroupNode, TaskNode
from desktop.core.monitor.alert_rules import QUEUE_LENGTH
from desktop.core.monitor.alerts import FIRING, Alert
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.progress import Progress
from desktop.ui.common.states import state_colour
from desktop.ui.queues import panel as queues_panel
from desktop.ui.shell.main_window import MainWindow
from desktop.ui.shell.tray import ICON_SIZE, badge_point
from tests.gui.conftest import REPO_ROOT
from tests.support import shut_down


def _badge_colour(window: MainWindow) -> str:
    image = window.tray.icon.icon().pixmap(ICON_SIZE, ICON_SIZE).toImage()
    point = badge_point().toPoint()
    return QColor(image.pixel(point.x(), point.y())).name()


def test_the_tray_follows_the_connection_and_its_menu_works(
    qtbot: QtBot, connected_window: MainWindow, services: Services
) -> None:
    window = connected_window
    tray = window.tray
    assert tray.icon.isVisible() or not tray.icon.isSystemTrayAvailable()
    assert tray.said_state() == "connected"
    assert tray.icon.toolTip().startswith("Celery Desk — connected, profile 'embedded'")
    assert _badge_colour(window) == state_colour("connected")
    shown = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert shown == ["Show window", "Profile: embedded", "Alerts log…", "Quit"]
    profiles = tray.profiles_menu.actions()
    assert [(a.text(), a.isChecked()) for a in profiles] == [("embedded", True)]

    window.showMinimized()
    tray.show_action.trigger()
    assert not window.isMinimized() and window.isVisible()

    # An alert fired: said through this tray, and a click on what it said goes to its screen.
    alerts = window.session.alerts
    backlog = Alert("backlog", QUEUE_LENGTH, FIRING, "12 waiting", 12, 10, time.time(),
                    {"queue": "tasks"})  # fmt: skip
    alerts.fired.emit(backlog)
    assert alerts.last_notified is backlog
    tray.icon.messageClicked.emit()
    assert window.tabs.currentWidget() is window.queues and window.queues.selected == "tasks"

    # The broker goes away: the next connection test says so, and the tray with it.
    services.embedded.stop()
    qtbot.waitUntil(lambda: tray.said_state() == "reconnecting", timeout=15000)
    assert "reconnecting, profile 'embedded'" in tray.icon.toolTip()
    assert "connection lost" in tray.icon.toolTip()
    assert _badge_colour(window) == state_colour("reconnecting")
    assert window.broker_status.latency.text() == "Latency: —"


def test_the_tray_switches_profile_and_says_disconnected(
    qtbot: QtBot, connected_window: MainWindow, services: Services, unused_port: int
) -> None:
    """A profile added from the command line shows in the tray's menu; picking it switches
    as the toolbar's list does, and a broker nobody answers at is said as disconnected."""
    window = connected_window
    tray = window.tray
    nowhere = Profile(name="nowhere", broker_url=f"redis://127.0.0.1:{unused_port}/0",
                      result_backend="", workdir=str(REPO_ROOT))  # fmt: skip
    services.profiles.save(nowhere, create=True)
    qtbot.waitUntil(lambda: len(tray.profiles_menu.actions()) == 2, timeout=10000)
    picked = next(a for a in tray.profiles_menu.actions() if a.text() == "nowhere")
    picked.trigger()
    assert window.profiles.currentText() == "nowhere"
    qtbot.waitUntil(lambda: tray.said_state() == "disconnected", timeout=15000)
    assert tray.icon.toolTip().startswith("Celery Desk — disconnected, profile 'nowhere'")
    assert "refused" in tray.icon.toolTip()
    assert _badge_colour(window) == state_colour("failed")
    assert tray.profiles_menu.title() == "Profile: nowhere"
    assert [a.text() for a in tray.profiles_menu.actions() if a.isChecked()] == ["nowhere"]


def test_splitters_and_the_last_screen_come_back_in_a_second_window(
    qtbot: QtBot, services: Services
) -> None:
    session, first = build_window(services)
    qtbot.addWidget(first)
    first.show()
    splitters = {s.objectName(): s for s in first.findChildren(QSplitter)}
    # Every splitter of the app is named, so each is remembered.
    assert all(splitters) and len(splitters) == len(first.findChildren(QSplitter)) >= 9
    first.tabs.setCurrentWidget(first.tasks)
    qtbot.waitUntil(lambda: first.tasks.isVisible())
    moved = splitters["tasks-views"]
    total = sum(moved.sizes())
    moved.setSizes([400, total - 400])
    first.tabs.setCurrentWidget(first.builder)
    qtbot.waitUntil(lambda: first.builder.isVisible())
    builder_split = splitters["builder-split"]
    builder_total = sum(builder_split.sizes())
    builder_split.setSizes([300, builder_total - 600, 300])
    wanted = {"tasks-views": moved.sizes(), "builder-split": builder_split.sizes()}
    assert wanted["tasks-views"][0] == 400
    size = first.size()
    first.close()
    shut_down(qtbot, session)

    saved = QSettings(str(services.paths.config_dir / "window.ini"), QSettings.Format.IniFormat)
    assert saved.value("window/tab") is not None

    session, second = build_window(services)
    qtbot.addWidget(second)
    second.resize(size)  # the window as the first left it (offscreen's screen is smaller)
    second.show()
    try:
        assert second.tabs.currentWidget() is second.builder  # the last screen
        again = {s.objectName(): s for s in second.findChildren(QSplitter)}
        qtbot.waitUntil(lambda: again["builder-split"].sizes() == wanted["builder-split"])
        second.tabs.setCurrentWidget(second.tasks)
        qtbot.waitUntil(lambda: again["tasks-views"].sizes() == wanted["tasks-views"])
    finally:
        second.close()
        shut_down(qtbot, session)


def _waiting(services: Services) -> int:
    """Messages waiting in every list of the embedded broker (no worker takes them)."""
    client = redis.Redis.from_url(services.embedded.url())
    try:
        return sum(client.llen(k) for k in client.scan_iter() if client.type(k) == b"list")
    finally:
        client.close()


def test_a_bulk_send_shows_progress_and_cancel_stops_it(
    qtbot: QtBot, connected_window: MainWindow, services: Services
) -> None:
    window = connected_window
    panel = window.builder
    window.tabs.setCurrentWidget(panel)
    total = 2000  # ~2.5-4 ms a task here (journal record, sent event): about 5 s in all
    tasks = [TaskNode("workers.tasks.t1", [i, 1]) for i in range(total)]
    panel.open_canvas(Canvas("two thousand", GroupNode(tasks)))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: not panel.session.journal_opening, timeout=10000)
    before = _waiting(services)
    started = time.monotonic()
    panel.send()
    qtbot.waitUntil(lambda: bool(panel.findChildren(QProgressDialog)), timeout=2000)
    dialog = panel.findChildren(QProgressDialog)[0]
    assert not dialog.isVisible()  # not at once: only once the send has taken ~1 s
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    assert time.monotonic() - started >= 0.9
    assert re.fullmatch(r"Sending tasks: [\d,]+ of 2,000", dialog.labelText())
    cancel = dialog.findChild(QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.findChildren(QProgressDialog), timeout=10000)
    said = panel.message.text()
    found = re.match(r"Cancelled: (\d+) of 2000 task\(s\) sent, the other (\d+) not\.", said)
    assert found, said
    sent = int(found.group(1))
    assert 0 < sent < total and sent + int(found.group(2)) == total
    assert _waiting(services) - before == sent  # what the broker holds is what was said
    qtbot.wait(500)
    assert _waiting(services) - before == sent  # and nothing went out after the Cancel


def test_the_status_bar_says_the_latency_and_the_event_rate(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    window = connected_window
    status = window.broker_status
    qtbot.waitUntil(lambda: status.latency_ms is not None, timeout=10000)
    assert re.fullmatch(r"Latency: \d+(\.\d)? ms", status.latency.text())
    # The Overview shows (the first screen): the Queues' read carries Redis' own PING.
    qtbot.waitUntil(lambda: "PING" in status.latency.toolTip(), timeout=15000)
    # Events flow: the panel's own sends publish task-sent events, which the feed hears.
    tasks = [TaskNode("workers.tasks.t1", [i, 1]) for i in range(20)]
    window.builder.open_canvas(Canvas("twenty", GroupNode(tasks)))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: not window.session.journal_opening, timeout=10000)
    window.builder.send()
    qtbot.waitUntil(lambda: (status.per_second or 0) > 0, timeout=10000)
    assert re.fullmatch(r"\d+\.\d events/s", status.rate.text())
    assert float(status.rate.text().split()[0]) > 0
    assert status.latency in window.statusBar().findChildren(type(status.latency))


def test_a_refresh_by_hand_reads_under_a_progress_shown_only_if_it_lasts(
    qtbot: QtBot, connected_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = connected_window
    queues = window.queues
    made: list[Progress] = []
    shown: list[bool] = []
    titles: list[str] = []

    class Seen(Progress):  # the real dialog, noted as it is made and as it goes
        def __enter__(self) -> Progress:
            made.append(self)
            return super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            shown.append(self.dialog.isVisible())
            titles.append(self.dialog.windowTitle())
            super().__exit__(*exc)

    monkeypatch.setattr(queues_panel, "Progress", Seen)
    window.tabs.setCurrentWidget(queues)
    qtbot.waitUntil(lambda: queues.snapshot is not None, timeout=10000)
    qtbot.waitUntil(lambda: not queues.jobs.running("refresh"), timeout=10000)
    assert made == []  # the reads on show and on the timer wait on nobody
    read_at = queues.snapshot
    qtbot.keyClick(window.tabs, Qt.Key.Key_F5)  # the window's F5: this screen's refresh
    qtbot.waitUntil(lambda: queues.snapshot is not read_at, timeout=10000)
    qtbot.waitUntil(lambda: shown == [False], timeout=3000)  # a quick read: never shown
    assert len(made) == 1 and titles == ["Reading the queues"]
    assert made[0].done == made[0].total == len(queues.names()) > 0  # every queue read
    queues.refresh_button.click()
    qtbot.waitUntil(lambda: len(made) == 2, timeout=5000)


def test_a_step_nothing_can_stop_is_shown_without_a_cancel(qtbot: QtBot) -> None:
    """A purge is one step on the broker: its dialog, once it lasts, has no Cancel, and
    Escape (which hides it) promises nothing."""
    from PySide6.QtWidgets import QWidget

    from desktop.ui.common.jobs import Jobs

    owner = QWidget()
    qtbot.addWidget(owner)
    owner.show()
    jobs = Jobs(owner)
    seen: dict[str, Any] = {}

    async def slow_step() -> None:
        with Progress(owner, "Purging", lambda *_: "Purging…", cancellable=False) as busy:
            seen["busy"] = busy
            await Jobs.blocking(time.sleep, 1.4)
            seen["shown"] = busy.dialog.isVisible()
            seen["buttons"] = busy.dialog.findChildren(QPushButton)
            qtbot.keyClick(busy.dialog, Qt.Key.Key_Escape)
            seen["cancelled"] = busy.cancelled

    jobs.run("purge", slow_step())
    qtbot.waitUntil(lambda: "cancelled" in seen, timeout=5000)
    assert seen["shown"] and seen["buttons"] == [] and seen["cancelled"] is False
