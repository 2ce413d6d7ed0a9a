"""Which theme shows: the system's (Qt's colour scheme, followed as it changes) or the one the
person chose in View > Theme, remembered in the window's settings.

Applying a theme sets the application's palette (what every widget is painted in), the one
stylesheet in the theme's colours, and the icons drawn anew in them; tables ask their models
for colours at paint time, and the palette change repaints every widget, so nothing else needs
telling. With a choice made, the platform is told too (QStyleHints.setColorScheme, Qt 6.8+), so
a native style (Windows 11, macOS) draws its own parts in the same scheme.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from desktop.ui.common.accessible import explain
from desktop.ui.common.icons import decorate
from desktop.ui.common.theme import is_dark, palette, set_dark, stylesheet

MODES = {"system": "System theme", "light": "Light theme", "dark": "Dark theme"}
SETTING = "view/theme"


class Appearance(QObject):
    """The theme of `window` (and of the whole application, dialogs included)."""

    changed = Signal(bool)  # dark or not, after a switch

    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        chosen = str(settings.value(SETTING, "system"))
        self.mode = chosen if chosen in MODES else "system"
        hints = QGuiApplication.styleHints()
        self.system_scheme = hints.colorScheme()
        hints.colorSchemeChanged.connect(self._system_changed)
        self.actions = QActionGroup(self)
        self.menu = QMenu("&Theme", window)
        for mode, title in MODES.items():
            action = QAction(title, self.actions)
            action.setCheckable(True)
            action.setChecked(mode == self.mode)
            action.setData(mode)
            action.triggered.connect(lambda _on=False, chosen=mode: self.set_mode(chosen))
            tip = "Follow the system's light or dark setting"
            explain(action, tip if mode == "system" else f"Show the {mode} theme, always")
            self.menu.addAction(action)

    def install(self) -> None:
        """The View menu with the theme choice, and the theme applied."""
        view = self.window.menuBar().addMenu("&View")
        view.addMenu(self.menu)
        if self.mode != "system":  # a choice remembered from before: the platform told too
            self._tell_platform(self.mode)
        self.apply()

    @property
    def dark(self) -> bool:
        if self.mode == "system":
            return self.system_scheme == Qt.ColorScheme.Dark
        return self.mode == "dark"

    def set_mode(self, mode: str) -> None:
        """The person's choice ("system", "light" or "dark"): applied and remembered."""
        self.mode = mode
        for action in self.actions.actions():
            action.setChecked(action.data() == mode)
        self.settings.setValue(SETTING, mode)
        self._tell_platform(mode)
        self.apply()

    @staticmethod
    def _tell_platform(mode: str) -> None:
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "setColorScheme"):  # Qt 6.8+: native styles follow the choice
            if mode == "system":
                hints.unsetColorScheme()
            else:
                scheme = Qt.ColorScheme.Dark if mode == "dark" else Qt.ColorScheme.Light
                hints.setColorScheme(scheme)

    def _system_changed(self, scheme: Qt.ColorScheme) -> None:
        # Our own request to the platform comes back here too: only the system's news counts.
        if self.mode == "system":
            self.system_scheme = scheme
            self.apply()

    def apply(self) -> None:
        dark = self.dark
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        set_dark(dark)
        app.setPalette(palette(dark))
        app.setStyleSheet(stylesheet(app.font().pointSizeF()))
        decorate(self.window)
        self.changed.emit(is_dark())
