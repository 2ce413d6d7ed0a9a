"""Alerts in the real window: a profile's "queue latency > 2 s" rule, evaluated on the Queues
screen's reads while another screen is shown, fires once for a task waiting in a queue nobody
consumes, and the status bar says it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import workers.tasks  # noqa: F401
from desktop.core.monitor.alert_rules import AlertRule, rules_path, save_rules
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on
from workers import create_app

pytestmark = pytest.mark.slow


def test_a_queue_latency_rule_fires_once_in_the_window(qtbot: QtBot, embedded_redis: Any) -> None:
    queue = f"late-{uuid.uuid4().hex[:8]}"
    profile = Profile(
        name="alerting", broker_url=embedded_redis.url(0), result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT), queues=[QueueSpec(queue, 10)],
    )  # fmt: skip
    paths = Services.open().paths
    save_rules(rules_path(paths, "alerting"), (AlertRule("late", "queue-latency", 2, queue=queue),))
    fired: list[Any] = []
    with window_on(qtbot, profile) as shown:
        shown.session.alerts.fired.connect(fired.append)
        shown.tabs.setCurrentWidget(shown.tasks)  # the Queues screen reads while hidden
        qtbot.waitUntil(lambda: shown.session.alerts.engine.watches_queues, timeout=10000)
        client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
        try:
            sent_at = time.monotonic()
            client.send_task("workers.tasks.add", args=[1, 2], queue=queue)
            qtbot.waitUntil(lambda: bool(fired), timeout=20000)
            took = time.monotonic() - sent_at
            qtbot.wait(3000)  # later reads while it stays true: no second alert
        finally:
            client.close()
        assert [(a.rule, a.state) for a in fired] == [("late", "firing")]
        assert 2.0 <= took <= 2.0 + 2 * 2.5, took  # within two Queues reads of being true
        assert shown.alerts_label.isVisible()
        assert "1 alert" in shown.alerts_label.text() and queue in shown.alerts_label.toolTip()
