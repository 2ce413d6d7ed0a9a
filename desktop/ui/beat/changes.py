"""The Beat screen's changes: enable or disable an entry, edit its schedule and arguments,
delete it (with confirmation), add one. Each goes through the core's write child
(core/beat/writing.py: django-celery-beat's models, RedBeat's entry API), so a running beat
follows from its next tick; each is kept in the audit log as the CLI's `beat enable|disable|
edit|delete` keeps it. An entry in the app's code (`beat_schedule`) is not written: its
buttons say why. Nothing here waits on the GUI thread: the write runs on the job pool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.beat.entries import BeatEntry, BeatReport, scheduler_source
from desktop.core.beat.words import crontab_text
from desktop.core.beat.writing import (
    WRITABLE,
    BeatChange,
    BeatWriteError,
    audit_params,
    change_beat,
    check_change,
    crontab_schedule,
    interval_schedule,
    write_note,
    write_reason,
)
from desktop.core.monitor.audit import FAILED
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs

if TYPE_CHECKING:
    from desktop.ui.beat.panel import BeatPanel

_DONE = {"enable": "enabled", "disable": "disabled", "edit": "changed", "delete": "deleted",
         "add": "added"}  # fmt: skip
ADD_TIP = "A new periodic task in the scheduler the app uses (django-celery-beat, RedBeat)"


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value)


class EditDialog(QDialog):
    """An entry's schedule (every N seconds, or a crontab) and its arguments, as JSON; with
    no entry, a new one: its name and task (one of the app's, or typed) too, added to
    `source` (the scheduler the app uses)."""

    def __init__(
        self,
        entry: BeatEntry | None,
        parent: QWidget | None = None,
        *,
        source: str = "",
        tasks: list[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.entry = entry
        self.source = entry.source if entry is not None else source
        self.change: BeatChange | None = None
        self.setWindowTitle(f"Edit {entry.name}" if entry is not None else "Add a periodic task")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = explain(QLineEdit(), "A name of its own in the scheduler", "Name")
        self.task = explain(QComboBox(), "The task to send (the app's, or typed)", "Task")
        self.task.setEditable(True)
        self.task.addItems(tasks or [])
        if entry is None:
            form.addRow("Name", self.name)
            form.addRow("Task", self.task)
        self.every = QRadioButton("Every")
        self.cron = QRadioButton("Crontab")
        kinds = QButtonGroup(self)
        kinds.addButton(self.every)
        kinds.addButton(self.cron)
        self.seconds = explain(QDoubleSpinBox(), "Seconds between two runs", "Interval seconds")
        self.seconds.setRange(0.001, 10**8)
        self.seconds.setDecimals(3)
        self.seconds.setSuffix(" s")
        self.cron_text = explain(
            QLineEdit(), "minute hour day-of-month month day-of-week, e.g. 30 7 * * 1-5", "Crontab"
        )
        schedule: Mapping[str, Any] = (
            entry.schedule if entry is not None else {"kind": "interval", "every_s": 60.0}
        )
        if schedule.get("kind") == "crontab":
            self.cron.setChecked(True)
            self.cron_text.setText(crontab_text(schedule))
            self.seconds.setValue(60.0)
        else:
            self.every.setChecked(True)
            self.seconds.setValue(float(schedule.get("every_s") or 60.0))
        form.addRow(self.every, self.seconds)
        form.addRow(self.cron, self.cron_text)
        args, kwargs = (entry.args, entry.kwargs) if entry is not None else (None, None)
        self.args = explain(QLineEdit(_json_text(args)), "A JSON list", "Arguments")
        self.kwargs = explain(QLineEdit(_json_text(kwargs)), "A JSON object", "Keywords")
        form.addRow("Arguments", self.args)
        form.addRow("Keyword arguments", self.kwargs)
        layout.addLayout(form)
        if entry is not None and schedule.get("kind") not in ("interval", "crontab"):
            layout.addWidget(QLabel(f"Its schedule ({entry.words}) is replaced by the one above."))
        note = write_note(entry, "edit") if entry is not None else ""
        if note:
            said = QLabel(note)
            said.setWordWrap(True)
            said.setProperty("role", "warning")
            layout.addWidget(said)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setProperty("role", "error")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _json(self, box: QLineEdit, what: str, kind: type) -> Any:
        text = box.text().strip()
        if not text:
            return None
        value = json.loads(text)
        if not isinstance(value, kind):
            raise ValueError(f"{what} must be a JSON {kind.__name__}")
        return value

    def accept(self) -> None:
        """Checked here first (what the core can say without the app); the app's own checks
        come with the write."""
        try:
            schedule = (
                interval_schedule(self.seconds.value())
                if self.every.isChecked()
                else crontab_schedule(self.cron_text.text())
            )
            args = self._json(self.args, "Arguments", list)
            kwargs = self._json(self.kwargs, "Keyword arguments", dict)
            if self.entry is not None:
                change = BeatChange(self.entry.name, self.source, "edit", schedule=schedule,
                                    args=args, kwargs=kwargs)  # fmt: skip
            else:
                name, task = self.name.text().strip(), self.task.currentText().strip()
                if not name or not task:
                    raise ValueError("a new periodic task needs a name and a task")
                change = BeatChange(name, self.source, "add", schedule=schedule, task=task,
                                    args=args, kwargs=kwargs)  # fmt: skip
            check_change(change)
        except (ValueError, BeatWriteError) as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        self.change = change
        super().accept()


class BeatChanges:
    """Enable/Disable, Edit… and Delete… for the chosen entry of a Beat screen."""

    def __init__(self, panel: BeatPanel) -> None:
        self.panel = panel
        self.toggle_button = explain(
            QPushButton("Disable"), "Stop or resume its runs", "Enable or disable"
        )
        self.edit_button = explain(QPushButton("Edit…"), "Change its schedule or arguments")
        self.delete_button = explain(QPushButton("Delete…"), "Remove it from its scheduler")
        self.add_button = explain(QPushButton("Add…"), ADD_TIP, "Add a periodic task")
        self.add_button.clicked.connect(self.add)
        self.toggle_button.clicked.connect(self.toggle)
        self.edit_button.clicked.connect(self.edit)
        self.delete_button.clicked.connect(self.delete)
        self.buttons = (self.toggle_button, self.edit_button, self.delete_button)
        self.show(None)
        self.show_scheduler(None)

    def show_scheduler(self, report: BeatReport | None) -> None:
        """Add… is for the scheduler the app uses, when it keeps schedules outside the code."""
        source = "" if report is None else scheduler_source(report.scheduler)
        self.add_source = source if source in WRITABLE else ""
        self.add_button.setEnabled(bool(self.add_source))
        why = (
            "the app's periodic tasks are not read yet" if report is None
            else f"the app's scheduler ({report.scheduler}) keeps them in its code "
            "(beat_schedule): add them there"
        )  # fmt: skip
        self.add_button.setToolTip(ADD_TIP if self.add_source else f"{ADD_TIP}: not here, {why}")

    def add(self, task: str = "", args: Any = None, kwargs: Any = None) -> EditDialog | None:
        """Add… (prefilled with a task and its arguments when it comes from the Builder)."""
        if not self.add_source:
            self.panel.status.setText(f"Not added here: {self.add_button.toolTip()}")
            return None
        config = self.panel.session.app_config
        tasks = sorted(t.name for t in config.tasks) if config is not None else []
        dialog = EditDialog(None, self.panel, source=self.add_source, tasks=tasks)
        if task:
            dialog.task.setCurrentText(task)
            dialog.name.setText(task.rsplit(".", 1)[-1])
            dialog.args.setText(_json_text(args or None))
            dialog.kwargs.setText(_json_text(kwargs or None))
        dialog.accepted.connect(lambda: self._edited(None, dialog))
        dialog.open()
        return dialog

    def show(self, entry: BeatEntry | None) -> None:
        """The buttons for `entry`: off with the reason when it cannot be written."""
        reason = "choose a periodic task" if entry is None else write_reason(entry)
        if entry is not None:
            self.toggle_button.setText("Enable" if not entry.enabled else "Disable")
        for button, what in zip(
            self.buttons,
            ("Stop or resume its runs", "Change its schedule or arguments",
             "Remove it from its scheduler"),
            strict=True,
        ):  # fmt: skip
            button.setEnabled(not reason)
            button.setToolTip(what if not reason else f"{what}: not here, it {reason}")

    def toggle(self) -> None:
        entry = self.panel.chosen()
        if entry is not None:
            action = "disable" if entry.enabled else "enable"
            self._start(entry, BeatChange(entry.name, entry.source, action))

    def edit(self) -> EditDialog | None:
        entry = self.panel.chosen()
        if entry is None:
            return None
        dialog = EditDialog(entry, self.panel)
        dialog.accepted.connect(lambda: self._edited(entry, dialog))
        dialog.open()
        return dialog

    def _edited(self, entry: BeatEntry | None, dialog: EditDialog) -> None:
        if dialog.change is not None:
            self._start(entry, dialog.change)

    def delete(self) -> None:
        entry = self.panel.chosen()
        if entry is None:
            return
        question = f"Delete the periodic task {entry.name} from its scheduler?"
        note = write_note(entry, "delete")
        if note:
            question += f"\n\n{note}"
        answer = QMessageBox.question(self.panel, "Delete periodic task", question)
        if answer == QMessageBox.StandardButton.Yes:
            self._start(entry, BeatChange(entry.name, entry.source, "delete"))

    def _start(self, entry: BeatEntry | None, change: BeatChange) -> None:
        self.panel.jobs.run("beat-change", self._change(entry, change))

    async def _change(self, entry: BeatEntry | None, change: BeatChange) -> None:
        """The write, its audit entry and the secret store's read (the endpoints) all on the
        job pool: each may wait (a child importing the app, the journal's lock, a keyring)."""
        session = self.panel.session
        profile, config = session.profile, session.app_config
        if profile is None or config is None:
            self.panel.status.setText("the app's configuration is not read yet")
            return
        action = f"beat {change.action}"
        params = audit_params(change, profile.redacted_arguments)

        def work() -> None:
            endpoints = session.endpoints(profile, config)
            try:
                change_beat(profile, endpoints, change)
            except BeatWriteError as exc:
                if not exc.refused:
                    session.audit(action, change.name, params, outcome=FAILED, reply=str(exc))
                raise
            session.audit(action, change.name, params)

        for button in self.buttons:
            button.setEnabled(False)
        self.panel.status.setText(f"{change.action} {change.name}…")
        try:
            await Jobs.blocking(work)
        except BeatWriteError as exc:
            self.panel.status.setText(str(exc))
            self.show(self.panel.chosen())
            return
        except Exception as exc:  # the secret store or the journal failed: said, not raised
            self.panel.status.setText(f"{change.name} was not changed as far as is known: {exc}")
            self.show(self.panel.chosen())
            return
        self.panel.refresh(said=f"{change.name} {_DONE[change.action]}")
