"""Every control of every screen and of the dialogs the window opens has an accessible name (as
Qt exposes it to a screen reader) and a tooltip that helps: issue 17, item 5.

A name is read through `QAccessible.queryAccessibleInterface`, so a button's own text or a
QLabel buddy counts exactly when Qt says so (a combo box apart: see `accessible_name`). A
tooltip of a button or an action must say more than its label (Qt's default tooltip of an
action is its text, which tells nothing new); a field needs a placeholder or a tooltip. The
walk includes controls hidden at the moment (shown later by the state of the cluster), so a
control that appears later is checked too."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabBar,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.ui.common.accessible import explain
from desktop.ui.session.why_dialog import WhyDialog
from desktop.ui.shell.main_window import MainWindow

CONTROLS = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView)
TEXTS = (QPlainTextEdit, QTextEdit)  # fields too, unless read only
NOT_CONTROLS = (QHeaderView, QTabBar)  # a tab's name is its text
TASK = "workers.tasks.add"  # the tutorial's: its node editor has fields
# Parts Qt builds inside a composite control: named and described by the control around them.
COMPOSITES = (QComboBox, QAbstractSpinBox, QLineEdit, QTabBar, QAbstractItemView)


def _plain(text: str) -> str:
    """A label as read: without mnemonics, ellipses, arrows and punctuation, lower case."""
    text = text.replace("&&", "\0").replace("&", "").replace("\0", "&")
    return re.sub(r"[\W_]+", " ", text).strip().lower()


def accessible_name(widget: QWidget) -> str:
    """The name Qt gives a screen reader. A combo box's is its current value on Linux (Qt names
    it by a label relation there): its own name or a QLabel buddy is asked for instead."""
    if isinstance(widget, QComboBox):
        window = widget.window()
        buddies = [label.text() for label in window.findChildren(QLabel) if label.buddy() is widget]
        return widget.accessibleName().strip() or next(iter(buddies), "").strip()
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name).strip() if interface is not None else ""


def tooltip(widget: QWidget) -> str:
    if isinstance(widget, QToolButton) and widget.defaultAction() is not None:
        return widget.defaultAction().toolTip().strip() or widget.toolTip().strip()
    return widget.toolTip().strip()


def _inside_composite(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, COMPOSITES):
            return True
        parent = parent.parentWidget()
    return widget.objectName().startswith("qt_")


def _where(widget: QWidget) -> str:
    chain = []
    parent = widget.parentWidget()
    while parent is not None and len(chain) < 5:
        chain.append(parent.objectName() or type(parent).__name__)
        parent = parent.parentWidget()
    shown = widget.text() if isinstance(widget, (QAbstractButton, QLineEdit)) else ""
    if isinstance(widget, QLineEdit) and not shown:
        shown = f"placeholder={widget.placeholderText()!r}"
    return f"{type(widget).__name__} {widget.objectName()!r} {shown!r} in {' < '.join(chain)}"


def problems(root: QWidget) -> list[str]:
    """What a screen reader or a person hovering would miss, one line per control of `root`'s
    own window (a dialog opened from it is walked on its own)."""
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if widget.window() is not root.window():
            continue
        if isinstance(widget, TEXTS) and widget.isReadOnly():
            continue
        if not isinstance(widget, (*CONTROLS, *TEXTS)) or isinstance(widget, NOT_CONTROLS):
            continue
        if _inside_composite(widget):
            continue
        missing = []
        name = accessible_name(widget)
        if not name:
            missing.append("no accessible name")
        tip = tooltip(widget)
        if isinstance(widget, QAbstractButton):
            label = widget.text() or name
            if not tip:
                missing.append("no tooltip")
            elif _plain(tip) == _plain(label):
                missing.append(f"tooltip only repeats the label {tip!r}")
        elif not tip and not (isinstance(widget, QLineEdit) and widget.placeholderText()):
            missing.append("no tooltip or placeholder")
        if missing:
            found.append(f"{_where(widget)}: {', '.join(missing)}")
    return found


def test_every_control_of_every_screen_is_named_and_explained(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    window = connected_window
    found: list[str] = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(20)
    found += problems(window)  # the tool bars' buttons too: they are the window's children
    # The Builder's node editor shows a task's fields once one is selected on the canvas.
    builder = window.builder
    window.tabs.setCurrentWidget(builder)
    qtbot.waitUntil(lambda: builder.palette_model.index_of(TASK).isValid(), timeout=10000)
    dropped = builder.palette_model.mimeData([builder.palette_model.index_of(TASK)])
    assert builder.view.drop(dropped, QPointF(200, 100), Qt.DropAction.CopyAction)
    builder.view.select(())
    # rebuilt on a timer: its "Replace task…" button says it shows the task
    qtbot.waitUntil(lambda: bool(builder.editor.findChildren(QPushButton)), timeout=3000)
    found += [f"node editor: {line}" for line in problems(builder.editor)]
    builder.replace_task(())
    found += [f"task chooser: {line}" for line in problems(builder.task_chooser)]
    builder.task_chooser.reject()
    assert not found, "\n".join([f"{len(found)} controls in the window:", *found])


def test_every_control_of_the_dialogs_is_named_and_explained(
    qtbot: QtBot, connected_window: MainWindow
) -> None:
    window = connected_window
    local = window.workers.local
    rules = window.alerts.open_rules()
    dialogs: list[QDialog] = [
        window.edit_profile(),
        window.new_profile(),
        rules,
        rules.add_rule(),
        window.alerts.open_log(),
        WhyDialog(window.session, "no-such-task", window),
        local.show_all_local_workers(),
        window.keys.palette(),
        window.keys.show_sheet(),
    ]
    worker = local.add_worker()
    assert worker is not None
    dialogs.append(worker)
    found: list[str] = []
    for dialog in dialogs:
        found += [f"{type(dialog).__name__}: {line}" for line in problems(dialog)]
    for dialog in reversed(dialogs):
        dialog.reject()
    QApplication.processEvents()
    assert not found, "\n".join([f"{len(found)} controls in the dialogs:", *found])


def test_the_walk_finds_a_bare_control_and_accepts_an_explained_one(qtbot: QtBot) -> None:
    """The walk itself: a button with only its label, a field with nothing, are caught; the
    same controls told by `explain` pass; a tooltip that repeats the label does not."""
    root = QWidget()
    qtbot.addWidget(root)
    layout = QVBoxLayout(root)
    bare, told, echo = QPushButton("Go"), QPushButton("Go…"), QPushButton("Go")
    echo.setToolTip("Go")
    field = QLineEdit()
    for widget in (bare, told, echo, field):
        layout.addWidget(widget)
    explain(told, "Go somewhere useful")
    assert [line.split(":")[-1].strip() for line in problems(root)] == [
        "no tooltip",
        "tooltip only repeats the label 'Go'",
        "no accessible name, no tooltip or placeholder",
    ]
    explain(field, "What to look for", "Search")
    assert accessible_name(field) == "Search" and len(problems(root)) == 2


def test_text_scales_with_the_system_font(qtbot: QtBot) -> None:
    """Headings and the Overview's big figures are a multiple of the system font, not pixels:
    a person who made their desktop's text larger gets them larger too."""
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop.ui.common.panel_parts import heading
    from desktop.ui.common.theme import HEADING_SCALE, stylesheet

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    old_font, old_sheet = app.font(), app.styleSheet()
    try:
        for points in (10.0, 16.0):
            font = QFont(old_font)
            font.setPointSizeF(points)
            app.setFont(font)
            app.setStyleSheet(stylesheet(points))
            big = QLabel("0.2/s")
            big.setProperty("role", "big")
            for label in (heading("Workers"), big):
                qtbot.addWidget(label)
                label.ensurePolished()
                assert label.font().pointSizeF() == pytest.approx(points * HEADING_SCALE, 0.05)
    finally:
        app.setFont(old_font)
        app.setStyleSheet(old_sheet)
