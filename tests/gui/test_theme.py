"""The look (issue 17, item 3): light and dark themes that follow the system or the person's
choice, icons from one set recoloured for the theme, and states that carry a symbol beside their
colour. A real window, offscreen; the session is never started (no broker needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import states as celery_states
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.ui.common import theme
from desktop.ui.common.icons import ICONS, icon
from desktop.ui.common.states import STATES, state_colour, with_symbol
from desktop.ui.shell.appearance import SETTING, Appearance
from desktop.ui.shell.main_window import MainWindow
from desktop.ui.tasks.cells import COLUMNS
from desktop.ui.tasks.model import TasksModel
from tests.factories import task_row
from tests.support import shut_down


def _app() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    """A window, not connected; the application's theme is put back to light afterwards."""
    services = Services.open()
    session, window = build_window(services)
    qtbot.addWidget(window)
    app = _app()
    sheet = app.styleSheet()
    try:
        yield window
    finally:
        window.appearance.set_mode("system")
        theme.set_dark(False)
        app.setPalette(theme.palette(False))
        app.setStyleSheet(sheet)
        window.close()
        shut_down(qtbot, session)


def _icon_colour(drawn: QIcon) -> QColor:
    """The colour an icon is drawn in: the most opaque of its pixels."""
    image = drawn.pixmap(32, 32).toImage()
    pixels = [image.pixelColor(x, y) for x in range(32) for y in range(32)]
    return max(pixels, key=lambda c: c.alpha())


@pytest.mark.parametrize("dark", [False, True])
def test_every_text_colour_reads_on_its_theme(dark: bool) -> None:
    """WCAG AA (4.5:1) for every role text is drawn in, on the theme's base and window."""
    for background in ("base", "window"):
        for role in theme.TEXT_ROLES:
            ratio = theme.contrast(theme.colour(role, dark), theme.colour(background, dark))
            assert ratio >= 4.5, f"{role} on {background} ({'dark' if dark else 'light'}): {ratio}"


def test_the_theme_switches_by_hand_and_is_remembered(qtbot: QtBot, window: MainWindow) -> None:
    app = _app()
    appearance = window.appearance
    window_colour = lambda: app.palette().color(QPalette.ColorRole.Window).name()  # noqa: E731
    appearance.set_mode("light")
    assert window_colour() == theme.LIGHT["window"]
    assert theme.LIGHT["error"] in app.styleSheet()
    light_icon = _icon_colour(window.tabs.tabIcon(0))
    failures = window.tabs.indexOf(window.failures)
    window.tabs.setTabText(failures, "Failures (1)")  # an alert's badge, as the alerts shell adds
    light_canvas = window.builder.view.grab().toImage().pixelColor(5, 5)

    appearance.set_mode("dark")
    assert window_colour() == theme.DARK["window"]
    assert app.palette().color(QPalette.ColorRole.Text).name() == theme.DARK["text"]
    assert theme.DARK["error"] in app.styleSheet() and theme.LIGHT["error"] not in app.styleSheet()
    # The icons are drawn anew in the dark theme's text colour, and a painted screen follows.
    dark_icon = _icon_colour(window.tabs.tabIcon(0))
    assert light_icon.lightness() < 100 < dark_icon.lightness()
    assert dark_icon.name() == theme.DARK["text"]
    assert _icon_colour(window.tabs.tabIcon(failures)).name() == theme.DARK["text"]
    dark_canvas = window.builder.view.grab().toImage().pixelColor(5, 5)
    assert light_canvas.lightness() > 200 and dark_canvas.lightness() < 60
    # A label coloured by its tone takes the theme's colour from the stylesheet.
    window.journal_label.ensurePolished()
    fg = window.journal_label.palette().color(QPalette.ColorRole.WindowText).name()
    assert fg == theme.DARK["error"]
    # The choice is in the View menu, checked, and kept in the window's settings.
    checked = [a.data() for a in appearance.actions.actions() if a.isChecked()]
    assert checked == ["dark"]
    assert window.settings.value(SETTING) == "dark"
    again = Appearance(window, QSettings(window.settings.fileName(), QSettings.Format.IniFormat))
    assert again.mode == "dark" and again.dark


def test_the_system_scheme_is_followed_unless_a_theme_was_chosen(
    qtbot: QtBot, window: MainWindow
) -> None:
    app = _app()
    appearance = window.appearance
    hints = QGuiApplication.styleHints()
    appearance.set_mode("system")
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert appearance.dark and theme.is_dark()
    assert app.palette().color(QPalette.ColorRole.Base).name() == theme.DARK["base"]
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not appearance.dark
    assert app.palette().color(QPalette.ColorRole.Base).name() == theme.LIGHT["base"]
    appearance.set_mode("light")  # the person's choice wins over the system's news
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not theme.is_dark()
    assert app.palette().color(QPalette.ColorRole.Base).name() == theme.LIGHT["base"]


def test_every_screen_and_main_action_has_an_icon(window: MainWindow) -> None:
    for index in range(window.tabs.count()):
        assert not window.tabs.tabIcon(index).isNull(), window.tabs.tabText(index)
    main_actions = [
        window.edit_action, window.new_action, window.remove_action, window.reconnect_action,
        window.alert_rules_action, window.alerts_log_action, window.quit_action,
        *window.appearance.actions.actions(),
    ]  # fmt: skip
    for action in main_actions:
        assert not action.icon().isNull(), action.text()
    # Every glyph named is in the icon set (qtawesome raises on an unknown name), drawn at the
    # screen's pixel ratio, not scaled up: crisp on a high-DPI screen.
    for name in ICONS:
        sharp = icon(name).pixmap(QSize(16, 16), 2.0)
        assert not sharp.isNull() and sharp.width() == 32 and sharp.devicePixelRatio() == 2.0
    # The command palette shows the screens' and actions' icons beside their names.
    palette = window.keys.palette()
    try:
        found = [palette.listed.item(i) for i in range(palette.listed.count())]
        go_to = [item for item in found if item.text().startswith("Go to ")]
        assert len(go_to) == window.tabs.count()
        assert all(not item.icon().isNull() for item in go_to)
    finally:
        palette.reject()


def test_a_state_cell_carries_its_symbol_and_the_themes_colour(
    qtbot: QtBot, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        journal.write(
            [task_row("ok-1", state="SUCCESS", sent=2.0, updated=2.0),
             task_row("bad-1", state="FAILURE", sent=1.0, updated=1.0)], []
        )  # fmt: skip
        model = TasksModel(journal)
        qtbot.waitUntil(lambda: not model.loading and model.rowCount() == 2, timeout=10000)
        state = [key for key, _title in COLUMNS].index("state")
        cells = {model.data(model.index(r, state)) for r in range(2)}
        assert cells == {"✓ SUCCESS", "✗ FAILURE"}
        failed = next(r for r in range(2) if model.task_id(r) == "bad-1")
        foreground = lambda: model.data(  # noqa: E731
            model.index(failed, state), Qt.ItemDataRole.ForegroundRole
        ).name()
        theme.set_dark(False)
        assert foreground() == theme.LIGHT["error"]
        theme.set_dark(True)
        assert foreground() == theme.DARK["error"]
    finally:
        theme.set_dark(False)
        journal.close()


def test_every_celery_state_has_a_symbol_and_a_colour_role() -> None:
    """Celery's own list of task states: none shows by colour alone."""
    for state in celery_states.ALL_STATES:
        role, symbol = STATES[state]
        assert symbol and with_symbol(state) == f"{symbol} {state}"
        assert state_colour(state) == theme.colour(role)
    symbols = {STATES[s][1] for s in ("SUCCESS", "FAILURE", "STARTED", "RETRY", "PENDING")}
    assert len(symbols) == 5  # told apart without their colour
