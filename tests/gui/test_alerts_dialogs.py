"""The alert rules dialog and the alerts log in the real window, on a real embedded Redis: a
rule added through the form is saved in the profile's TOML (the CLI lists it) and taken by the
window's alerts; invalid input is said in the form and saves nothing; a fired alert puts a
badge on its screen's tab and a line in the log, whose Enter (like the notification's click)
shows that screen and clears the badge."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

import workers.tasks  # noqa: F401
from desktop.core.monitor.alert_rules import AlertRule, load_rules, rules_path, save_rules
from desktop.core.monitor.state import StateDiff, WorkerRow
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.alerts.rule_form import RuleDialog
from desktop.ui.alerts.rules_dialog import AlertRulesDialog
from desktop.ui.shell.main_window import MainWindow
from tests.desk_cli import celery_desk
from tests.factories import task_row
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on
from workers import create_app

pytestmark = pytest.mark.slow


def _profile(embedded_redis: Any, queue: str) -> Profile:
    return Profile(
        name="alerting", broker_url=embedded_redis.url(0), result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT), queues=[QueueSpec(queue, 10)],
    )  # fmt: skip


@pytest.fixture
def queue() -> str:
    return f"alerted-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def window(qtbot: QtBot, embedded_redis: Any, queue: str) -> Iterator[MainWindow]:
    with window_on(qtbot, _profile(embedded_redis, queue)) as shown:
        yield shown


def _open_rules(qtbot: QtBot, window: MainWindow) -> AlertRulesDialog:
    window.alert_rules_action.trigger()
    dialog = window.alerts.rules_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.loaded and dialog.save_button.isEnabled(), timeout=5000)
    return dialog


def _kind(form: RuleDialog, kind: str) -> None:
    form.kind.setCurrentIndex(form.kind.findData(kind))


def _ok(qtbot: QtBot, form: RuleDialog) -> None:
    qtbot.mouseClick(form.buttons.button(form.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)


def _save(qtbot: QtBot, dialog: AlertRulesDialog) -> None:
    """Save, and wait for the dialog to close (it goes once saved)."""
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)


def test_rules_added_edited_and_refused_in_the_dialog(
    qtbot: QtBot, window: MainWindow, queue: str
) -> None:
    path = rules_path(Services.open().paths, "alerting")
    dialog = _open_rules(qtbot, window)
    assert dialog.model.rowCount() == 0 and "No rule yet" in dialog.status.text()

    form = dialog.add_rule()
    assert form.isVisible()
    _kind(form, "queue-length")
    assert form.queue.isVisibleTo(form) and not form.task.isVisibleTo(form)
    assert queue in [form.queue.itemText(i) for i in range(form.queue.count())]
    _ok(qtbot, form)  # no name: the core's message, the form stays open
    assert form.isVisible() and form.error.isVisible()
    assert "name is 1-64 characters" in form.error.text()
    form.name.setText("backlog")
    form.threshold.setValue(10)
    form.queue.setCurrentText(queue)
    assert form.summary.text() == f"Fires when more than 10 waiting in queue '{queue}'."
    _ok(qtbot, form)
    assert not form.isVisible()
    assert [r.name for r in dialog.model.rows()] == ["backlog"]
    assert not path.exists()  # nothing written before Save

    form = dialog.add_rule()
    form.name.setText("backlog")
    _ok(qtbot, form)
    assert "already a rule named 'backlog'" in form.error.text()
    form.name.setText("failing")
    _kind(form, "failure-rate")
    assert form.task.isVisibleTo(form) and not form.queue.isVisibleTo(form)
    form.threshold.setValue(150)
    _ok(qtbot, form)
    assert "a failure rate above 100 % never happens" in form.error.text()
    form.threshold.setValue(20)
    form.task.setText("queue:mail runtime>abc")
    _ok(qtbot, form)
    assert "is not a query" in form.error.text() and form.isVisible()
    form.task.setText("name:workers.tasks.* queue:mail")
    form.minutes.setValue(2000)
    _ok(qtbot, form)
    assert "minutes must be above 0 and at most 1440" in form.error.text()
    form.minutes.setValue(10)
    _ok(qtbot, form)
    assert not form.isVisible()

    _save(qtbot, dialog)
    expected = (
        AlertRule("backlog", "queue-length", 10.0, queue=queue),
        AlertRule("failing", "failure-rate", 20.0, 10.0, "name:workers.tasks.* queue:mail"),
    )
    assert load_rules(path).rules == expected
    assert 'kind = "queue-length"' in path.read_text()
    listed = celery_desk("--profile", "alerting", "alerts", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"backlog: queue-length: more than 10 waiting in queue '{queue}'" in listed.stdout
    qtbot.waitUntil(lambda: window.session.alerts.engine.rules == expected, timeout=5000)
    assert "Alert rules saved" in window.statusBar().currentMessage()

    # Edited and removed in a second opening; an invalid edit is refused and Cancel writes
    # nothing
    written = path.read_bytes()
    dialog = _open_rules(qtbot, window)
    assert [r.name for r in dialog.model.rows()] == ["backlog", "failing"]
    dialog.table.setFocus()
    dialog.table.selectRow(0)
    qtbot.keyClick(dialog.table, Qt.Key.Key_Return)  # edits the rule, and saves nothing yet
    form = dialog.form
    assert form is not None and form.isVisible() and dialog.isVisible()
    assert form.name.text() == "backlog" and form.threshold.value() == 10
    assert not dialog.jobs.running("save") and "Saving" not in dialog.status.text()
    form.name.setText(" backlog")
    _ok(qtbot, form)
    assert form.error.isVisible() and form.isVisible()
    form.reject()
    dialog.reject()
    assert path.read_bytes() == written

    dialog = _open_rules(qtbot, window)
    dialog.table.selectRow(0)
    form = dialog.edit_selected()
    assert form is not None
    form.threshold.setValue(25)
    _ok(qtbot, form)
    dialog.table.selectRow(1)
    dialog.remove_selected()
    assert [r.threshold for r in dialog.model.rows()] == [25.0]
    _save(qtbot, dialog)
    assert load_rules(path).rules == (AlertRule("backlog", "queue-length", 25.0, queue=queue),)


def test_a_fired_alert_badges_its_tab_and_is_logged_and_opening_it_clears_the_badge(
    qtbot: QtBot, embedded_redis: Any, queue: str
) -> None:
    paths = Services.open().paths
    declared, queue = queue, f"{queue}-undeclared"  # only the rule names it: still read
    save_rules(
        rules_path(paths, "alerting"),
        (
            AlertRule("backlog", "queue-length", 0, queue=queue),
            AlertRule("boom", "task-failures", 1, 5, "workers.tasks.boom"),
        ),
    )
    with window_on(qtbot, _profile(embedded_redis, declared)) as window:
        tabs, alerts = window.tabs, window.session.alerts
        tabs.setCurrentWidget(window.tasks)
        qtbot.waitUntil(lambda: alerts.engine.watches_queues, timeout=10000)
        client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
        try:
            client.send_task("workers.tasks.add", args=[1, 2], queue=queue)
            qtbot.waitUntil(lambda: bool(alerts.engine.firing()), timeout=15000)
        finally:
            client.close()
        queues_tab = tabs.indexOf(window.queues)
        assert tabs.tabText(queues_tab) == "Queues (1)"
        assert queue in tabs.tabToolTip(queues_tab)

        # Two failures of the rule's task in a live batch: the Failures tab says it too
        now = time.time()
        failed = [
            task_row(str(uuid.uuid4()), name="workers.tasks.boom", state="FAILURE", finished=now)
            for _ in range(2)
        ]
        window.session.diff_ready.emit(StateDiff(tasks_changed=failed))
        failures_tab = tabs.indexOf(window.failures)
        qtbot.waitUntil(lambda: tabs.tabText(failures_tab) == "Failures (1)", timeout=3000)

        # The log, from the status bar's alerts: newest first, each with the view it shows
        assert window.alerts_label.isVisible() and "2 alerts" in window.alerts_label.text()
        qtbot.mouseClick(window.alerts_label, Qt.MouseButton.LeftButton)
        log = window.alerts.log_dialog
        assert log is not None and log.isVisible()
        qtbot.waitUntil(lambda: log.model.rowCount() == 2, timeout=5000)
        lines = log.model.rows()
        assert [(line.rule, line.state, line.view()) for line in lines] == [
            ("boom", "firing", "Failures: name:workers.tasks.boom"),
            ("backlog", "firing", f"Queues: {queue}"),
        ]
        assert "2 tasks matching 'workers.tasks.boom' failed" in lines[0].message

        # Enter on the queue's line: the Queues screen, on that queue; its badge cleared
        log.table.setFocus()
        log.table.selectRow(1)
        qtbot.keyClick(log.table, Qt.Key.Key_Return)
        assert tabs.currentWidget() is window.queues
        assert log.isVisible()  # still open for the next line
        assert tabs.tabText(queues_tab) == "Queues" and window.alerts.badge("Queues") == 0
        assert window.queues.selected == queue
        assert tabs.tabText(failures_tab) == "Failures (1)"  # not opened yet

        # Opening a screen by hand clears its badge as well
        tabs.setCurrentWidget(window.failures)
        assert tabs.tabText(failures_tab) == "Failures" and window.alerts.badge("Failures") == 0

        # The notification's click goes where the log's Enter goes: the Failures, narrowed
        # to the rule's tasks
        tabs.setCurrentWidget(window.tasks)
        alerts.notification_clicked()
        assert tabs.currentWidget() is window.failures
        assert window.failures.filter_box.text() == "name:workers.tasks.boom"

        # Saved again from the dialog: the same engine takes the rules, nothing is said twice
        fired: list[Any] = []
        alerts.fired.connect(fired.append)
        dialog = _open_rules(qtbot, window)
        with qtbot.waitSignal(alerts.rules_problem, timeout=5000):
            _save(qtbot, dialog)
        qtbot.wait(1500)  # three ticks and a Queues read while both stay true
        assert fired == [] and len(alerts.engine.firing()) == 2

        # A worker's alert goes to the Workers screen, on that worker's row
        seen = WorkerRow("w1@alerted", False, 0, 0, None, None, time.time())
        window.session.diff_ready.emit(StateDiff(workers_changed=[seen]))
        assert window.alerts.go_to("worker-offline", {"worker": "w1@alerted"})
        assert tabs.currentWidget() is window.workers
        assert window.workers.selected_node() == "w1@alerted"
        log.close()
