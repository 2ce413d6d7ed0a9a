"""The app's effective configuration on screen: a settings file edited while the window is open
shows as drift where it matters, and the priority of a task the panel did not send is read off
the broker into the Tasks screen."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.app.panel_app import panel_app
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.tasks.cells import COLUMNS
from tests.support import window_on

pytestmark = pytest.mark.slow

APP = """
from celery import Celery
app = Celery("screenapp")
app.conf.broker_transport_options = {"priority_steps": STEPS}
app.conf.task_default_queue = "QUEUE"

@app.task
def work(n: int = 0) -> int:
    return n
"""


def _write_app(directory: Path, steps: str, queue: str) -> None:
    source = APP.replace("STEPS", steps).replace("QUEUE", queue)
    (directory / "screenapp.py").write_text(textwrap.dedent(source), encoding="utf-8")


def _screen_profile(name: str, broker: str, directory: Path, **more: Any) -> Profile:
    """A profile on the test's screenapp, with the app's own backend (none)."""
    return Profile(
        name=name,
        broker_url=broker,
        result_backend="",
        app_module="screenapp",
        workdir=str(directory),
        **more,
    )


def test_an_edited_setting_shows_as_drift_until_accepted(
    qtbot: QtBot, embedded_redis: Any, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    _write_app(tmp_path, "[0, 3, 6, 9]", queue)
    profile = _screen_profile("drifting", embedded_redis.url(6), tmp_path)
    with window_on(qtbot, profile) as window:
        session = window.session
        assert not window.drift_banner.isVisible()
        assert session.services.profiles.get("drifting").app_fingerprint  # first read kept
        _write_app(tmp_path, "list(range(10))", queue)
        qtbot.waitUntil(window.drift_banner.isVisible, timeout=20000)
        assert "priority_steps" in window.drift_label.text()
        assert "restarted" in window.drift_label.text()
        assert session.app_config is not None and session.app_config.priority_steps == list(
            range(10)
        )
        assert not window.queues.drift.isHidden()
        box = window.show_drift_details()
        assert "transport.priority_steps: [0, 3, 6, 9] → [0, 1, 2" in box.detailedText()
        box.close()
        window.drift_accept.click()
        qtbot.waitUntil(lambda: not window.drift_banner.isVisible(), timeout=5000)
        stored = session.services.profiles.get("drifting").app_fingerprint
        assert stored == session.app_config.fingerprint
        assert window.queues.drift.isHidden()

        # Saved half-way: the app no longer imports. The panel says so and goes on with what it
        # last read (not Celery's defaults), and notices when the file is right again.
        (tmp_path / "screenapp.py").write_text("from celery import Celery\napp = Celery(\n")
        qtbot.waitUntil(window.app_failure.isVisible, timeout=20000)
        assert "no longer imports" in window.app_failure.text()
        assert session.app_config.imported and session.app_config.priority_steps == list(range(10))
        _write_app(tmp_path, "list(range(10))", queue)
        qtbot.waitUntil(lambda: not window.app_failure.isVisible(), timeout=20000)
        assert session.app_config.imported and not window.drift_banner.isVisible()


def test_the_priority_of_a_task_sent_elsewhere_is_read_off_the_queue(
    qtbot: QtBot, embedded_redis: Any, tmp_path: Path
) -> None:
    """Sent by another client (its task-sent event names no priority) into a queue nobody
    consumes: the Queues screen reads the message and the Tasks screen shows its priority."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    _write_app(tmp_path, "[0, 3, 6, 9]", queue)
    profile = _screen_profile(
        "learning", embedded_redis.url(7), tmp_path, queues=[QueueSpec(queue)]
    )
    priority_column = [key for key, _title in COLUMNS].index("priority")
    with window_on(qtbot, profile) as window:
        sender = panel_app(embedded_redis.url(7))
        try:
            task_id = sender.send_task("screenapp.work", queue=queue, priority=6).id
        finally:
            sender.close()
        model = window.tasks.model
        qtbot.waitUntil(lambda: model.position(task_id) is not None, timeout=15000)
        row = model.position(task_id)
        assert row is not None
        assert model.index(row, priority_column).data() in ("", None)  # no event carries it
        window.tabs.setCurrentWidget(window.queues)
        window.queues.select_queue(queue)

        def shown() -> str:
            at = model.position(task_id)
            return "" if at is None else str(model.index(at, priority_column).data() or "")

        qtbot.waitUntil(lambda: shown() == "6", timeout=15000)
        journal = window.session.journal
        assert journal is not None and journal.get(task_id)["priority"] == 6  # type: ignore[index]
