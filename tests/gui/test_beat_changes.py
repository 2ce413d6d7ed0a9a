"""The Beat screen's changes in the real window, on a real Redis with RedBeat's own entries:
Disable, Edit… (a new interval and arguments) and Delete… (confirmed) reach RedBeat through its
entry API, show on screen and in the audit log; an entry in the app's code cannot be changed
and says why. (That a running beat follows each change: tests/conformance/test_beat_write.py.)"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from celery import Celery
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.core.canvas.model import Canvas, TaskNode
from desktop.core.settings.profile_model import Profile
from desktop.ui.beat.changes import EditDialog
from desktop.ui.shell.main_window import MainWindow
from tests.conformance.beat_parts import APPS
from tests.conftest import RunningRedis
from tests.support import window_on

pytestmark = pytest.mark.slow


def _rows(window: MainWindow) -> dict[str, Any]:
    return {row.entry.name: row.entry for row in window.beat.model.rows()}


def _choose(window: MainWindow, name: str) -> None:
    window.beat.select(name)
    assert window.beat.chosen() is not None and window.beat.chosen().name == name


def _answer_yes() -> None:
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        box.button(QMessageBox.StandardButton.Yes).click()
    else:
        QTimer.singleShot(50, _answer_yes)


def test_disable_edit_and_delete_a_redbeat_entry_from_the_screen(
    qtbot: QtBot, embedded_redis: RunningRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redbeat.schedulers import RedBeatSchedulerEntry

    broker = embedded_redis.url(12)
    prefix = f"deskscreen-{uuid.uuid4().hex[:6]}:"
    monkeypatch.setenv("REDBEAT_PREFIX", prefix)  # the app reads it (beat_apps/beat_redbeat.py)
    monkeypatch.setenv("CELERY_BROKER", broker)
    app = Celery("beat_redbeat", broker=broker, set_as_current=False)
    app.conf.update(timezone="America/New_York", redbeat_redis_url=broker,
                    redbeat_key_prefix=prefix)  # fmt: skip
    for name in ("tick", "tock"):
        RedBeatSchedulerEntry(name, "beat_tasks.note", timedelta(seconds=30), args=[name],
                              options={"queue": "beats"}, app=app).save()  # fmt: skip
    profile = Profile(name="beat-changes", broker_url=broker, result_backend="",
                      app_module="beat_redbeat", workdir=str(APPS))  # fmt: skip
    with window_on(qtbot, profile) as window:
        window.tabs.setCurrentWidget(window.beat)
        panel = window.beat
        qtbot.waitUntil(lambda: {"tick", "tock"} <= set(_rows(window)), timeout=30000)

        _choose(window, "tick")
        changes = panel.changes
        assert changes.toggle_button.text() == "Disable" and changes.toggle_button.isEnabled()
        changes.toggle_button.click()
        qtbot.waitUntil(lambda: not _rows(window)["tick"].enabled, timeout=30000)
        assert RedBeatSchedulerEntry.from_key(f"{prefix}tick", app=app).enabled is False
        assert "tick disabled" in panel.status.text()

        _choose(window, "tock")
        dialog = changes.edit()
        assert isinstance(dialog, EditDialog) and dialog.every.isChecked()
        assert dialog.seconds.value() == 30.0 and dialog.args.text() == '["tock"]'
        dialog.args.setText("not json")
        dialog.accept()
        assert dialog.isVisible() and dialog.problem.isVisible()  # said, nothing sent
        dialog.seconds.setValue(42)
        dialog.args.setText('["tock", 2]')
        dialog.accept()
        qtbot.waitUntil(lambda: _rows(window)["tock"].words == "every 42 s", timeout=30000)
        own = RedBeatSchedulerEntry.from_key(f"{prefix}tock", app=app)
        assert own.schedule.run_every == timedelta(seconds=42) and list(own.args) == ["tock", 2]

        _choose(window, "tock")
        QTimer.singleShot(50, _answer_yes)
        changes.delete()
        qtbot.waitUntil(lambda: "tock" not in _rows(window), timeout=30000)
        client = redis.Redis.from_url(broker)
        try:
            assert not client.exists(f"{prefix}tock")
            assert client.zscore(f"{prefix}:schedule", f"{prefix}tock") is None
        finally:
            client.close()
        assert changes.add_button.isEnabled()  # the app's scheduler is RedBeat
        added = changes.add()
        assert isinstance(added, EditDialog) and "beat_tasks.note" in [
            added.task.itemText(i) for i in range(added.task.count())
        ]  # the app's own tasks offered
        added.name.setText("fresh")
        added.task.setCurrentText("beat_tasks.note")
        added.seconds.setValue(15)
        added.args.setText('["fresh"]')
        added.accept()
        qtbot.waitUntil(lambda: "fresh" in _rows(window), timeout=30000)
        assert _rows(window)["fresh"].words == "every 15 s" and _rows(window)["fresh"].enabled
        fresh = RedBeatSchedulerEntry.from_key(f"{prefix}fresh", app=app)
        assert fresh.task == "beat_tasks.note" and list(fresh.args) == ["fresh"]

        # From the Builder: a task node's "Schedule periodically…" opens Add… on it.
        window.tabs.setCurrentWidget(window.builder)
        node = TaskNode("beat_tasks.note", args=["from-builder"])
        window.builder.open_canvas(Canvas(name="one task", root=node))
        window.builder.view.select(())
        window.builder.schedule_action.trigger()
        assert window.tabs.currentWidget() is window.beat
        prefilled = QApplication.activeModalWidget() or next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, EditDialog) and w.isVisible()
        )
        assert isinstance(prefilled, EditDialog)
        assert prefilled.task.currentText() == "beat_tasks.note"
        assert prefilled.args.text() == '["from-builder"]' and prefilled.name.text() == "note"
        prefilled.seconds.setValue(90)
        prefilled.accept()
        qtbot.waitUntil(lambda: "note" in _rows(window), timeout=30000)
        assert list(RedBeatSchedulerEntry.from_key(f"{prefix}note", app=app).args) == [
            "from-builder"
        ]

        audit = window.session.journal
        assert audit is not None
        actions = [entry.action for entry in audit.audit_entries()]
        assert {"beat disable", "beat edit", "beat delete", "beat add"} <= set(actions)


def test_a_static_apps_entries_cannot_be_changed_and_say_why(
    qtbot: QtBot, embedded_redis: RunningRedis
) -> None:
    broker = embedded_redis.url(13)
    profile = Profile(name="beat-static-changes", broker_url=broker, result_backend="",
                      app_module="beat_static", workdir=str(APPS))  # fmt: skip
    with window_on(qtbot, profile) as window:
        window.tabs.setCurrentWidget(window.beat)
        qtbot.waitUntil(lambda: "every-ten" in _rows(window), timeout=30000)
        _choose(window, "every-ten")
        changes = window.beat.changes
        for button in (*changes.buttons, changes.add_button):
            assert not button.isEnabled()
            assert "beat_schedule" in button.toolTip()  # the reason: it lives in the code
