"""Icons for the screens and actions, from one set: Material Design Icons 6 through qtawesome.

Why qtawesome: it ships maintained icon fonts (Material Design Icons under the Apache 2.0
licence, see its own LICENSE) as a Python package, so no SVG files to keep, and a font glyph is
drawn at whatever size and device pixel ratio asks, crisp on a high-DPI screen. An icon is drawn
in the theme's text colour (muted when disabled), so it reads on light and dark alike.

A control gets its icon by the label it shows: `ICONS` maps a plain label ("Refresh", "Add
worker") to a glyph, the same glyph on every screen, and `decorate(root)` gives every tab,
action and button under `root` its icon. It is called again after a theme switch: the icons
are drawn anew in the new colours.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyside6")  # qtawesome speaks Qt through QtPy: this binding

import qtawesome  # after QT_API is set
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QTabWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from desktop.ui.common.accessible import plain
from desktop.ui.common.theme import colour

ICON_SET = "mdi6"
ICONS = {
    # the screens (tabs)
    "Overview": "view-dashboard-outline",
    "Workers": "server-network",
    "Builder": "sitemap-outline",
    "Tasks": "format-list-checks",
    "Failures": "alert-octagon-outline",
    "Queues": "tray-full",
    "Charts": "chart-line",
    "Beat": "calendar-clock",
    "Audit": "history",
    # the window's actions
    "Edit": "pencil-outline",
    "New": "plus-circle-outline",
    "Remove": "delete-outline",
    "Reconnect": "connection",
    "Alert rules": "bell-cog-outline",
    "Alerts log": "bell-outline",
    "Quit": "exit-to-app",
    "Theme": "theme-light-dark",
    "System theme": "monitor",
    "Light theme": "white-balance-sunny",
    "Dark theme": "weather-night",
    # actions on the screens, the same glyph wherever the same word shows
    "Refresh": "refresh",
    "Refresh now": "refresh",
    "Add worker": "plus-circle-outline",
    "Start": "play",
    "Stop": "stop",
    "Restart": "restart",
    "Kill": "skull-outline",
    "Stop all": "stop",
    "Restart all": "restart",
    "Kill all": "skull-outline",
    "Why?": "help-circle-outline",
    "Copy id": "content-copy",
    "Revoke": "cancel",
    "Terminate": "close-octagon-outline",
    "Send": "send-outline",
    "Send again": "send-outline",
    "Open in builder": "sitemap-outline",
    "Open workflow": "file-tree",
    "Open log file": "file-document-outline",
    "Retry selected": "restart",
    "Retry all": "restart",
    "Purge": "delete-outline",
    "Save": "content-save-outline",
    "Open": "folder-open-outline",
}
# The property a decorated control keeps its icon's label in, so a later `decorate` (a theme
# switch) finds it again even if the label changed meanwhile ("Stop" -> "Stopping…").
ICON_PROPERTY = "celery_desk_icon"


def icon(name: str) -> QIcon:
    """The icon of the label `name`, in the theme shown (KeyError for a label without one)."""
    drawn: QIcon = qtawesome.icon(
        f"{ICON_SET}.{ICONS[name]}",
        color=colour("text"),
        color_disabled=colour("muted"),
        color_active=colour("text"),
        color_selected=colour("highlighted-text"),
    )
    return drawn


def give_icon(target: QAction | QToolButton, name: str) -> None:
    target.setProperty(ICON_PROPERTY, name)
    target.setIcon(icon(name))


def decorate(root: QWidget) -> None:
    """Icons for every tab, action (tool bars, menus) and tool button under `root` whose
    label has one; tool bars show the text beside the icon (an icon alone says less than the
    word). Push buttons keep their word alone: a screen's row of them must still fit the
    window at 800 px wide (tests/gui/test_main_window.py), and an icon each made the Queues
    screen's row too wide."""
    for bar in root.findChildren(QToolBar):
        bar.setToolButtonStyle(bar.toolButtonStyle().ToolButtonTextBesideIcon)
    for action in root.findChildren(QAction):
        name = action.property(ICON_PROPERTY) or plain(action.text())
        if name in ICONS:
            give_icon(action, name)
    for button in root.findChildren(QToolButton):
        if button.defaultAction() is not None:
            continue  # a tool bar's button: its action's icon
        name = button.property(ICON_PROPERTY) or plain(button.text())
        if name in ICONS:
            give_icon(button, name)
    for tabs in root.findChildren(QTabWidget):
        for index in range(tabs.count()):
            page = tabs.widget(index)  # keeps the name: a badge may be added ("Failures (1)")
            if page is None:
                continue
            name = page.property(ICON_PROPERTY) or plain(tabs.tabText(index))
            if name in ICONS:
                page.setProperty(ICON_PROPERTY, name)
                tabs.setTabIcon(index, icon(name))
