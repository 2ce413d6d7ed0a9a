"""Canvases made elsewhere onto the Builder: a waiting message from the Queues screen, a past task
or its whole workflow from the Tasks screen (recall), each undoable."""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.base.task_record import TaskRecord
from desktop.core.broker import control
from desktop.core.canvas import recall as canvas_recall
from desktop.core.canvas.model import Canvas
from desktop.core.monitor.journal_reader import JournalReader
from desktop.ui.builder.panel_files import PanelFiles
from desktop.ui.common.jobs import Jobs


class PanelRecall(PanelFiles):
    """Open a canvas from another screen in the builder."""

    def open_canvas(self, drawn: Canvas) -> None:
        """A canvas made elsewhere (a waiting message on the Queues screen), undoable."""
        if not self.confirm_leave("opening another canvas"):
            return
        self.model.load(drawn)
        self.view.zoom_to_fit()
        self.view.select(())
        self.say(f"Opened '{drawn.name}'; edit it, then Send.", error=False)

    # -- from the tasks screen ----------------------------------------------------------------
    def open_from_journal(
        self, task_id: str, whole_workflow: bool, opened: Callable[[], None] | None = None
    ) -> None:
        """A past task, or its whole workflow, back onto the canvas (undo brings back the one
        that was there). The journal is read off the GUI thread; `opened` runs once it is on
        the canvas."""
        self._jobs.run(
            "open-from-journal", self._open_from_journal(task_id, whole_workflow, opened)
        )

    async def _open_from_journal(
        self, task_id: str, whole_workflow: bool, opened: Callable[[], None] | None
    ) -> None:
        journal = self.session.journal
        row, rows = (
            await Jobs.blocking(_journal_task, journal, task_id, whole_workflow)
            if journal
            else (None, [])
        )
        if not self.confirm_leave("opening another canvas"):
            return
        if journal is None or row is None:
            self.say(f"Task {task_id} is not in the journal.")
            return
        routing = self.config.routing() if self.config else None
        try:
            if whole_workflow:
                node = canvas_recall.workflow(rows, routing)
                title = f"workflow of {task_id[:8]}"
            else:
                node = canvas_recall.task_node(row, routing=routing)
                title = f"again: {node.task.rsplit('.', 1)[-1]}"
        except control.ControlError as exc:
            self.say(f"Cannot open it in the builder: {exc}")
            return
        self.model.load(Canvas(title, node))
        self.view.zoom_to_fit()
        self.view.select(())
        self.say(f"Opened {title} from the tasks screen; edit it, then Send.", error=False)
        if opened is not None:
            opened()


def _journal_task(
    journal: JournalReader, task_id: str, whole_workflow: bool
) -> tuple[TaskRecord | None, list[TaskRecord]]:
    """A task's row and, for its workflow, every task sharing its root: one trip to the pool."""
    row = journal.get(task_id)
    if row is None or not whole_workflow:
        return row, []
    return row, journal.workflow(row.get("root_id") or task_id)
