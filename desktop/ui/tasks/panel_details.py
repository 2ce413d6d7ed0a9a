"""The Tasks screen's detail pane: the chosen task at once from the row the table holds, then
its children, timeline and local worker's log lines read off the GUI thread (panel.py is the
screen around it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl

from desktop.core.base.task_record import TaskRecord
from desktop.core.local.task_logs import local_log_of, task_log_lines
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.theme import colour
from desktop.ui.tasks.details import detail_html, read_details

if TYPE_CHECKING:
    from PySide6.QtWidgets import QPushButton, QTextBrowser

    from desktop.ui.session.session import Session
    from desktop.ui.tasks.model import TasksModel
    from desktop.ui.tasks.reveal import ArgumentReveal


class TaskDetailsPart:
    """Mixed into TasksPanel, which sets these."""

    session: Session
    jobs: Jobs
    model: TasksModel
    current_id: str | None
    task_buttons: tuple[QPushButton, ...]
    detail: QTextBrowser
    reveal: ArgumentReveal

    def _show_task(self, task_id: str | None, row: TaskRecord | None = None) -> None:
        """The task's details at once from the row the table holds (or the batch brought),
        then its children and timeline read off the GUI thread."""
        self.jobs.cancel("details")
        row = row or (self.model.row(task_id) if task_id else None)
        if task_id is None or row is not None:
            self._show_row(row)
        if task_id is not None:
            self.jobs.run("details", self._read_details(task_id, shown=row is not None))

    async def _read_details(self, task_id: str, *, shown: bool) -> None:
        reader = await self.model.reader()
        if reader is None:
            if not shown:
                self._show_row(None)
            return
        row, kids, timeline = await self.model.read(read_details, reader, task_id)
        self._show_row(row, kids, timeline)
        log = local_log_of(self.session.local_workers, row["worker"] if row else None)
        if row is not None and log is not None:  # a local worker ran it: its lines
            lines = await Jobs.blocking(task_log_lines, log, task_id)
            if lines and self.current_id == task_id:
                self._show_row(row, kids, timeline, lines)

    def _show_row(
        self,
        row: TaskRecord | None,
        kids: list[str] | None = None,
        timeline: list[dict[str, Any]] | None = None,
        logs: list[str] | None = None,
    ) -> None:
        self.current_id = row["id"] if row else None
        for button in self.task_buttons:
            button.setEnabled(row is not None)
        shown, banner = self.reveal.follow(row)  # revealed values only while their task shows
        if shown is None:
            self.detail.setHtml(
                f"<p style='color:{colour('muted')}'>Select a task to see its details.</p>"
            )
            return
        self.detail.setHtml(banner + detail_html(shown, kids, timeline, logs))

    def show_task_again(self) -> None:
        """The shown task read and shown again (its arguments just revealed)."""
        if self.current_id is not None:
            self._show_task(self.current_id)

    def _follow_link(self, url: QUrl) -> None:
        text = url.toString()
        if self.reveal.clicked(text):
            return
        if text.startswith("task:"):
            self._show_task(text[len("task:") :])
