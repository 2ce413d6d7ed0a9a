"""Alerts in the window: the profile's rules (core/monitor/alert_rules.py) evaluated by the
same engine `celery-desk record --alert-command` uses (core/monitor/alerts.py), fed by the
session's live diffs and the Queues screen's reads, ticked every TICK_MS on the GUI thread
(in memory only: well under a millisecond). A firing alert is said once: in the status bar
(with every alert still firing in its tooltip) and as a desktop notification where the system
has a tray; it is also kept in the alerts log beside the rules (`celery-desk alerts log`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon

from desktop.core.monitor.alert_log import AlertLog, log_path
from desktop.core.monitor.alert_rules import RulesLoaded, load_rules, rules_path
from desktop.core.monitor.alerts import Alert, AlertEngine
from desktop.core.monitor.state import StateDiff
from desktop.ui.common.jobs import Jobs

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

TICK_MS = 500


class AlertsHost(QObject):
    fired = Signal(object)  # an Alert that fired or resolved, on the GUI thread
    rules_problem = Signal(str)  # the rules file could not be read: why ("" when it could)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.jobs = Jobs(self)
        self.engine = AlertEngine()
        self.engine.subscribe(self.fired.emit)
        self._tray: QSystemTrayIcon | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(lambda: self.engine.tick())
        session.diff_ready.connect(self.feed_diff)
        session.profile_switched.connect(lambda _name: self.reload_rules())
        self.fired.connect(self._notify)

    def reload_rules(self) -> None:
        """The active profile's rules, read off the GUI thread; a new engine for them."""
        self.jobs.run("rules", self._load())

    async def _load(self) -> None:
        profile = self.session.profile
        if profile is None:
            return
        paths = self.session.services.paths
        loaded: RulesLoaded = await Jobs.blocking(load_rules, rules_path(paths, profile.name))
        engine = AlertEngine(loaded.rules, alert_log=AlertLog(log_path(paths, profile.name)))
        engine.subscribe(self.fired.emit)
        self.engine = engine
        self.rules_problem.emit(loaded.problem or "")
        if loaded.rules:
            self._tick.start()
        else:
            self._tick.stop()

    def feed_diff(self, diff: StateDiff) -> None:
        if self.engine.rules:
            self.engine.feed_diff(diff)

    def feed_queues(self, snapshot: Any) -> None:
        """A Queues read (broker/queues.Snapshot): its counts and oldest ages."""
        if self.engine.watches_queues:
            self.engine.feed_queues(snapshot.counts, snapshot.oldest)

    def _notify(self, alert: Alert) -> None:
        if alert.state != "firing":
            return
        if self._tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            app = QApplication.instance()
            style = app.style() if isinstance(app, QApplication) else None
            icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning) if style else None
            self._tray = QSystemTrayIcon(icon, self) if icon else QSystemTrayIcon(self)
            self._tray.setToolTip("Celery Desk")
            self._tray.show()
        if self._tray is not None:
            self._tray.showMessage(
                f"Celery Desk: {alert.rule}", alert.message, QSystemTrayIcon.MessageIcon.Warning
            )
