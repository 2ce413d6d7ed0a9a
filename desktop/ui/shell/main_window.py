"""The main window: profile switcher and connection indicator on top, one tab per screen, each
registered as a `Screen` and wired to the session the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.config import Drift
from desktop.core.monitor.pipeline import JOURNAL_FAILING
from desktop.core.settings.config_errors import ProfileError
from desktop.ui.audit.panel import AuditPanel
from desktop.ui.beat.panel import BeatPanel
from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.charts.panel import ChartsPanel
from desktop.ui.common.accessible import explain
from desktop.ui.common.splitter_state import restore_splitters, save_splitters
from desktop.ui.common.table_state import restore_tables, save_tables
from desktop.ui.common.theme import set_tone
from desktop.ui.common.wheel_guard import wheel_only_when_focused
from desktop.ui.failures.panel import FailuresPanel
from desktop.ui.overview.panel import OverviewPanel
from desktop.ui.profiles.dialog import ProfileDialog
from desktop.ui.queues.panel import QueuesPanel
from desktop.ui.session.session import Session
from desktop.ui.shell.alerts_shell import AlertsShell
from desktop.ui.shell.appearance import Appearance
from desktop.ui.shell.broker_status import BrokerStatus
from desktop.ui.shell.connection_indicator import ConnectionIndicator
from desktop.ui.shell.doors import wire_doors
from desktop.ui.shell.history_status import HistoryStatus
from desktop.ui.shell.keyboard import ScreenKeys
from desktop.ui.shell.screen import Screen, wire
from desktop.ui.shell.tray import Tray
from desktop.ui.tasks.panel import TasksPanel
from desktop.ui.workers.panel import WorkersPanel


class MainWindow(QMainWindow):
    def __init__(self, session: Session, settings_file: Path) -> None:
        super().__init__()
        self.session = session
        self._ask_on_close = True
        self.settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
        self.setWindowTitle("Celery Desk")
        self.resize(1180, 760)

        toolbar = QToolBar("Profile")
        toolbar.setObjectName("profile-toolbar")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        toolbar.addWidget(QLabel(" Profile: "))
        self.profiles = QComboBox()
        self.profiles.setMinimumWidth(200)
        explain(
            self.profiles, "The connection profile shown: choosing one switches to it", "Profile"
        )
        self.profiles.activated.connect(self._switch_profile)
        toolbar.addWidget(self.profiles)
        self.edit_action = QAction("Edit…", self)
        self.edit_action.triggered.connect(self.edit_profile)
        self.new_action = QAction("New…", self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_profile)
        self.remove_action = QAction("Remove", self)
        self.remove_action.triggered.connect(self.remove_profile)
        self.reconnect_action = QAction("Reconnect", self)
        self.reconnect_action.setShortcut(QKeySequence("Ctrl+Shift+R"))  # F5 refreshes a screen
        self.reconnect_action.triggered.connect(session.reconnect)
        # The profile's alert rules and its alerts log (also from the status bar's alerts)
        self.alert_rules_action = QAction("Alert rules…", self)
        self.alerts_log_action = QAction("Alerts log…", self)
        for action, tip in (
            (self.edit_action, "Edit this profile: broker, app, transport options, journal"),
            (self.new_action, "Make a new profile for another broker or app"),
            (self.remove_action, "Remove this profile (asks first)"),
            (self.reconnect_action, "Connect to the broker again and read the app afresh"),
            (self.alert_rules_action, "The rules that raise this profile's alerts"),
            (self.alerts_log_action, "Every alert raised, with its time and target"),
        ):
            toolbar.addAction(explain(action, tip))
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.indicator = ConnectionIndicator()
        toolbar.addWidget(self.indicator)

        self.tabs = QTabWidget()
        self.overview = OverviewPanel(session, self.settings)
        self.workers = WorkersPanel(session)
        self.builder = BuilderPanel(session)
        self.tasks = TasksPanel(session)
        self.failures = FailuresPanel(session)
        self.queues = QueuesPanel(session, self.settings)
        self.charts = ChartsPanel()
        self.beat = BeatPanel(session)
        self.audit = AuditPanel(session)
        self.alerts = AlertsShell(self)
        self.alert_rules_action.triggered.connect(self.alerts.open_rules)
        self.alerts_log_action.triggered.connect(self.alerts.open_log)
        self.queues.oldest_read.connect(self.charts.add_oldest)
        self.charts.watching.connect(self.queues.keep_reading)
        self.queues.snapshot_read.connect(session.alerts.feed_queues)
        wire_doors(self)  # a row on one screen opening another on what it points at
        session.alerts.rules_problem.connect(self._rules_loaded)
        session.alerts.fired.connect(self._show_alerts)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.drift_banner = self._drift_banner()
        column.addWidget(self.drift_banner)
        self.app_failure = QLabel()
        self.app_failure.setProperty("role", "warning")
        self.app_failure.setWordWrap(True)
        self.app_failure.hide()
        column.addWidget(self.app_failure)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Config: {session.services.paths.config_dir}")

        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)
        self.quit_action = quit_action

        session.profiles_changed.connect(self._show_profiles)
        session.state_changed.connect(self.indicator.set_state)
        session.drift_changed.connect(self._show_drift)
        session.app_config_failed.connect(self._show_app_failure)
        for screen in self._screens():
            self.register(screen)
        self.keys = ScreenKeys(self, self.tabs)  # Ctrl+1..9, Ctrl+F, F5, Ctrl+K, F1
        # The Workers screen's search box is its local worker's log's (Ctrl+F went there before).
        self.keys.add(
            self.workers, refresh=self.workers.inspect, search=self.workers.local.log.search
        )
        self.keys.add(self.builder, search=self.builder.search)
        self.keys.add(self.tasks, refresh=self.tasks.model.reload, search=self.tasks.search)
        self.keys.add(self.failures, refresh=self.failures.refresh, search=self.failures.filter_box)
        self.keys.add(self.queues, refresh=self.queues.refresh_by_hand)
        self.keys.add(self.beat, refresh=self.beat.refresh)
        self.keys.add(self.audit, refresh=self.audit.refresh, search=self.audit.filter_box)
        self.keys.install()
        self.alerts_label = QToolButton()  # a click opens the alerts log
        explain(self.alerts_label, "Alerts firing: click for the alerts log", "Alerts firing")
        self.alerts_label.setAutoRaise(True)
        self.alerts_label.setProperty("strong", True)
        set_tone(self.alerts_label, "error")
        self.alerts_label.clicked.connect(self.alerts.status_clicked)
        self.alerts_label.hide()
        self.statusBar().addPermanentWidget(self.alerts_label)
        self.events_label = QLabel("Events: not started")
        self.statusBar().addPermanentWidget(self.events_label)
        session.events_state_changed.connect(self._show_events_state)
        # Shown only while the journal refuses writes (disk full, read-only): never a quiet
        # loss of history.
        self.journal_label = QLabel("Journal: not written")
        self.journal_label.setProperty("strong", True)
        set_tone(self.journal_label, "error")
        self.journal_label.hide()
        self.statusBar().addPermanentWidget(self.journal_label)
        session.journal_state_changed.connect(self._show_journal_state)
        self.broker_status = BrokerStatus(session, self.statusBar())  # latency, events/s
        self.history_status = HistoryStatus(session, self.statusBar())  # a shared history
        self.queues.snapshot_read.connect(self.broker_status.show_snapshot)
        self.tray = Tray(self)  # the connection's state, a menu, the alerts' notifications
        self._restore_geometry()
        self.appearance = Appearance(self, self.settings)  # View > Theme; icons; light or dark
        self.appearance.install()
        wheel_only_when_focused(self)

    # -- alerts ---------------------------------------------------------------------------------
    def _rules_loaded(self, problem: str) -> None:
        """The profile's alert rules were read: the Queues keep reading for queue rules, and a
        rules file that could not be read is said (its alerts would never fire)."""
        self.queues.keep_reading(self.session.alerts.engine.watches_queues, "alerts")
        if problem:
            self.statusBar().showMessage(f"Alert rules not read: {problem}")
        self._show_alerts(None)

    def _show_alerts(self, _alert: Any) -> None:
        firing = self.session.alerts.engine.firing()
        self.alerts_label.setVisible(bool(firing))
        if firing:
            self.alerts_label.setText(
                f"⚠ {len(firing)} alert{'s' if len(firing) != 1 else ''}: {firing[-1].message}"[:90]
            )
            said = "\n".join(f"{a.rule}: {a.message}" for a in firing)
            self.alerts_label.setToolTip(f"{said}\n\nClick for the alerts log.")

    # -- profiles -------------------------------------------------------------------------------
    def _show_profiles(self, names: list[str], active: str) -> None:
        self.profiles.blockSignals(True)
        self.profiles.clear()
        self.profiles.addItems(names)
        self.profiles.setCurrentText(active)
        self.profiles.blockSignals(False)
        self.remove_action.setEnabled(active != "embedded")

    def _switch_profile(self, index: int) -> None:
        name = self.profiles.itemText(index)
        if self.session.profile is None or name != self.session.profile.name:
            if not self.builder.confirm_leave(f"switching to profile '{name}'"):
                self.profiles.setCurrentText(self.session.profile.name if self.session.profile
                                             else "")  # fmt: skip
                return
            try:
                self.session.activate(name)
            except ProfileError as exc:
                QMessageBox.warning(self, "Profile", str(exc))

    def edit_profile(self) -> ProfileDialog:
        dialog = ProfileDialog(self.session, self.session.profile, self)
        dialog.open()
        return dialog

    def new_profile(self) -> ProfileDialog:
        dialog = ProfileDialog(self.session, None, self)
        dialog.open()
        return dialog

    def remove_profile(self) -> None:
        profile = self.session.profile
        if profile is None or (profile.is_embedded and profile.name == "embedded"):
            return
        answer = QMessageBox.question(
            self, "Remove profile", f"Remove profile '{profile.name}' and its stored password?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            try:
                self.session.remove(profile.name)
            except ProfileError as exc:
                QMessageBox.warning(self, "Profile", str(exc))

    def _show_events_state(self, state: str, message: str) -> None:
        self.events_label.setText(f"Events: {state}")
        self.events_label.setToolTip(message)

    def _show_journal_state(self, state: str, message: str) -> None:
        failing = state == JOURNAL_FAILING
        self.journal_label.setVisible(failing)
        self.journal_label.setToolTip(message)
        self.statusBar().showMessage(message, 0 if failing else 15_000)

    # -- screens ----------------------------------------------------------------------------------
    def _screens(self) -> list[Screen]:
        """The tabs, in order, and what each needs from the session. The Overview is first:
        a fresh window opens on it."""
        workers, builder, tasks, queues, charts, overview = (
            self.workers, self.builder, self.tasks, self.queues, self.charts, self.overview
        )  # fmt: skip
        return [
            Screen(
                "Overview",
                overview,
                profile_switched=overview.reset,
                diffs=overview.apply_diff,
                facts=overview.show_facts,
                app_config=overview.show_app_config,
            ),
            Screen(
                "Workers",
                workers,
                profile_switched=workers.model.clear,
                diffs=workers.apply_diff,
                facts=workers.show_facts,
                app_config=workers.show_app_config,
            ),
            Screen(
                "Builder",
                builder,
                profile_switched=builder.forget_profile,
                diffs=builder.apply_diff,
                facts=builder.show_facts,
                app_config=builder.show_app_config,
            ),
            Screen(
                "Tasks",
                tasks,
                facts=tasks.show_facts,
                app_config=tasks.show_app_config,
                rows_learned=tasks.model.update_rows,
            ),
            Screen("Failures", self.failures, app_config=self.failures.show_app_config),
            Screen(
                "Queues",
                queues,
                diffs=queues.apply_diff,
                facts=queues.show_facts,
                app_config=queues.show_app_config,
                drift=queues.show_drift,
            ),
            Screen("Charts", charts, profile_switched=charts.reset, diffs=charts.apply_diff),
            Screen(
                "Beat",
                self.beat,
                profile_switched=self.beat.reset,
                app_config=self.beat.show_app_config,
            ),
            Screen("Audit", self.audit),
        ]

    def register(self, screen: Screen) -> None:
        """A tab for the screen, told what it asked for of the session."""
        self.tabs.addTab(screen.widget, screen.title)
        self.alerts.screen_added(screen.title, screen.widget)
        wire(screen, self.session)

    # -- the app's configuration changed -------------------------------------------------------
    def _drift_banner(self) -> QWidget:
        banner = QWidget()
        row = QHBoxLayout(banner)
        row.setContentsMargins(8, 4, 8, 4)
        self.drift_label = QLabel()
        self.drift_label.setProperty("role", "warning")
        self.drift_label.setWordWrap(True)
        row.addWidget(self.drift_label, 1)
        self.drift_details = QPushButton("Differences…")
        explain(
            self.drift_details, "What differs from the configuration this profile was read with"
        )
        self.drift_details.clicked.connect(self.show_drift_details)
        self.drift_accept = QPushButton("Accept")
        self.drift_accept.setToolTip(
            "Take the app's present configuration as the one this profile was read with"
        )
        self.drift_accept.clicked.connect(self.session.accept_app_config)
        row.addWidget(self.drift_details)
        row.addWidget(self.drift_accept)
        banner.hide()
        return banner

    def _show_drift(self, drift: Drift) -> None:
        self.drift_label.setText(drift.summary())
        self.drift_banner.setVisible(drift.changed)

    def _show_app_failure(self, message: str) -> None:
        """The app stopped importing after a change: said above the tabs until it does again."""
        self.app_failure.setText(message)
        self.app_failure.setVisible(bool(message))

    def show_drift_details(self) -> QMessageBox:
        changes = self.session.drift.changes
        box = QMessageBox(self)
        box.setWindowTitle("The app's configuration changed")
        box.setText(
            f"{len(changes)} setting(s) differ from when profile "
            f"'{self.session.profile.name if self.session.profile else ''}' last read its app. "
            "The panel already uses the new values; workers started before the change keep "
            "the old ones until restarted."
        )
        box.setDetailedText("\n".join(change.text() for change in changes))
        box.open()
        return box

    # -- geometry and closing ------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        tab = self.settings.value("window/tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(str(tab)))
        restore_tables(self, self.settings)
        restore_splitters(self, self.settings)

    def close_without_asking(self) -> None:
        """SIGINT/SIGTERM: quit with the default answer (stop local workers gracefully)."""
        self._ask_on_close = False
        self.close()

    def ask_about_local_workers(self, here: int, elsewhere: int) -> str:
        """'stop', 'leave' or 'cancel': what to do on quit with the running local workers of
        every profile (`here`: the active one's, `elsewhere`: the others')."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Local workers are running")
        box.setText(quit_question(here, elsewhere))
        box.setInformativeText(
            "Stop them gracefully (running tasks finish first), or leave them running? "
            "Left running, they show up here again as your own when you reopen the panel."
        )
        stop = box.addButton("Stop them", QMessageBox.ButtonRole.AcceptRole)
        leave = box.addButton("Leave running", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(stop)
        box.exec()
        clicked = box.clickedButton()
        return "stop" if clicked is stop else "leave" if clicked is leave else "cancel"

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._ask_on_close and not self.builder.confirm_leave("closing the window"):
            event.ignore()
            return
        running = self.session.running_local_workers()
        choice = "stop"
        if running and self._ask_on_close:
            choice = self.ask_about_local_workers(*self.session.running_here_and_elsewhere())
            if choice == "cancel":
                event.ignore()
                return
        self.session.quit_workers = choice if running else "none"
        self.session.quit_grace_s = float(self.workers.local.grace.value())
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        save_tables(self, self.settings)
        save_splitters(self, self.settings)
        self.settings.sync()
        self.builder.drafts.close()  # unsaved and not asked about (a signal): kept as the draft
        event.accept()


def quit_question(here: int, elsewhere: int) -> str:
    """What quitting would stop or leave, counted per profile as the workers are kept."""

    def workers(count: int) -> str:
        return f"{count} local worker{'s' if count != 1 else ''}"

    if not elsewhere:
        return f"{workers(here)} of this profile still run{'s' if here == 1 else ''}."
    if not here:
        return f"{workers(elsewhere)} of other profiles still run{'s' if elsewhere == 1 else ''}."
    return (
        f"{workers(here + elsewhere)} still run: {here} of this profile and {elsewhere} of "
        "other profiles."
    )
