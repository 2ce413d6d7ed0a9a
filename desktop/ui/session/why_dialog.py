"""The "Why?" window: why one task has not run, in words, with the fix (core/diagnosis).

Opened from the Tasks, Queues and Builder screens for the task chosen there. The checks are
gathered off the GUI thread (broker, result backend, workers, the journal; each source within
its bound), then shown one per row: a symbol and colour for the verdict (never colour alone),
the check, what was seen, and under a problem what to do. The first problem is the cause, said
on top. When nobody consumes the task's queue it offers to start a local worker for it.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.core.diagnosis.checks import Check, Diagnosis
from desktop.core.local.worker_spec import WorkerSpec, free_name
from desktop.ui.common.accessible import explain_labelled
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.states import STATE_SYMBOLS
from desktop.ui.common.theme import colour

if TYPE_CHECKING:
    from desktop.ui.session.session import Session

# a check's verdict: its symbol and its colour role
SYMBOLS = {"ok": (STATE_SYMBOLS["succeeded"], "ok"), "problem": (STATE_SYMBOLS["failed"], "error"),
           "unknown": ("?", "muted")}  # fmt: skip


def checks_html(diagnosis: Diagnosis, unanswered: list[str]) -> str:
    """The checks as the window shows them, the cause first."""
    cause = diagnosis.cause
    head = (
        f"<p><b>Cause: {html.escape(cause.check)}</b> — {html.escape(cause.evidence)}</p>"
        if cause
        else "<p><b>No problem found</b>: every check is ok or could not be told.</p>"
    )
    rows = "".join(_row(check) for check in diagnosis.checks)
    missing = "".join(f"<li>{html.escape(text)}</li>" for text in unanswered)
    warning = (
        f"<p style='color:{colour('error')}'>Did not answer:</p><ul>{missing}</ul>"
        if missing
        else ""
    )
    return f"{head}{warning}<table cellspacing=6>{rows}</table>"


def _row(check: Check) -> str:
    symbol, role = SYMBOLS.get(check.verdict, ("?", "muted"))
    fix = (
        f"<br><i>What to do:</i> {html.escape(check.fix)}"
        if check.fix and check.verdict == "problem"
        else ""
    )
    return (
        f"<tr><td style='color:{colour(role)}'><b>{symbol}</b></td>"
        f"<td><b>{html.escape(check.check)}</b></td>"
        f"<td>{html.escape(check.evidence)}{fix}</td></tr>"
    )


class WhyDialog(QDialog):
    def __init__(self, session: Session, task_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.task_id = task_id
        self.jobs = Jobs(self)
        self.diagnosis: Diagnosis | None = None
        self.queue: str | None = None
        self.setWindowTitle(f"Why? {task_id}")
        self.resize(760, 520)
        layout = QVBoxLayout(self)
        self.status = QLabel(f"Checking task {task_id}: broker, result backend, workers…")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.report = QTextBrowser()
        self.report.setAccessibleName("Checks")
        layout.addWidget(self.report, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.again_button = QPushButton("Check again")
        self.start_button = QPushButton("Start a worker for its queue")
        self.start_button.setVisible(False)
        buttons.addButton(self.again_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.again_button.clicked.connect(self.check)
        self.start_button.clicked.connect(self._start_worker)
        explain_labelled(buttons, {
            "Check again": "Run every check again: broker, result backend, workers",
            "Start a worker for its queue": "Start a local worker here that consumes the task's "
            "queue",
        })  # fmt: skip
        layout.addWidget(buttons)
        self.check()

    def check(self) -> None:
        self.again_button.setEnabled(False)
        self.jobs.run("why", self._check())

    async def _check(self) -> None:
        try:
            diagnosis, unanswered, queue = await Jobs.blocking(self.session.diagnose, self.task_id)
        except Exception as exc:  # the profile closed, the app not read yet
            self.status.setText(f"Cannot check it: {exc}")
            self.again_button.setEnabled(True)
            return
        self.diagnosis = diagnosis
        self.report.setHtml(checks_html(diagnosis, unanswered))
        cause = diagnosis.cause
        self.status.setText(
            f"Task {self.task_id}: {'the cause is ' + cause.check if cause else 'no problem found'}"
        )
        self.queue = queue
        self.start_button.setVisible(bool(cause and cause.check == "no-consumer" and self.queue))
        self.again_button.setEnabled(True)

    def _start_worker(self) -> None:
        if not self.queue:
            return
        taken = {w.name for w in self.session.local_workers}
        spec = WorkerSpec(free_name(self.queue, taken), [self.queue])
        self.session.start_local_worker(spec)
        self.status.setText(f"Starting a local worker for '{self.queue}' (Workers screen)…")
        self.start_button.setEnabled(False)
