"""The window's side of alerts: the rules dialog and the alerts log opened from the toolbar and
the status bar, a badge on the tab of the screen an alert points to, and the one place that
goes to an alert's screen (`go_to`), for the log's Enter and the notification's click alike.

A badge counts the alerts that fired for a screen since the person last looked at it: none is
added for the screen on show (the person is looking at it), and opening the screen clears
it. Which screen an alert points to is ui/alerts/views.py's to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from desktop.core.monitor.alerts import FIRING, Alert
from desktop.ui.alerts.log_view import AlertsLogDialog
from desktop.ui.alerts.rules_dialog import AlertRulesDialog
from desktop.ui.alerts.views import BEAT, FAILURES, QUEUES, WORKERS, screen_of

if TYPE_CHECKING:
    from desktop.ui.shell.main_window import MainWindow


class AlertsShell(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.alerts = window.session.alerts
        self.titles: dict[str, QWidget] = {}  # screen title -> its tab's widget
        self.unseen: dict[str, list[Alert]] = {}  # screen title -> alerts fired since looked
        self.log_dialog: AlertsLogDialog | None = None
        self.rules_dialog: AlertRulesDialog | None = None
        self.alerts.fired.connect(self._fired)
        self.alerts.open_requested.connect(self._open_requested)
        window.session.profile_switched.connect(lambda _name: self.clear_badges())
        window.tabs.currentChanged.connect(lambda _index: self._looked())

    def screen_added(self, title: str, widget: QWidget) -> None:
        self.titles[title] = widget

    # -- badges -------------------------------------------------------------------------------
    def badge(self, title: str) -> int:
        return len(self.unseen.get(title, []))

    def _fired(self, alert: Alert) -> None:
        title = screen_of(alert.kind)
        widget = self.titles.get(title or "")
        if alert.state != FIRING or widget is None or widget is self.window.tabs.currentWidget():
            return
        self.unseen.setdefault(title or "", []).append(alert)
        self._show_badge(title or "")

    def _looked(self) -> None:
        current = self.window.tabs.currentWidget()
        for title, widget in self.titles.items():
            if widget is current and self.unseen.pop(title, []):
                self._show_badge(title)

    def clear_badges(self) -> None:
        titles = list(self.unseen)
        self.unseen.clear()
        for title in titles:
            self._show_badge(title)

    def _show_badge(self, title: str) -> None:
        tabs = self.window.tabs
        index = tabs.indexOf(self.titles[title])
        alerts = self.unseen.get(title, [])
        tabs.setTabText(index, f"{title} ({len(alerts)})" if alerts else title)
        tabs.setTabToolTip(
            index, "\n".join(f"{a.rule}: {a.message}" for a in alerts[-10:]) if alerts else ""
        )

    # -- going to an alert's screen --------------------------------------------------------------
    def go_to(self, kind: str, target: Mapping[str, str]) -> bool:
        """Show the screen an alert points to, narrowed to what it is about (the rule's tasks,
        the queue, the worker), the window raised. False for a kind with no screen."""
        title = screen_of(kind)
        widget = self.titles.get(title or "")
        if widget is None:
            return False
        window = self.window
        if window.isMinimized():
            window.showNormal()
        window.raise_()
        window.activateWindow()
        window.tabs.setCurrentWidget(widget)
        if title == FAILURES and "task" in target:
            window.failures.narrow(target["task"])
        elif title == QUEUES and target.get("queue"):
            window.queues.select_queue(target["queue"])
        elif title == WORKERS and target.get("worker"):
            window.workers.select_worker(target["worker"])
        elif title == BEAT and target.get("entry"):
            window.beat.select(target["entry"])
        return True

    def _open_requested(self, alert: Alert | None) -> None:
        if alert is None:
            self.open_log()
        else:
            self.go_to(alert.kind, alert.target)

    # -- the dialogs ------------------------------------------------------------------------------
    def open_log(self) -> AlertsLogDialog:
        """The alerts log, one per window: shown again (and read again) when already open."""
        if self.log_dialog is None:
            dialog = AlertsLogDialog(self.alerts, self.window)
            dialog.go_to.connect(self.go_to)
            dialog.rules_asked.connect(self.open_rules)
            dialog.finished.connect(lambda _result: self._forget_log())
            self.log_dialog = dialog
        else:
            self.log_dialog.refresh()
        self.log_dialog.show()
        self.log_dialog.raise_()
        return self.log_dialog

    def _forget_log(self) -> None:
        if self.log_dialog is not None:
            self.log_dialog.deleteLater()
        self.log_dialog = None

    def open_rules(self) -> AlertRulesDialog:
        config = self.window.session.app_config
        profile = self.window.session.profile
        queues = dict.fromkeys(config.queue_names() if config else [])
        queues.update(dict.fromkeys(q.name for q in (profile.queues if profile else [])))
        parent: QWidget = self.log_dialog if self.log_dialog is not None else self.window
        dialog = AlertRulesDialog(self.alerts, list(queues), parent)
        dialog.saved.connect(lambda said: self.window.statusBar().showMessage(said, 10_000))
        dialog.finished.connect(lambda _result: dialog.deleteLater())
        self.rules_dialog = dialog
        dialog.open()
        return dialog

    def status_clicked(self, *_: Any) -> None:
        self.open_log()
