"""The Overview in the real window, on a real Redis with a real worker: the start tab; a worker
online with its pool, a queue with its count, a queue nobody consumes shown red with its ⚠
and "nobody"; a real failure with its cause, and each row opening its own screen on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.common.theme import colour
from desktop.ui.overview.tables import QUEUE_COLUMNS
from desktop.ui.shell.main_window import MainWindow
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from tests.support import window_on
from workers import create_app

pytestmark = pytest.mark.slow
CONSUMERS = [column.title for column in QUEUE_COLUMNS].index("Consumers")
SHOT = Path("/tmp/overview.png")


@pytest.fixture
def window(
    qtbot: QtBot, request: pytest.FixtureRequest, broker_url: str, embedded_redis: Any, prefix: str
) -> Iterator[MainWindow]:
    """On Redis and on RabbitMQ (with its management API: the server's facts need it)."""
    rabbit = broker_url.startswith("amqp")
    profile = Profile(
        name="overview",
        broker_url=broker_url,
        result_backend=embedded_redis.url(1),
        management_url=str(request.getfixturevalue("management_url")) if rabbit else "",
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + name, 10) for name in ("queue1", "queue2", "tasks")],
    )
    with window_on(qtbot, profile) as shown:
        shown.resize(1280, 800)
        yield shown


@pytest.fixture
def worker(
    window: MainWindow, broker_url: str, embedded_redis: Any, prefix: str, tmp_path: Path
) -> Iterator[str]:
    """A real worker consuming queue1 only: queue2 has nobody."""
    client = create_app(broker_url, embedded_redis.url(1), queue_prefix=prefix)
    process = WorkerProcess(
        queues=[prefix + "queue1"],
        broker_url=broker_url,
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=2,
    )
    try:
        with running_worker(client, process) as running:
            yield running.nodename
    finally:
        client.close()


def click(qtbot: QtBot, view: QTableView, row: int) -> None:
    index = view.model().index(row, 0)
    view.scrollTo(index)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )


def text(view: QTableView, row: int, column: int, role: Any = Qt.ItemDataRole.DisplayRole) -> Any:
    return view.model().index(row, column).data(role)


def test_workers_and_queues_at_a_glance_red_where_nobody_consumes(
    qtbot: QtBot,
    window: MainWindow,
    worker: str,
    broker_url: str,
    embedded_redis: Any,
    prefix: str,
) -> None:
    overview = window.overview
    rabbit = broker_url.startswith("amqp")
    assert window.tabs.currentWidget() is overview  # the start tab, shown on start
    assert window.tabs.tabText(0) == "Overview"
    client = create_app(broker_url, embedded_redis.url(1), queue_prefix=prefix)
    try:
        done = [
            client.send_task("workers.tasks.add", args=(i, i), queue=prefix + "queue1")
            for i in range(5)
        ]
        for i in range(3):
            client.send_task("workers.tasks.add", args=(i, 1), queue=prefix + "queue2")
        for result in done:
            assert result.get(timeout=20) in range(0, 10, 2)
    finally:
        client.close()

    # The worker, online, with its pool size once inspect answered.
    def worker_line() -> Any:
        return next((w for w in overview.worker_rows.rows() if w.row.hostname == worker), None)

    qtbot.waitUntil(lambda: worker_line() is not None and worker_line().online, timeout=30000)
    qtbot.waitUntil(lambda: worker_line().concurrency == 2, timeout=30000)
    mine = [w.row.hostname for w in overview.worker_rows.rows()].index(worker)
    assert "online" in str(text(overview.worker_view, mine, 1))
    if not rabbit:  # a private Redis: ours is the only worker; RabbitMQ's "/" is shared by
        # the suite's other processes, whose workers may be online too
        assert overview.workers_box.title().startswith("Workers — 1 online")

    # The queues as the Queues screen read them while hidden, with their consumers.
    def glance(name: str) -> Any:
        return next((g for g in overview.queue_rows.rows() if g.queue == prefix + name), None)

    qtbot.waitUntil(
        lambda: glance("queue2") is not None and glance("queue2").waiting == 3, timeout=30000
    )
    qtbot.waitUntil(lambda: glance("queue1").consumers == 1, timeout=30000)
    assert glance("queue1").waiting == 0 and not glance("queue1").unconsumed
    stuck = glance("queue2")
    assert stuck.consumers == 0 and stuck.unconsumed
    row = overview.queue_rows.rows().index(stuck)
    view = overview.queue_view
    assert text(view, row, 0) == f"⚠ {prefix}queue2"
    assert text(view, row, CONSUMERS) == "⚠ nobody"
    for column in (0, CONSUMERS):
        assert text(view, row, column, Qt.ItemDataRole.ForegroundRole).name() == colour("error")
    assert "no online worker consumes it" in str(text(view, row, 0, Qt.ItemDataRole.ToolTipRole))
    assert "1 waiting with nobody consuming" in overview.queues_box.title()
    # The broker, read with the queues: its version, a timed PING and its memory.
    qtbot.waitUntil(lambda: "Latency" in overview.broker.latency.text(), timeout=30000)
    if rabbit:
        assert overview.broker.server.text().startswith("● RabbitMQ ")
        assert "ready" in overview.broker.holds.text()
        assert "consumers" in overview.broker.holds.text()
    else:
        assert overview.broker.server.text().startswith("● Redis ")
        assert "Memory" in overview.broker.holds.text()
    assert "3 waiting · ⚠ 1 with nobody consuming" in overview.broker.queues.text()
    # The tasks that ran, counted from the live events.
    qtbot.waitUntil(lambda: overview.rates.total("state", "succeeded") >= 5, timeout=30000)
    overview._tick()
    assert overview.succeeded.total.text() == "5 in 15 min"

    qtbot.wait(300)
    assert window.grab().save(str(SHOT.with_stem(f"overview-{'rabbitmq' if rabbit else 'redis'}")))

    # A click on the red queue opens the Queues screen on it.
    click(qtbot, view, row)
    assert window.tabs.currentWidget() is window.queues
    assert window.queues.selected == prefix + "queue2"
    # A click on the worker opens the Workers screen on it.
    window.tabs.setCurrentWidget(overview)
    worker_row = [w.row.hostname for w in overview.worker_rows.rows()].index(worker)
    click(qtbot, overview.worker_view, worker_row)
    assert window.tabs.currentWidget() is window.workers
    assert window.workers.selected_node() == worker
    # The rate line opens the Tasks screen filtered by its state.
    window.tabs.setCurrentWidget(overview)
    qtbot.mouseClick(overview.succeeded, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.tasks
    assert window.tasks.search.text() == "state:SUCCESS"
    qtbot.waitUntil(lambda: window.tasks.model.rowCount() == 5, timeout=30000)


def test_a_real_failure_shows_its_cause_and_opens_the_failures_screen_on_it(
    qtbot: QtBot,
    window: MainWindow,
    worker: str,
    broker_url: str,
    embedded_redis: Any,
    prefix: str,
) -> None:
    overview = window.overview
    client = create_app(broker_url, embedded_redis.url(1), queue_prefix=prefix)
    try:
        failed = client.send_task(
            "workers.tasks.fail", args=["overview boom 42"], queue=prefix + "queue1"
        )
        with pytest.raises(ValueError, match="overview boom 42"):
            failed.get(timeout=20)
    finally:
        client.close()
    cause = "ValueError('overview boom <n>')"
    qtbot.waitUntil(
        lambda: [g.fingerprint for g in overview.failure_rows.rows()] == [cause], timeout=30000
    )
    view = overview.failure_view
    assert text(view, 0, 0) == f"✗ {cause}"
    assert "overview boom 42" in str(text(view, 0, 0, Qt.ItemDataRole.ToolTipRole))
    assert text(view, 0, 1) == "1"
    qtbot.waitUntil(lambda: overview.rates.total("state", "failed") == 1, timeout=30000)

    click(qtbot, view, 0)
    failures = window.failures
    assert window.tabs.currentWidget() is failures
    qtbot.waitUntil(
        lambda: failures.group is not None and failures.group.fingerprint == cause, timeout=30000
    )
    assert failures.group.ids == (failed.id,)
    qtbot.waitUntil(lambda: "overview boom 42" in failures.example.toPlainText(), timeout=30000)


def test_an_app_that_cannot_be_imported_is_explained_and_a_folder_fills_the_profile(
    qtbot: QtBot, embedded_redis: Any, tmp_path: Path
) -> None:
    from desktop.ui.profiles.dialog import ProfileDialog

    profile = Profile(
        name="no-app",
        broker_url=embedded_redis.url(0),
        result_backend=embedded_redis.url(1),
        app_module="no_such_app_here",
        workdir=str(tmp_path),
    )
    project = tmp_path / "dcelery-project"
    for path in ("manage.py", "dcelery/__init__.py", "dcelery/celery.py", "dcelery/settings.py"):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text("")
    with window_on(qtbot, profile) as window:
        hint = window.overview.app_hint
        qtbot.waitUntil(hint.isVisible, timeout=30000)
        assert "no_such_app_here" in hint.why.text()
        assert not window.overview.guide.isVisible()  # a real broker: no tutorial steps
        window.resize(1280, 800)
        qtbot.wait(300)
        assert window.grab().save(str(SHOT.with_stem("overview-app-hint")))
        hint.use_folder(str(project))  # what the folder picker hands over

        def editor() -> ProfileDialog | None:
            found = [d for d in window.findChildren(ProfileDialog) if d.isVisible()]
            return found[0] if found else None

        qtbot.waitUntil(lambda: editor() is not None, timeout=5000)
        dialog = editor()
        assert dialog is not None
        assert dialog.workdir.text() == str(project)
        assert dialog.app_module.text() == "dcelery"
        assert dialog.django.text() == "dcelery.settings"
        assert "manage.py (Django)" in hint.found.text()
        dialog.reject()
