"""The "Why?" window in the real window on a real broker: a task waiting in a queue nobody
consumes is named `no-consumer` with its fix; "Start a worker for its queue" starts a real
local worker, the task runs, and checking again finds no problem."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import workers.tasks  # noqa: F401
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.session.why_dialog import WhyDialog
from desktop.ui.shell.main_window import MainWindow
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on
from workers import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def window(qtbot: QtBot, embedded_redis: Any) -> Iterator[tuple[MainWindow, str]]:
    queue = f"why-{uuid.uuid4().hex[:8]}"
    profile = Profile(
        name="why", broker_url=embedded_redis.url(0), result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT), queues=[QueueSpec(queue, 10)],
    )  # fmt: skip
    with window_on(qtbot, profile) as shown:
        yield shown, queue


def test_why_names_the_missing_consumer_and_starting_one_runs_the_task(
    qtbot: QtBot, window: tuple[MainWindow, str], embedded_redis: Any
) -> None:
    shown, queue = window
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
    try:
        sent = client.send_task("workers.tasks.add", args=[2, 3], queue=queue)
        dialog = WhyDialog(shown.session, sent.id, shown)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.diagnosis is not None, timeout=30000)
        assert dialog.diagnosis is not None and dialog.diagnosis.cause is not None
        assert dialog.diagnosis.cause.check == "no-consumer"
        assert dialog.status.text() == f"Task {sent.id}: the cause is no-consumer"
        text = dialog.report.toPlainText()
        assert "Cause: no-consumer" in text and "What to do:" in text and "✗" in text
        assert dialog.start_button.isVisible() and dialog.queue == queue

        dialog.start_button.click()
        assert sent.get(timeout=60) == 5  # the worker the window started ran it
        qtbot.waitUntil(
            lambda: any(queue in w.spec.queues for w in shown.session.local_workers),
            timeout=10000,
        )
        dialog.check()
        qtbot.waitUntil(
            lambda: dialog.again_button.isEnabled() and dialog.diagnosis is not None
            and dialog.diagnosis.cause is None,
            timeout=30000,
        )  # fmt: skip
        assert not dialog.start_button.isVisible()
    finally:
        client.close()
