"""The local beat's bar on the Workers screen, in the real window on the embedded broker with
the shipped app: Start runs a real `celery beat` kept by the panel's keeper, the bar says
"running (pid N, …)", Log shows its log, Stop ends it; a beat a person started elsewhere on the
same broker makes Start refused, with the reason on the bar; quitting stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from celery import Celery
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.base.processes import pid_alive
from desktop.core.services import Services
from desktop.ui.beat.local_beat import LocalBeatBar
from desktop.ui.shell.main_window import MainWindow
from tests.conftest import stop_with_this_process
from tests.gui.conftest import REPO_ROOT

SHOT = Path("/tmp/local-beat-bar.png")


def _shown(bar: LocalBeatBar) -> str:
    return bar.state.text()


def test_local_beat_bar_start_log_stop_and_refusal(
    qtbot: QtBot, connected_window: MainWindow, services: Services, tmp_path: Path
) -> None:
    window = connected_window
    window.tabs.setCurrentWidget(window.beat)
    part = window.beat
    bar = part.beat_bar
    qtbot.waitUntil(lambda: _shown(bar) == "Local beat: stopped", timeout=5000)
    assert bar.start_button.isEnabled() and not bar.stop_button.isEnabled()
    assert not bar.log_button.isEnabled()
    for button in (bar.start_button, bar.stop_button, bar.log_button):
        assert button.accessibleName() and button.toolTip()

    qtbot.mouseClick(bar.start_button, Qt.MouseButton.LeftButton)
    assert not bar.start_button.isEnabled()  # at once: the start runs on a pool
    qtbot.waitUntil(lambda: _shown(bar).startswith("Local beat: running (pid "), timeout=60000)
    beat = bar.beat
    assert beat is not None and beat.pid is not None and pid_alive(beat.pid)
    stop_with_this_process(beat.pid)
    assert bar.stop_button.isEnabled() and not bar.start_button.isEnabled()
    assert window.session.running_here_and_elsewhere() == (1, 0)  # quit's question counts it
    everyone = (
        window.workers.local.show_all_local_workers()
    )  # listed under its own profile, not elsewhere
    qtbot.waitUntil(lambda: everyone.model.rowCount() == 1, timeout=10000)
    listed = everyone.model.rows()[0]
    assert listed.profile == "embedded" and listed.worker.nodename.startswith("celerybeat@")
    assert "1 running on this machine, 0 of them of other profiles" in everyone.summary.text()
    everyone.close()
    qtbot.mouseClick(bar.log_button, Qt.MouseButton.LeftButton)
    assert part.log.path == beat.log_path
    qtbot.waitUntil(lambda: "beat: Starting..." in part.log.text.toPlainText(), timeout=10000)
    window.resize(1280, 800)
    qtbot.wait(200)
    assert window.grab().save(str(SHOT))

    qtbot.mouseClick(bar.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _shown(bar) == "Local beat: stopped", timeout=40000)
    assert not pid_alive(beat.pid)
    assert bar.start_button.isEnabled() and not bar.stop_button.isEnabled()

    # A person's own beat on the same broker, answering pings: a second one is refused.
    profile = window.session.profile
    assert profile is not None
    broker = services.endpoints(profile).broker_url
    env = {**os.environ, "CELERY_BROKER_URL": broker}
    hand = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "beat", "-l", "INFO",
         "--schedule", str(tmp_path / "hand"), "--enable-remote-control"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    stop_with_this_process(hand.pid)
    try:
        asker = Celery("ask", broker=broker, set_as_current=False)
        qtbot.waitUntil(lambda: bool(asker.control.ping(timeout=0.5)), timeout=30000)
        asker.close()
        qtbot.mouseClick(bar.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "refused" in _shown(bar), timeout=40000)
        refused = _shown(bar)
        assert refused.startswith("Local beat: refused: a beat already answers on this broker")
        assert "celerybeat@" in refused and bar.state.property("role") == "error"
        assert bar.state.toolTip() == refused  # the whole reason, however long
        assert bar.beat is None or not bar.beat.running
        window.resize(1280, 800)
        assert window.grab().save(str(SHOT.with_stem("local-beat-refused")))
    finally:
        hand.terminate()
        hand.wait(20)

    # Quit with "stop them" stops the beat as it stops the local workers.
    qtbot.mouseClick(bar.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _shown(bar).startswith("Local beat: running (pid "), timeout=60000)
    again = bar.beat
    assert again is not None and again.pid is not None
    stop_with_this_process(again.pid)
    assert window.session.stop_local_workers_on_quit(20) == []
    assert not pid_alive(again.pid)
