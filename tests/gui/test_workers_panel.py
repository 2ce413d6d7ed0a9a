"""The Workers screen with a real worker: it appears live, answers inspect, obeys commands."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.app.panel_app import panel_app
from desktop.core.services import Services
from desktop.ui.workers.model import HEARTBEAT_COLUMN
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.slow


def test_worker_appears_and_takes_commands(qtbot: QtBot, tmp_path: Path) -> None:
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    session.start()
    try:
        qtbot.waitUntil(lambda: session.state == "connected", timeout=5000)
        qtbot.waitUntil(lambda: window.events_label.text() == "Events: connected", timeout=10000)
        assert session.profile is not None
        endpoints = services.endpoints(session.profile)
        client = panel_app(endpoints.broker_url, endpoints.result_backend)
        worker = WorkerProcess(
            queues=["tasks"],
            broker_url=endpoints.broker_url,
            backend_url=endpoints.result_backend,
            log_path=tmp_path / "worker.log",
        )
        with running_worker(client, worker) as running:
            panel = window.workers
            qtbot.waitUntil(lambda: panel.model.rowCount() >= 1, timeout=10000)
            row = next(
                r
                for r in range(panel.model.rowCount())
                if panel.model.data(panel.model.index(r, 0)) == running.nodename
            )
            assert panel.model.data(panel.model.index(row, 1)) == "● online"
            panel.table.selectRow(row)
            assert panel.selected_node() == running.nodename
            panel.run_command("refresh")
            qtbot.waitUntil(
                lambda: panel.model.data(panel.model.index(row, 9)) == "tasks", timeout=5000
            )
            panel.run_command("add_consumer", {"queue": "queue1"})
            qtbot.waitUntil(lambda: "add consumer" in panel.reply.text().lower(), timeout=5000)
            qtbot.waitUntil(
                lambda: panel.model.data(panel.model.index(row, 9)) == "queue1, tasks", timeout=5000
            )
            panel.run_command("autoscale", {"max": 1, "min": 5})
            qtbot.waitUntil(lambda: "failed" in panel.reply.text(), timeout=5000)
            assert "autoscale needs" in panel.reply.text()
        client.close()
    finally:
        window.close()
        session.shutdown()


def test_a_worker_whose_clock_is_off_is_flagged(qtbot: QtBot) -> None:
    """Heartbeats published for real, by Celery's own EventDispatcher, from a "machine" whose
    clock is 120 s slow (a wrong system clock is the one part a test cannot cause for real)."""
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    session.start()
    try:
        qtbot.waitUntil(lambda: window.events_label.text() == "Events: connected", timeout=10000)
        assert session.profile is not None
        endpoints = services.endpoints(session.profile)
        sender = panel_app(endpoints.broker_url)
        panel = window.workers
        beat = {"freq": 2.0, "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
                "active": 0, "processed": 0, "loadavg": [0.1, 0.1, 0.1]}  # fmt: skip
        with sender.connection_for_write() as connection:
            slow = sender.events.Dispatcher(connection, hostname="slow-clock@elsewhere")
            right = sender.events.Dispatcher(connection, hostname="right-clock@elsewhere")
            for _ in range(3):
                slow.send("worker-heartbeat", timestamp=time.time() - 120, **beat)
                right.send("worker-heartbeat", **beat)
                qtbot.wait(200)
            qtbot.waitUntil(lambda: panel.model.rowCount() >= 2, timeout=5000)
        sender.close()
        rows = {panel.model.data(panel.model.index(r, 0)): r for r in range(panel.model.rowCount())}
        slow_row, right_row = rows["slow-clock@elsewhere"], rows["right-clock@elsewhere"]
        heartbeat = panel.model.data(panel.model.index(slow_row, HEARTBEAT_COLUMN))
        # Heard from it just now (not "120 s ago"), and its clock is flagged on its row.
        assert heartbeat in ("0 s ago · clock 120 s behind", "1 s ago · clock 120 s behind")
        assert panel.model.data(panel.model.index(slow_row, 1)) == "● online"
        tooltip = panel.model.data(
            panel.model.index(slow_row, HEARTBEAT_COLUMN), Qt.ItemDataRole.ToolTipRole
        )
        assert "120 s behind this computer's" in tooltip and "NTP" in tooltip
        assert "clock" not in panel.model.data(panel.model.index(right_row, HEARTBEAT_COLUMN))
        # And above the table, for the one worker that is off.
        assert not panel.clock_warning.isHidden()
        warning = panel.clock_warning.text()
        assert "slow-clock@elsewhere" in warning and "120 s behind" in warning
        assert "right-clock@elsewhere" not in warning
    finally:
        window.close()
        session.shutdown()


def test_rate_and_time_limits_pick_a_task_of_the_persons_app(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task is chosen from the app's own tasks (the palette's), the one with a rate limit
    first, and the rate offered is the app's own; no name of another app is prefilled."""
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    session.start()
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        config = session.app_config
        offered: list[tuple[list[str], int]] = []
        asked_rate: list[tuple[str, str]] = []

        def get_item(_parent, _title, _label, items, current, _editable):  # type: ignore[no-untyped-def]
            offered.append((list(items), current))
            return items[current], True

        def get_text(_parent, _title, label, text=""):  # type: ignore[no-untyped-def]
            asked_rate.append((label, text))
            return text, True

        monkeypatch.setattr(QInputDialog, "getItem", get_item)
        monkeypatch.setattr(QInputDialog, "getText", get_text)
        asked = window.workers._ask("rate_limit", "w@host")
        names, current = offered[0]
        assert names == [t.name for t in config.tasks] and names
        assert not any(n.startswith("celery.") for n in names)
        limited = next(t for t in config.tasks if t.rate_limit)
        assert names[current] == limited.name
        assert asked == {"task": limited.name, "rate": limited.rate_limit}
        assert f"the app sets {limited.rate_limit}" in asked_rate[0][0]
    finally:
        window.close()
        session.shutdown()
