"""Accessible names and tooltips, given the same way everywhere (issue 17, item 5).

A screen reader reads a control's accessible name; a person hovering reads its tooltip. Qt
derives a name from a button's text or a QLabel buddy (only a buddy in the same parent), not
from a form row's label in a wrapper nor from a placeholder; and an action's default tooltip is
its text, which tells nothing new. So every control is told both here, and the tooltip names the
shortcut when there is one, so a person learns the keys by pointing. tests/gui/test_accessibility
walks every screen and dialog for a control these helpers missed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

T = TypeVar("T", bound=QWidget | QAction)

# What the dialogs' usual buttons do, unless a dialog says better.
USUAL_BUTTONS = {
    "Cancel": "Close without changing anything (Esc)",
    "Close": "Close this window (Esc)",
}
FIELDS = (QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView)
# An action property: a key of where the focus is (listed in the F1 sheet), not a command of
# the palette (Ctrl+K).
KEYBOARD_ONLY = "keyboard_only"


def plain(label: str) -> str:
    """A label as a person reads it: no mnemonic ampersand, no trailing ellipsis."""
    return label.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…. ").strip()


def explain(target: T, tip: str, name: str = "") -> T:
    """Give `target` its tooltip (with its shortcut, if any) and, for a widget, an accessible
    name: `name`, else the label it shows. Call it after the shortcut is set."""
    keys = target.shortcut() if isinstance(target, (QAction, QAbstractButton)) else QKeySequence()
    shown = keys.toString(QKeySequence.SequenceFormat.NativeText)
    target.setToolTip(f"{tip} ({shown})" if shown and shown not in tip else tip)
    if isinstance(target, QWidget):
        label = target.text() if isinstance(target, QAbstractButton) else ""
        if name or not target.accessibleName():
            target.setAccessibleName(name or plain(label))
    return target


def explain_labelled(root: QWidget, tips: Mapping[str, str]) -> None:
    """Tooltips for the buttons and actions under `root`, by the label they show (the usual
    dialog buttons by `USUAL_BUTTONS`): for buttons a dialog box or a tool bar makes itself."""
    table = {**USUAL_BUTTONS, **tips}
    for button in root.findChildren(QAbstractButton):
        tip = table.get(plain(button.text()))
        if tip is not None and not button.toolTip():
            explain(button, tip)
    for action in root.findChildren(QAction):
        tip = table.get(plain(action.text()))
        if tip is not None:
            explain(action, tip)


def name_field(holder: QWidget, title: str, tip: str = "") -> None:
    """A form row's field named by its row's `title` (Qt does not carry a label over to a field
    in a wrapper) and, when given, its tooltip; `holder` is the field or the wrapper around it,
    whose buttons ("Browse…") are named after the row too, else several read the same."""
    named = False
    for field in [holder] if isinstance(holder, FIELDS) else holder.findChildren(QWidget):
        if isinstance(field, FIELDS) and not named and not isinstance(field.parentWidget(), FIELDS):
            named = True
            if not field.accessibleName():
                field.setAccessibleName(plain(title))
            if tip and not field.toolTip():
                field.setToolTip(tip)
        elif isinstance(field, QAbstractButton) and not field.accessibleName():
            field.setAccessibleName(f"{plain(field.text())}: {plain(title)}")  # "Browse: …"


def name_rows(form: QFormLayout, tips: Mapping[str, str] | None = None) -> None:
    """Every row of `form` named by its label (see `name_field`), with its tooltip from `tips`
    by that label: for forms whose fields sit in wrappers with their error lines."""
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        title = label.widget() if label is not None else None
        holder = field.widget() if field is not None else None
        if isinstance(title, QLabel) and title.text() and holder is not None:
            name_field(holder, title.text(), (tips or {}).get(title.text(), ""))


def no_tab_traps(root: QWidget) -> None:
    """Tab leaves every table and list under `root` for the next control: a QTableView
    moves from cell to cell on Tab and wraps round, so a person on the keyboard never got
    out of one (the arrows still move between cells). Read-only tables made later, in
    dialogs, are kept so by table_model.make_read_only."""
    for view in root.findChildren(QAbstractItemView):
        view.setTabKeyNavigation(False)
