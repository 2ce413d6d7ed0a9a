"""The main window against the real embedded broker: connect fast, mask secrets, clean up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.table_state import column_menu
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow
from desktop.ui.tasks.cells import COLUMNS, DEFAULT_COLUMNS
from tests.desk_cli import celery_desk
from tests.support import pid_alive, shut_down

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def opened(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Services, Session, MainWindow]]:
    """A window on a fresh config dir; the session is always shut down (broker stopped)."""
    # The built-in profile reads the `workers` app from the current directory, as `make run` does.
    monkeypatch.chdir(REPO_ROOT)
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        yield services, session, window
    finally:
        window.close()
        shut_down(qtbot, session)
        services.embedded.stop()


def _combo_items(window: MainWindow) -> list[str]:
    return [window.profiles.itemText(i) for i in range(window.profiles.count())]


def test_connects_to_embedded_broker_masks_secrets_and_stops_it(
    qtbot: QtBot, opened: tuple[Services, Session, MainWindow]
) -> None:
    services, session, window = opened
    window.show()
    qtbot.waitExposed(window)
    session.start()
    # The issue: connected within 3 s of the window appearing, on the embedded broker.
    qtbot.waitUntil(lambda: session.state == "connected", timeout=3000)

    password = services.embedded.password
    assert len(password) >= 16
    indicator_text = window.indicator.text.text()
    assert "Connected" in indicator_text
    assert password not in indicator_text
    assert password not in window.indicator.message
    assert password not in window.indicator.toolTip()
    assert window.indicator.state == "connected"
    assert "embedded" in window.indicator.message

    assert "embedded" in _combo_items(window)
    assert window.profiles.currentText() == "embedded"

    qtbot.waitUntil(lambda: "Broker" in window.workers.facts.values, timeout=3000)
    broker_fact = window.workers.facts.values["Broker"]
    assert broker_fact.startswith("redis://")
    assert "****" in broker_fact
    assert password not in broker_fact
    for value in window.workers.facts.values.values():
        assert password not in value
    status = services.embedded.status()
    assert status.running and status.pid
    assert f"pid {status.pid}" in window.workers.facts.values["Embedded broker"]

    # The Builder's palette lists the shipped app's tasks, with their signatures, once the
    # child process has read the app.
    palette = window.builder.palette_model

    def t1_tooltip() -> str:
        return str(palette.index_of("workers.tasks.t1").data(Qt.ItemDataRole.ToolTipRole) or "")

    qtbot.waitUntil(lambda: bool(t1_tooltip()), timeout=20000)
    assert "(a: int, b: int, message: str" in t1_tooltip()
    assert session.app_config is not None
    assert session.app_config.default_queue == "tasks"
    assert "tasks registered by 'workers'" in window.builder.status.text()

    pid = status.pid
    assert pid_alive(pid)
    window.close()
    session.shutdown()
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), f"embedded redis-server {pid} outlived the session"
    assert services.embedded.status().running is False


def test_window_geometry_is_remembered(qtbot: QtBot) -> None:
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitExposed(window)
        window.tabs.setCurrentIndex(2)
        # Within the offscreen screen (800x600): restoreGeometry clamps to the screen. Every
        # screen fits in it (the window's minimum width is its widest screen's).
        narrowest = window.minimumSizeHint().width()
        assert narrowest <= 800, f"the window needs {narrowest} px: it no longer fits 800x600"
        size = QSize(max(720, narrowest), 480)
        window.resize(size)
        qtbot.waitUntil(lambda: window.size() == size, timeout=2000)
        # The Tasks table's columns as the person left them: Kwargs shown from its header's
        # menu, Worker hidden, Name widened.
        table, keys = window.tasks.table, [key for key, _title in COLUMNS]
        assert [k for i, k in enumerate(keys) if not table.isColumnHidden(i)] == list(
            DEFAULT_COLUMNS
        )
        titles = [title for _key, title in COLUMNS]
        menu = column_menu(table, keys, titles, DEFAULT_COLUMNS)
        by_title = {a.text(): a for a in menu.actions()}
        by_title["Kwargs"].setChecked(True)
        by_title["Worker"].setChecked(False)
        table.setColumnWidth(keys.index("name"), 333)
        window.close()
    finally:
        shut_down(qtbot, session)
    assert (services.paths.config_dir / "window.ini").is_file()

    again = Services.open(services.paths.config_dir)
    session2, window2 = build_window(again)
    qtbot.addWidget(window2)
    try:
        # Restored before showing and still the same once shown.
        assert window2.size() == size
        window2.show()
        qtbot.waitExposed(window2)
        assert window2.size() == size
        assert window2.tabs.currentIndex() == 2
        table = window2.tasks.table
        shown = [k for i, k in enumerate(keys) if not table.isColumnHidden(i)]
        assert "kwargs" in shown and "worker" not in shown
        assert table.columnWidth(keys.index("name")) == 333
        menu = column_menu(table, keys, titles, DEFAULT_COLUMNS)
        next(a for a in menu.actions() if a.text() == "Default columns").trigger()
        assert [k for i, k in enumerate(keys) if not table.isColumnHidden(i)] == list(
            DEFAULT_COLUMNS
        )
    finally:
        window2.close()
        shut_down(qtbot, session2)


def test_switching_to_refused_profile_fails_without_blocking(
    qtbot: QtBot, opened: tuple[Services, Session, MainWindow], unused_port: int
) -> None:
    services, session, window = opened
    services.profiles.save(
        Profile(
            name="refused",
            broker_url=f"redis://127.0.0.1:{unused_port}/0",
            result_backend="",
        )
    )
    window.show()
    qtbot.waitExposed(window)
    session.start()
    qtbot.waitUntil(lambda: session.state == "connected", timeout=3000)
    assert _combo_items(window) == ["embedded", "refused"]

    seen: list[tuple[str, str]] = []
    session.state_changed.connect(lambda state, message: seen.append((state, message)))
    index = window.profiles.findText("refused")
    assert index >= 0
    started = time.monotonic()
    window.profiles.setCurrentIndex(index)
    window.profiles.activated.emit(index)  # what a person's pick in the combo emits
    returned_after = time.monotonic() - started
    # The GUI thread got control back at once: the attempt runs in the background.
    assert returned_after < 0.5
    assert session.state == "connecting"
    assert window.indicator.state == "connecting"
    assert seen and seen[0][0] == "connecting"

    qtbot.waitUntil(lambda: window.indicator.state == "failed", timeout=5000)
    assert "refused" in window.indicator.message
    assert str(unused_port) in window.indicator.message
    assert "Failed" in window.indicator.text.text()
    assert [state for state, _ in seen] == ["connecting", "failed"]
    assert session.profile is not None and session.profile.name == "refused"
    assert services.profiles.active_name() == "refused"
    assert window.workers.facts.values["Broker"] == f"redis://127.0.0.1:{unused_port}/0"


def test_a_profile_added_or_removed_by_the_cli_shows_without_a_switch(
    qtbot: QtBot, opened: tuple[Services, Session, MainWindow], unused_port: int
) -> None:
    _, session, window = opened
    window.show()
    session.start()
    qtbot.waitUntil(lambda: session.state == "connected", timeout=5000)
    assert _combo_items(window) == ["embedded"]
    broker = f"redis://127.0.0.1:{unused_port}/0"
    added = celery_desk("profile", "add", "from-cli", "--broker", broker, cwd=REPO_ROOT)
    assert added.returncode == 0, added.stderr
    qtbot.waitUntil(lambda: _combo_items(window) == ["embedded", "from-cli"], timeout=10000)
    assert window.profiles.currentText() == "embedded" and session.state == "connected"
    removed = celery_desk("profile", "remove", "from-cli", cwd=REPO_ROOT)
    assert removed.returncode == 0, removed.stderr
    qtbot.waitUntil(lambda: _combo_items(window) == ["embedded"], timeout=10000)


def test_tasks_panel_masks_the_apps_own_backend_password(
    qtbot: QtBot,
    opened: tuple[Services, Session, MainWindow],
    tmp_path: Path,
    unused_port: int,
) -> None:
    services, session, window = opened
    (tmp_path / "leaky_app.py").write_text(
        "from celery import Celery\n"
        'app = Celery("leaky_app", backend="redis://:app-s3cret@127.0.0.1:6390/3")\n'
    )
    services.profiles.save(
        Profile(
            name="leaky",
            broker_url=f"redis://127.0.0.1:{unused_port}/0",
            result_backend="",
            app_module="leaky_app",
            workdir=str(tmp_path),
        )
    )
    session.start("leaky")
    qtbot.waitUntil(
        lambda: session.app_config is not None and session.facts is not None, timeout=10000
    )
    shown = window.tasks.delivery.text()
    assert "6390/3" in shown
    assert "app-s3cret" not in shown


def test_shutdown_is_final_with_a_result_on_its_way(
    qtbot: QtBot, opened: tuple[Services, Session, MainWindow], unused_port: int
) -> None:
    services, session, _ = opened
    services.profiles.save(
        Profile(name="refused", broker_url=f"redis://127.0.0.1:{unused_port}/0", result_backend="")
    )
    session.start("refused")
    assert session.state == "connecting"
    # The refused attempt and the app probe finish within this second and queue their
    # results; the GUI thread does not run Qt events meanwhile, so nothing is delivered yet.
    time.sleep(1.0)
    session.shutdown()
    after: list[str] = []
    session.state_changed.connect(lambda state, message: after.append(state))
    session.app_config_changed.connect(lambda config, error: after.append("app_config"))
    qtbot.wait(200)
    assert after == [], f"signals after shutdown: {after}"
    assert not session.connection._health.isActive(), "the health timer runs again after shutdown"
