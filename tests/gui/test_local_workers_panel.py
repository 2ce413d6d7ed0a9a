"""The Workers screen's local workers, in the real window on the app's own embedded broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.app.config import read_effective_config
from desktop.core.app.panel_app import panel_app
from desktop.core.local.supervisor import Supervisor
from desktop.core.local.worker_spec import WorkerSpec, presets
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.workers.worker_dialog import WorkerDialog
from tests.conftest import stop_with_this_process
from tests.integration.test_supervisor import read_line
from tests.support import pid_alive

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


def open_window(qtbot: QtBot, services: Services) -> tuple[Any, Any]:
    session, window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    session.start()
    qtbot.waitUntil(lambda: session.state == "connected", timeout=10000)
    qtbot.waitUntil(lambda: window.events_label.text() == "Events: connected", timeout=10000)
    return session, window


def answer_next_question(button_text: str) -> list[str]:
    """Click a button of the next message box, as a person would; the list returned gets
    the question's text once it is answered."""
    asked: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            for button in box.buttons():
                if button.text() == button_text:
                    asked.append(box.text())
                    button.click()
                    return
        QTimer.singleShot(50, click)

    QTimer.singleShot(50, click)
    return asked


def rows(window: Any) -> list[tuple[str, str]]:
    model = window.workers.local.model
    return [(w.nodename, w.state) for w in model.workers()]


def test_a_preset_worker_comes_online_and_a_warm_stop_lets_its_task_finish(
    qtbot: QtBot, services: Services
) -> None:
    session, window = open_window(qtbot, services)
    local = window.workers.local
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        names = session.app_config.queue_names()
        priority = next(v for k, v in presets(names).items() if "priority" in k)
        local.start_preset(priority)
        node = priority[0].nodename
        qtbot.waitUntil(lambda: rows(window) == [(node, "online")], timeout=30000)
        assert f"{node} online after" in local.message.text()
        (worker,) = local.model.workers()
        assert worker.spec.concurrency == 1 and worker.spec.prefetch_multiplier == 1
        assert worker.spec.acks_late is True
        qtbot.waitUntil(lambda: "ready" in local.log.text.toPlainText(), timeout=5000)
        local.log.search.setText("ready")
        assert local.log.matches.text() == "1 match"

        endpoints = services.endpoints(session.profile)
        client = panel_app(endpoints.broker_url, endpoints.result_backend)
        result = client.send_task("workers.tasks.sleep", args=[5], queue="tasks")
        qtbot.waitUntil(lambda: result.state == "STARTED", timeout=10000)
        local.table.selectRow(0)
        local.stop_selected()
        qtbot.waitUntil(lambda: rows(window)[0][1] == "stopping", timeout=5000)
        assert result.state == "STARTED"  # a warm stop: the task goes on
        qtbot.waitUntil(lambda: rows(window)[0][1] == "stopped", timeout=20000)
        assert result.get(timeout=5) == 5
        assert local.actions_by_name["start"].isEnabled()
        client.close()
    finally:
        window.close_without_asking()
        session.shutdown()


def test_bad_settings_are_refused_in_the_form_and_a_broken_app_shows_its_error(
    qtbot: QtBot, services: Services
) -> None:
    session, window = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        dialog = WorkerDialog(
            session.profile, session.app_config, {"queue1"}, WorkerSpec("queue1", [])
        )
        qtbot.addWidget(dialog)
        problems = dialog.validate()
        assert set(problems) == {"name", "queues"}
        assert not dialog.buttons.buttons()[0].isEnabled()
        assert "already runs" in dialog.problems.text()
        dialog.name.setText("fine")
        dialog.queues.item(0).setCheckState(dialog.queues.item(0).checkState().Checked)
        assert dialog.validate() == {}

        # The name follows the ticked queues until the person types one of their own.
        named = WorkerDialog(session.profile, session.app_config, set(), WorkerSpec("", []))
        qtbot.addWidget(named)
        items = [named.queues.item(row) for row in range(named.queues.count())]
        ticks = {item.text(): item for item in items}
        checked, unchecked = Qt.CheckState.Checked, Qt.CheckState.Unchecked
        ticks["queue1"].setCheckState(checked)
        assert named.name.text() == "queue1"
        ticks["queue2"].setCheckState(checked)
        assert named.name.text() == "queue1-queue2"
        ticks["queue1"].setCheckState(unchecked)
        assert named.name.text() == "queue2"
        named.name.setText("mine")
        ticks["queue1"].setCheckState(checked)
        assert named.name.text() == "mine"

        broken = Profile(name="broken", app_module="no_such_app_module", workdir=str(REPO_ROOT))
        session.save(broken, None)
        session.activate("broken")
        qtbot.waitUntil(lambda: session.state == "connected", timeout=10000)
        # The app cannot be imported: the panel knows Celery's default queue only.
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        assert not session.app_config.imported
        assert session.app_config.queue_names() == ["celery"]
        session.start_local_worker(WorkerSpec("broken", ["celery"]))
        local = window.workers.local
        qtbot.waitUntil(
            lambda: rows(window)[:1] == [("broken@" + _host(), "crashed")], timeout=20000
        )
        assert "no_such_app_module was not found" in local.message.text()
        assert local.message.property("role") == "error"
    finally:
        window.close_without_asking()
        session.shutdown()


def _host() -> str:
    return WorkerSpec("x", []).nodename.split("@", 1)[1]


@pytest.mark.asks_about_local_workers
def test_quit_leaves_workers_running_when_asked_and_the_next_window_owns_them(
    qtbot: QtBot, services: Services
) -> None:
    session, window = open_window(qtbot, services)
    qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
    names = session.app_config.queue_names()
    routed = next(v for k, v in presets(names).items() if k.startswith("queue1"))
    window.workers.local.start_preset(routed)
    wanted = sorted((spec.nodename, "online") for spec in routed)
    qtbot.waitUntil(lambda: sorted(rows(window)) == wanted, timeout=30000)
    pids = sorted(w.pid for w in window.workers.local.model.workers())
    asked = answer_next_question("Leave running")
    window.close()
    assert asked == [f"{len(routed)} local workers of this profile still run."]
    session.shutdown()
    assert all(pid_alive(pid) for pid in pids)
    assert services.embedded.status().running, "the workers' broker was stopped under them"

    session, window = open_window(qtbot, services)
    qtbot.waitUntil(lambda: sorted(rows(window)) == wanted, timeout=15000)
    assert sorted(w.pid for w in window.workers.local.model.workers()) == pids
    answer_next_question("Stop them")
    window.close()
    session.shutdown()
    assert not any(pid_alive(pid) for pid in pids)
    assert not services.embedded.status().running


PANEL = """
import sys, time
from PySide6.QtWidgets import QApplication
from desktop.app import build_window
from desktop.core.services import Services
from desktop.core.local.worker_spec import presets
app = QApplication([])
session, window = build_window(Services.open())
window.show()
session.start()
deadline = time.monotonic() + 60
while (session.state != "connected" or session.app_config is None) and (
    time.monotonic() < deadline
):
    app.processEvents(); time.sleep(0.02)
names = session.app_config.queue_names()
window.workers.local.start_preset(presets(names)["one worker consuming every queue"])
while time.monotonic() < deadline:
    app.processEvents(); time.sleep(0.02)
    if [w.state for w in session.local_workers] == ["online"]:
        print(session.local_workers[0].pid, flush=True)
        break
while True:
    app.processEvents(); time.sleep(0.05)
"""


def _pids_with(token: str, parent_of: int | None = None) -> list[int]:
    """Live processes with `token` as one argv element (and, if given, that parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        wanted_parent = parent_of is None or parent == parent_of
        if token in argv and wanted_parent and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_a_panel_killed_with_sigkill_leaves_its_workers_to_the_next_one_once(
    qtbot: QtBot, services: Services, tmp_path: Path
) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO_ROOT)}
    panel = subprocess.Popen(
        [sys.executable, "-c", PANEL], stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT
    )
    try:
        pid = int(read_line(panel, 90) or 0)
        assert pid, "the first panel's worker did not come online"
        stop_with_this_process(pid)
    finally:
        panel.send_signal(signal.SIGKILL)
        panel.wait()
    assert pid_alive(pid)
    session, window = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: rows(window) == [(f"all@{_host()}", "online")], timeout=15000)
        assert [w.pid for w in window.workers.local.model.workers()] == [pid]
        qtbot.wait(1500)  # more polls: the adopted worker was not started a second time
        record = window.workers.local.model.workers()[0].log_path.with_suffix(".json")
        keepers = [p for p in _pids_with(str(record)) if p != panel.pid]
        assert len(keepers) == 1, keepers
        assert _pids_with("all@%h", parent_of=keepers[0]) == [pid]
        window.workers.local.table.selectRow(0)
        window.workers.local.stop_all()
        qtbot.waitUntil(lambda: rows(window) == [(f"all@{_host()}", "stopped")], timeout=20000)
    finally:
        window.close_without_asking()
        session.shutdown()


def test_a_wedged_worker_shows_as_unresponsive_with_its_last_log_lines(
    qtbot: QtBot, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process of the worker stopped (SIGSTOP) while the broker stays up: the screen
    says unresponsive, in red, with its log, and says so on the message line (issue 13, 4)."""
    from desktop.core.local import supervisor as supervisor_module
    from desktop.core.local import worker_keeper
    from desktop.core.local.worker_keeper import Watch

    quick = Watch(every_s=0.5, reply_s=0.5, unresponsive_after_s=3.0, kill_grace_s=1.0)
    monkeypatch.setattr(supervisor_module, "Watch", lambda: quick)
    session, window = open_window(qtbot, services)
    local = window.workers.local
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        names = session.app_config.queue_names()
        spec = next(iter(presets(names).values()))[0]
        local.start_preset([spec])
        node = spec.nodename
        qtbot.waitUntil(lambda: rows(window) == [(node, "online")], timeout=30000)
        (worker,) = local.model.workers()
        assert worker.pid is not None
        status = worker_keeper.status_path(session.supervisor.record_path(spec.name))
        # The keeper judges only after its own first answer (a worker starting is not wedged).
        qtbot.waitUntil(lambda: '"answered": null' not in status.read_text(), timeout=15000)
        os.killpg(worker.pid, signal.SIGSTOP)
        try:
            qtbot.waitUntil(lambda: rows(window) == [(node, "unresponsive")], timeout=15000)
            assert f"{node} is unresponsive: no answer to pings" in local.message.text()
            index = local.model.index(0, 1)
            assert local.model.data(index).startswith("⚠ unresponsive for")
            (shown,) = local.model.workers()
            assert "no answer to pings" in shown.detail
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        qtbot.waitUntil(lambda: rows(window) == [(node, "online")], timeout=15000)
    finally:
        window.close_without_asking()
        session.shutdown()


def test_the_quit_question_counts_each_profiles_workers() -> None:
    from desktop.ui.shell.main_window import quit_question

    assert quit_question(1, 0) == "1 local worker of this profile still runs."
    assert quit_question(0, 2) == "2 local workers of other profiles still run."
    assert quit_question(2, 1) == (
        "3 local workers still run: 2 of this profile and 1 of other profiles."
    )


def test_other_profiles_local_workers_are_said_and_can_be_stopped(
    qtbot: QtBot, services: Services
) -> None:
    """A worker another profile started (another window, the CLI) is not in this profile's
    list, but the screen says it runs and All local workers… lists and stops it."""
    session, window = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        endpoints = services.endpoints(session.profile)
        other = Profile(name="other", app_module="workers", workdir=str(REPO_ROOT))
        supervisor = Supervisor(services.workers_dir(other), other)
        spec = WorkerSpec("elsewhere", ["queue1"], concurrency=1)
        supervisor.start(spec, endpoints, read_effective_config(other, endpoints))
        local = window.workers.local
        window.tabs.setCurrentWidget(window.workers)
        qtbot.waitUntil(local.elsewhere.isVisible, timeout=20000)
        assert "1 local worker of other profiles runs" in local.elsewhere.text()
        assert [w.name for w in local.model.workers()] == []
        dialog = local.show_all_local_workers()
        qtbot.addWidget(dialog)

        def listed() -> list[tuple[str, str]]:
            return [(p.profile, p.worker.name) for p in dialog.model.rows()]

        qtbot.waitUntil(
            lambda: listed() == [(supervisor.directory.name, "elsewhere")], timeout=10000
        )
        assert "1 of them of other profiles" in dialog.summary.text()
        dialog.table.selectRow(0)
        assert dialog.stop_button.isEnabled()
        dialog.stop_button.click()
        qtbot.waitUntil(lambda: not dialog.model.rows()[0].worker.running, timeout=30000)
        qtbot.waitUntil(lambda: not local.elsewhere.isVisible(), timeout=20000)
    finally:
        window.close_without_asking()
        session.shutdown()
