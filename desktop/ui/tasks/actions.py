"""What the Tasks screen does to the selected task: copy its id, revoke or terminate it, send
it again. Each action on the cluster runs on the session's pool and is kept in the audit log
(`Session.control_audited`); sending again also journals the new task there, linked to the
old one (`retry_of`), never on the GUI thread."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from celery import Celery
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop.core.base.task_record import TaskRecord, queue_of
from desktop.core.broker import control, retrying
from desktop.core.monitor.journal import Journal

if TYPE_CHECKING:
    from desktop.ui.tasks.panel import TasksPanel


class TaskActions:
    def __init__(self, panel: TasksPanel) -> None:
        self.panel = panel
        panel.copy_button.clicked.connect(self.copy_id)
        panel.revoke_button.clicked.connect(lambda: self.revoke(terminate=False))
        panel.terminate_button.clicked.connect(lambda: self.revoke(terminate=True))
        panel.retry_button.clicked.connect(self.send_again)

    def say(self, text: str) -> None:
        self.panel.action_status.setText(text)

    def copy_id(self) -> None:
        task_id = self.panel.current_id
        if task_id:
            QGuiApplication.clipboard().setText(task_id)
            self.say(f"Copied {task_id}")

    def revoke(self, *, terminate: bool) -> None:
        panel, task_id = self.panel, self.panel.current_id
        if task_id is None:
            return
        signal = "SIGTERM"
        if terminate:
            signal, ok = QInputDialog.getItem(
                panel,
                "Terminate task",
                f"Terminate {task_id} by sending its worker process the signal:",
                list(control.TERMINATE_SIGNALS),
                0,
                False,
            )
            if not ok:
                return
            answer = QMessageBox.question(
                panel,
                "Terminate task",
                f"Send {signal} to the process running {task_id}? The task is lost.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        what = f"terminate ({signal})" if terminate else "revoke"
        self.say(f"Sending {what} for {task_id}…")
        panel.session.control_audited(
            "terminate" if terminate else "revoke",
            task_id,
            {"signal": signal} if terminate else {},
            lambda app: control.revoke(app, task_id, terminate=terminate, signal=signal),
            lambda _: self.say(f"Sent {what} for {task_id}"),
            lambda exc: self.say(f"{what} failed: {exc}"),
        )

    def send_again(self) -> None:
        if self.panel.current_id is not None:
            self.panel.jobs.run("send-again", self._send_again(self.panel.current_id))

    async def _send_again(self, task_id: str) -> None:
        """The task as the journal holds it now (read off the GUI thread), sent again: with
        its real arguments where the journal keeps them (they go to the broker, not shown)."""
        model = self.panel.model
        reader = await model.reader()
        row = await model.read(partial(reader.get, real=True), task_id) if reader else None
        if row is None:
            return
        self.say(f"Sending {row['name']} again…")
        journal = model.journal
        self.panel.session.control_audited(
            "send again",
            task_id,
            {"name": row["name"]},
            lambda app: _send_and_record(app, row, journal),
            lambda new_id: self.say(f"Sent again as {new_id}"),
            lambda exc: self.say(f"Cannot send again: {exc}"),
        )


def _send_and_record(app: Celery, row: TaskRecord, journal: Journal | None) -> str:
    """On the pool: send, then journal the new task with what events never carry (its queue
    and priority) and the task it retries."""
    new_id = retrying.send_again(app, row)
    if journal is not None:
        journal.record_submitted(
            new_id,
            str(row["name"]),
            args=row["args"],
            kwargs=row["kwargs"],
            queue=queue_of(row),
            priority=row["priority"],
            retry_of=row["id"],
        )
    return new_id
