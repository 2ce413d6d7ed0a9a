"""The Workers screen with a real worker: it appears live, answers inspect, obeys commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.panel_app import panel_app
from desktop.core.services import Services
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
            assert panel.model.data(panel.model.index(row, 1)) == "online"
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
