"""The Tasks detail pane's "Reveal arguments": the real values of one task's hidden arguments,
on an explicit click, for as long as that task stays selected.

Every read of the journal hides values under the profile's redacted names (table, detail,
copies, exports); this link, written above a task's details when some of its arguments show
as ****, is the only way to see them, one task at a time, and each reveal is kept in the
audit log. When the journal stores the values hidden (the profile's default) it says there is
nothing to reveal, and why. The read runs off the GUI thread. A link in the pane, not one more
button in the row above it: that row already sets how narrow the window can be.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.argument_reveal import Revealed, reveal

if TYPE_CHECKING:
    from desktop.ui.tasks.panel import TasksPanel

LINK = "reveal:"  # the link's scheme; what follows is the task id
OFFER = (
    "<p style='background:#f3f4f6;color:#374151;padding:4px'>Values of hidden arguments "
    "show as ****. <a href='" + LINK + "{}'>Reveal arguments</a> (this task only; kept in "
    "the audit log)</p>"
)
REVEALED = (
    "<p style='background:#fef3c7;color:#92400e;padding:4px'><b>Arguments revealed</b>: "
    "the real values of this task only, hidden again when another task is selected.</p>"
)
NOT_REVEALED = "<p style='background:#f3f4f6;color:#374151;padding:4px'>{}</p>"


class ArgumentReveal:
    """The offer, and what it found for the task shown: its real values, or why none."""

    def __init__(self, panel: TasksPanel) -> None:
        self.panel = panel
        self.shown: Revealed | None = None

    def follow(self, row: TaskRecord | None) -> tuple[TaskRecord | None, str]:
        """The row as the pane shows it, and a note above it: the offer when some of its
        arguments show as ****; the real values (or why there are none) only while the task
        they were asked for is the one shown."""
        if row is None or self.shown is None or self.shown.task_id != row["id"]:
            self.shown = None
            return row, self._offer(row)
        if not self.shown.revealed:
            return row, NOT_REVEALED.format(html.escape(self.shown.why_not))
        real = dict(row, args=self.shown.args, kwargs=self.shown.kwargs)
        return real, REVEALED  # type: ignore[return-value]  # a TaskRecord with two keys set

    def _offer(self, row: TaskRecord | None) -> str:
        journal = self.panel.model.journal
        if row is None or journal is None:
            return ""
        hidden = journal.redactor.redacts
        if not (hidden(row["args"]) or hidden(row["kwargs"])):
            return ""
        return OFFER.format(html.escape(row["id"], quote=True))

    def clicked(self, link: str) -> bool:
        """Whether `link` was the offer's (then the reveal of the task shown has started)."""
        if not link.startswith(LINK):
            return False
        task_id = link[len(LINK) :]
        if task_id == self.panel.current_id:
            self.panel.jobs.run("reveal", self._reveal(task_id))
        return True

    async def _reveal(self, task_id: str) -> None:
        panel = self.panel
        reader, journal = await panel.model.reader(), panel.model.journal
        if reader is None or journal is None:
            panel.action_status.setText("No journal is open: nothing to reveal.")
            return
        found = await panel.model.read(reveal, reader, task_id, journal.keep_argument_values)
        if panel.current_id != task_id:  # another task was chosen meanwhile
            return
        if found is None:
            panel.action_status.setText(f"{task_id} is not in the journal any more.")
            return
        self.shown = found
        if found.revealed:
            panel.session.audit_later("reveal arguments", task_id)
            panel.action_status.setText("Revealed (audited)")
        else:
            panel.action_status.setText("Nothing to reveal")
        panel.show_task_again()
