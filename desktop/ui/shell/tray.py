"""The window's one system-tray icon: the connection's state at a glance, a menu, and the
alerts' desktop notifications.

The icon is the app's with a badge in its corner coloured by the connection (green connected,
amber connecting or reconnecting, red disconnected) and carrying a symbol, so the state reads
without colour too; its tooltip says the state, the profile and why. The menu shows the window,
switches profile (as the toolbar's list does, asking first about an unsaved canvas), opens the
alerts log and quits (through the window's close, so the quit question about local workers
is the same). A click on the icon shows the window.

The icon is made and shown whatever the platform says: Qt adds it to a tray that appears
later, and where there is none (a bare X server, `offscreen`) nothing shows and nothing
fails. It is the only tray icon of the process: the alerts (ui/session/alerts_host.py) are
said through it, and a click on such a notification goes to the alert's screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop.core.local.desktop_entry import ICON
from desktop.core.monitor.alerts import FIRING, Alert
from desktop.ui.common.states import STATE_SYMBOLS, state_colour

if TYPE_CHECKING:
    from desktop.ui.shell.main_window import MainWindow

# The session's states (ui/session/connection.py) as the tray says them.
SAID = {
    "connected": "connected",
    "connecting": "connecting",
    "reconnecting": "reconnecting",
    "failed": "disconnected",
}
ICON_SIZE = 64


def badged_icon(state: str) -> QIcon:
    """The app's icon with the state's badge (colour and symbol) in its lower right corner."""
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QIcon(str(ICON)).paint(painter, 0, 0, ICON_SIZE, ICON_SIZE)
    badge = QRectF(ICON_SIZE * 0.46, ICON_SIZE * 0.46, ICON_SIZE * 0.54, ICON_SIZE * 0.54)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawEllipse(badge)
    painter.setBrush(QColor(badge_colour(state)))
    painter.drawEllipse(badge.adjusted(3, 3, -3, -3))
    painter.setPen(QColor("white"))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(ICON_SIZE * 0.3))
    painter.setFont(font)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, STATE_SYMBOLS.get(state, "?"))
    painter.end()
    return QIcon(pixmap)


def badge_colour(state: str) -> str:
    return state_colour(state)


def badge_point() -> QPointF:
    """A point inside the badge's coloured disc, off its symbol (for a test to read)."""
    return QPointF(ICON_SIZE * 0.6, ICON_SIZE * 0.6)


class Tray(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        session = window.session
        self.state = ""
        self.message = ""
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()  # a tray's menu has no parent widget; kept (and deleted) here
        self.destroyed.connect(self.menu.deleteLater)
        self.show_action = QAction("Show window", self)
        self.show_action.triggered.connect(self.show_window)
        self.menu.addAction(self.show_action)
        self.profiles_menu = self.menu.addMenu("Profile")
        self.profile_group = QActionGroup(self)
        self.profile_group.triggered.connect(lambda action: self._choose(action.text()))
        self.menu.addSeparator()
        self.menu.addAction(window.alerts_log_action)
        self.menu.addSeparator()
        self.quit_action = QAction("Quit", self)
        self.quit_action.triggered.connect(window.close)
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(session.alerts.notification_clicked)
        session.state_changed.connect(self.set_state)
        session.profiles_changed.connect(self._show_profiles)
        session.alerts.fired.connect(self._notify)
        self.set_state(session.state, "")
        self.icon.show()

    # -- the connection ------------------------------------------------------------------------
    def set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.icon.setIcon(badged_icon(state))
        self.icon.setToolTip(self.tooltip())

    def said_state(self) -> str:
        return SAID.get(self.state, self.state)

    def profile_name(self) -> str:
        profile = self.window.session.profile
        return profile.name if profile is not None else "no profile"

    def tooltip(self) -> str:
        said = f"Celery Desk — {self.said_state()}, profile '{self.profile_name()}'"
        return f"{said}\n{self.message}" if self.message else said

    # -- the menu ------------------------------------------------------------------------------
    def _show_profiles(self, names: list[str], active: str) -> None:
        self.profiles_menu.clear()
        for action in self.profile_group.actions():
            self.profile_group.removeAction(action)
            action.deleteLater()
        self.profiles_menu.setTitle(f"Profile: {active}" if active else "Profile")
        for name in names:
            action = QAction(name, self.profile_group)
            action.setCheckable(True)
            action.setChecked(name == active)
            self.profiles_menu.addAction(action)
        self.icon.setToolTip(self.tooltip())

    def _choose(self, name: str) -> None:
        """A profile picked in the menu: switched as the toolbar's list switches."""
        window = self.window
        index = window.profiles.findText(name)
        if index >= 0:
            window.profiles.setCurrentIndex(index)
            window._switch_profile(index)
        active = window.session.profile.name if window.session.profile is not None else ""
        for action in self.profile_group.actions():  # a cancelled switch leaves the active one
            action.setChecked(action.text() == active)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_window()

    def show_window(self) -> None:
        window = self.window
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()

    # -- the alerts ----------------------------------------------------------------------------
    def _notify(self, alert: Alert) -> None:
        """A firing alert as a desktop notification; a click on it goes to its screen."""
        if alert.state == FIRING:
            self.icon.showMessage(
                f"Celery Desk: {alert.rule}", alert.message, QSystemTrayIcon.MessageIcon.Warning
            )
