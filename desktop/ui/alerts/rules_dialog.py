"""The "Alert rules" dialog: the profile's rules listed, added, edited and removed, then saved.

The rules are read and written by the core store (alert_rules.load_rules / save_rules: the
TOML file `celery-desk alerts` edits, written atomically, a damaged one moved aside), both
on the job pool, never on the GUI thread. Changes wait in the dialog until Save; Save writes
them all at once and has the window's alerts read them again (AlertsHost.reload_rules). A
write the disk refuses is said in the dialog, which stays open with the changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.monitor.alert_rules import AlertRule, load_rules, save_rules
from desktop.core.settings.config_errors import ConfigFileError
from desktop.ui.alerts.rule_form import KIND_LABELS, RuleDialog
from desktop.ui.common.accessible import explain, explain_labelled
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.table_model import (
    Column,
    TableModel,
    enter_activates_only,
    read_only_view,
)

if TYPE_CHECKING:
    from desktop.ui.session.alerts_host import AlertsHost


def _kind_words(rule: AlertRule) -> str:
    return KIND_LABELS.get(rule.kind, rule.kind).split(" (")[0]


RULE_COLUMNS: list[Column[AlertRule]] = [
    Column("Name", lambda rule: rule.name),
    Column("Kind", _kind_words, tip=lambda rule: rule.kind),
    Column("Fires when", lambda rule: rule.describe()),
]
RULE_WIDTHS = (150, 130)  # the last column takes the rest


class AlertRulesDialog(QDialog):
    saved = Signal(str)  # what to say once saved (the file, a damaged one moved aside)

    def __init__(
        self, alerts: AlertsHost, queues: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.alerts = alerts
        self.queues = queues
        self.jobs = Jobs(self)
        self.path: Path | None = alerts.rules_file()
        self.rules: list[AlertRule] = []
        self.loaded = False
        self.form: RuleDialog | None = None
        profile = alerts.profile_name()
        self.setWindowTitle(f"Alert rules: {profile}" if profile else "Alert rules")
        self.resize(820, 420)
        layout = QVBoxLayout(self)
        self.where = muted(f"Kept in {self.path}" if self.path else "No profile is open.")
        self.where.setAccessibleName("Rules file")
        layout.addWidget(self.where)
        self.model: TableModel[AlertRule] = TableModel(RULE_COLUMNS, self, text_tips=True)
        self.table = read_only_view(self.model)
        explain(self.table, "This profile's rules: double-click or Enter edits one", "Alert rules")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate(RULE_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.table.activated.connect(lambda _index: self.edit_selected())
        enter_activates_only(self.table)  # Enter edits the rule, never Saves as well
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._sync())
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self.add_rule)
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        for button, tip in (
            (self.add_button, "Make a new rule"),
            (self.edit_button, "Change the selected rule"),
            (self.remove_button, "Take the selected rule out (kept until you Save)"),
        ):
            row.addWidget(explain(button, tip))
        row.addStretch(1)
        layout.addLayout(row)
        self.status = QLabel("Reading the rules…")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Rules status")
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        explain_labelled(self.buttons, {"Save": "Write the rules to the profile's rules file"})
        layout.addWidget(self.buttons)
        self._sync()
        if self.path is not None:
            self.jobs.run("read", self._read(self.path))

    # -- reading ------------------------------------------------------------------------------
    async def _read(self, path: Path) -> None:
        loaded = await Jobs.blocking(load_rules, path)
        self.loaded = True
        self._show(list(loaded.rules))
        if loaded.problem:
            self._say(f"{loaded.problem}. Saving moves that file aside as .damaged.", error=True)
        else:
            self._say("")

    def _show(self, rules: list[AlertRule]) -> None:
        self.rules = rules
        self.model.set_rows(rules)
        self._sync()

    def _say(self, text: str, *, error: bool = False) -> None:
        if not text:
            count = len(self.rules)
            plural = "s" if count != 1 else ""
            empty = "No rule yet: Add one. A rule fires once, when its condition becomes true."
            text = f"{count} rule{plural}, as saved" if count else empty
        self.status.setText(text)
        self.status.setProperty("role", "error" if error else "muted")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def _sync(self) -> None:
        chosen = self.selected() is not None
        ready = self.loaded and self.path is not None
        self.add_button.setEnabled(ready)
        self.edit_button.setEnabled(ready and chosen)
        self.remove_button.setEnabled(ready and chosen)
        self.save_button.setEnabled(ready)

    def selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    # -- editing ------------------------------------------------------------------------------
    def add_rule(self) -> RuleDialog:
        return self._open_form(None)

    def edit_selected(self) -> RuleDialog | None:
        position = self.selected()
        return None if position is None else self._open_form(position)

    def _open_form(self, position: int | None) -> RuleDialog:
        editing = None if position is None else self.rules[position]
        others = [rule for rule in self.rules if rule is not editing]
        form = RuleDialog(others, editing, self.queues, self)
        form.accepted.connect(lambda: self._take(form, position))
        self.form = form
        form.open()
        return form

    def _take(self, form: RuleDialog, position: int | None) -> None:
        if form.rule is None:
            return
        rules = list(self.rules)
        if position is None:
            rules.append(form.rule)
            position = len(rules) - 1
        else:
            rules[position] = form.rule
        self._show(rules)
        self.table.selectRow(position)
        self._say("Not saved yet: Save writes the rules.")

    def remove_selected(self) -> None:
        position = self.selected()
        if position is None:
            return
        self._show([rule for i, rule in enumerate(self.rules) if i != position])
        self._say("Not saved yet: Save writes the rules.")

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> None:
        if self.path is None or not self.loaded:
            return
        self.save_button.setEnabled(False)
        self._say("Saving…")
        self.jobs.run("save", self._save(self.path, tuple(self.rules)))

    async def _save(self, path: Path, rules: tuple[AlertRule, ...]) -> None:
        try:
            aside = await Jobs.blocking(save_rules, path, rules)
        except (ValueError, ConfigFileError) as exc:
            self._say(f"Not saved: {exc}", error=True)
            self._sync()
            return
        self.alerts.reload_rules()
        said = f"Alert rules saved to {path}"
        if aside is not None:
            said += f"; the damaged file was moved to {aside}"
        self.saved.emit(said)
        self.accept()
