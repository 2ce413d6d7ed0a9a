"""Alerts in the window: the profile's rules (core/monitor/alert_rules.py) evaluated by the
same engine `celery-desk record --alert-command` uses (core/monitor/alerts.py), fed by the
session's live diffs and the Queues screen's reads, ticked every TICK_MS on the GUI thread
(in memory only: well under a millisecond). A firing alert is said once: in the status bar
(with every alert still firing in its tooltip) and as a desktop notification through the
window's one tray icon (shell/tray.py, which listens to `fired`); it is also kept in the alerts
log beside the rules (`celery-desk alerts log`). A click on the notification asks the window to
show the alert's screen (`notification_clicked` -> `open_requested`); the window does the
going (shell/alerts_shell.py), the same way as from the alerts log.

Rules read again for the same profile (saved from the rules dialog) go into the same engine
(`set_rules`): a rule kept keeps its state, so an alert still firing is not said again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

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
    # The notification of an Alert was clicked: show that alert's view (None: the alerts log)
    open_requested = Signal(object)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self.jobs = Jobs(self)
        self.engine = AlertEngine()
        self.engine.subscribe(self.fired.emit)
        self._engine_profile: str | None = None  # whose rules the engine holds
        self.last_notified: Alert | None = None  # what a click on the notification shows
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(lambda: self.engine.tick())
        session.diff_ready.connect(self.feed_diff)
        session.profile_switched.connect(lambda _name: self.reload_rules())
        self.fired.connect(self._notify)

    def profile_name(self) -> str | None:
        profile = self.session.profile
        return None if profile is None else profile.name

    def rules_file(self) -> Path | None:
        """The active profile's rules file (the one `celery-desk alerts` edits)."""
        name = self.profile_name()
        return None if name is None else rules_path(self.session.services.paths, name)

    def log_file(self) -> Path | None:
        """The active profile's alerts log (the one `celery-desk alerts log` reads)."""
        name = self.profile_name()
        return None if name is None else log_path(self.session.services.paths, name)

    def reload_rules(self) -> None:
        """The active profile's rules, read off the GUI thread; a new engine for them."""
        self.jobs.run("rules", self._load())

    async def _load(self) -> None:
        profile = self.session.profile
        if profile is None:
            return
        paths = self.session.services.paths
        loaded: RulesLoaded = await Jobs.blocking(load_rules, rules_path(paths, profile.name))
        if self._engine_profile == profile.name:
            self.engine.set_rules(loaded.rules)
        else:
            engine = AlertEngine(loaded.rules, alert_log=AlertLog(log_path(paths, profile.name)))
            engine.subscribe(self.fired.emit)
            self.engine = engine
            self._engine_profile = profile.name
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

    def notification_clicked(self) -> None:
        """The tray's message was clicked: the alert it said (the latest shown)."""
        if self.last_notified is not None:
            self.open_requested.emit(self.last_notified)

    def _notify(self, alert: Alert) -> None:
        if alert.state == "firing":
            self.last_notified = alert
