"""One alert rule's form: its kind chosen first, then only the fields that kind reads.

The form makes an AlertRule and asks the core what is wrong with it (`rule_problem`, the
check `celery-desk alerts add` and `save_rules` use): what the core says is shown under the
fields and the form stays open. Numbers are spin boxes, so there is no text to parse here;
their ranges are wide on purpose, so a limit (minutes past a day, a failure rate of 100 %)
is said by the core's message rather than silently clamped by the widget.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.core.monitor.alert_rules import (
    BEAT_MISSED,
    FAILURE_RATE,
    NO_EVENTS,
    QUEUE_KINDS,
    QUEUE_LATENCY,
    QUEUE_LENGTH,
    TASK_FAILURES,
    TASK_KINDS,
    UNITS,
    WORKER_OFFLINE,
    AlertRule,
    rule_problem,
)
from desktop.core.monitor.task_search import SEARCH_HELP
from desktop.ui.common.accessible import explain, explain_labelled
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.wheel_guard import wheel_only_when_focused

KIND_LABELS = {
    TASK_FAILURES: "Tasks failing (more than N in M minutes)",
    FAILURE_RATE: "Failure rate (% of finished tasks in M minutes)",
    QUEUE_LENGTH: "Queue length (messages waiting)",
    QUEUE_LATENCY: "Queue latency (oldest waiting message's age)",
    WORKER_OFFLINE: "Worker offline (for more than S seconds)",
    NO_EVENTS: "No events (for more than S seconds)",
    BEAT_MISSED: "Beat run missed (a periodic task's due runs not sent)",
}
THRESHOLD_LABELS = {
    TASK_FAILURES: "More than (failures)",
    FAILURE_RATE: "More than (% failed)",
    QUEUE_LENGTH: "More than (waiting)",
    QUEUE_LATENCY: "Older than (seconds)",
    WORKER_OFFLINE: "Offline longer than (s)",
    NO_EVENTS: "Quiet longer than (s)",
    BEAT_MISSED: "More than (missed in a row)",
}
COUNTED = (TASK_FAILURES, QUEUE_LENGTH, BEAT_MISSED)  # whole numbers: no decimals shown
NUMBER_MAX = 10_000_000.0  # wide: the core's rule says what is too much


class RuleDialog(QDialog):
    """Add a rule (`rule` None) or edit one; `others` are the profile's other rules (a name
    must differ from theirs); `queues` the names offered for the queue kinds."""

    def __init__(
        self,
        others: Sequence[AlertRule],
        rule: AlertRule | None = None,
        queues: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.others = tuple(others)
        self.rule: AlertRule | None = None  # the rule made, once accepted
        self.setWindowTitle("Edit alert rule" if rule else "Add alert rule")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        self.form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("a short name, e.g. mail backlog")
        self.name.setAccessibleName("Rule name")
        self.kind = QComboBox()
        explain(self.kind, "What the rule watches: failures, a queue's length or age, a worker…",
                "Rule kind")  # fmt: skip
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.threshold = self._number(5.0, "Threshold", "The rule fires past this value")
        self.minutes = self._number(5.0, "Minutes", "How far back the rule counts")
        self.minutes.setSuffix(" min")
        self.task = QLineEdit()
        self.task.setPlaceholderText("every task; or a name, a glob (proj.*) or a query")
        self.task.setToolTip(SEARCH_HELP)
        self.task.setAccessibleName("Tasks")
        self.queue = QComboBox()
        self.queue.setEditable(True)
        self.queue.addItems(["", *queues])
        typed = self.queue.lineEdit()
        if typed is not None:
            typed.setPlaceholderText("each queue on its own")
        explain(self.queue, "The queue watched; empty: each queue on its own", "Queue")
        self.worker = QLineEdit()
        self.worker.setPlaceholderText("each worker on its own; * globs (w1@*)")
        self.worker.setAccessibleName("Worker")
        self.form.addRow("Name", self.name)
        self.form.addRow("Kind", self.kind)
        self.form.addRow(THRESHOLD_LABELS[TASK_FAILURES], self.threshold)
        self.form.addRow("Within the last", self.minutes)
        self.form.addRow("Tasks", self.task)
        self.form.addRow("Queue", self.queue)
        self.form.addRow("Worker", self.worker)
        layout.addLayout(self.form)
        self.summary = muted()
        self.summary.setAccessibleName("The rule in words")
        layout.addWidget(self.summary)
        self.error = QLabel()
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("What is wrong with the rule")
        self.error.hide()
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        explain_labelled(self.buttons, {"OK": "Keep the rule (the rules dialog saves them)"})
        layout.addWidget(self.buttons)
        wheel_only_when_focused(self)
        if rule is not None:
            self._fill(rule)
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        for edit in (self.name, self.task, self.worker):
            edit.textChanged.connect(lambda _t: self._said())
        self.queue.currentTextChanged.connect(lambda _t: self._said())
        for box in (self.threshold, self.minutes):
            box.valueChanged.connect(lambda _v: self._said())
        self._kind_changed()

    @staticmethod
    def _number(value: float, name: str, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0.0, NUMBER_MAX)
        box.setDecimals(1)
        box.setValue(value)
        explain(box, tip, name)
        return box

    def _fill(self, rule: AlertRule) -> None:
        self.name.setText(rule.name)
        index = self.kind.findData(rule.kind)
        self.kind.setCurrentIndex(max(index, 0))
        self.threshold.setValue(rule.threshold)
        self.minutes.setValue(rule.minutes)
        self.task.setText(rule.task)
        self.queue.setCurrentText(rule.queue)
        self.worker.setText(rule.worker)

    def chosen_kind(self) -> str:
        return str(self.kind.currentData())

    def _kind_changed(self) -> None:
        kind = self.chosen_kind()
        self.form.setRowVisible(self.minutes, kind in TASK_KINDS)
        self.form.setRowVisible(self.task, kind in TASK_KINDS)
        self.form.setRowVisible(self.queue, kind in QUEUE_KINDS)
        self.form.setRowVisible(self.worker, kind == WORKER_OFFLINE)
        label = self.form.labelForField(self.threshold)
        if isinstance(label, QLabel):
            label.setText(THRESHOLD_LABELS[kind])
        self.threshold.setDecimals(0 if kind in COUNTED else 1)
        self.threshold.setSuffix(f" {UNITS[kind]}")
        self._said()

    def made(self) -> AlertRule:
        """The rule as the form says it: only the fields its kind reads (a queue typed before
        the kind changed is not kept on a worker rule)."""
        kind = self.chosen_kind()
        tasks = kind in TASK_KINDS
        return AlertRule(
            self.name.text(),
            kind,
            self.threshold.value(),
            self.minutes.value() if tasks else 5.0,
            self.task.text().strip() if tasks else "",
            self.queue.currentText().strip() if kind in QUEUE_KINDS else "",
            self.worker.text().strip() if kind == WORKER_OFFLINE else "",
        )

    def _said(self) -> None:
        self.summary.setText(f"Fires when {self.made().describe()}.")
        self.error.hide()

    def accept(self) -> None:
        rule = self.made()
        problem = rule_problem(rule, self.others)
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        self.rule = rule
        super().accept()
