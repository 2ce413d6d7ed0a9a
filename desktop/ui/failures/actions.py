"""What the Failures screen does about a cause: retry (all of it, or the selected tasks), open
one in the Builder to edit its arguments, revoke what still waits, mark it resolved, copy a
report.

A bulk retry is planned off the GUI thread (every stored call read back: refused ones are
said, never sent with something else), sent through one producer on the session's pool, and
shows its progress (once it has taken a second) with a Cancel that stops between two
messages; each new task is journaled with `retry_of` as the broker takes it. Confirmation
is asked on the click, before any job starts (a modal dialog inside a running job would nest
event loops).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from desktop.core.base.task_states import is_finished
from desktop.core.broker import control, retrying
from desktop.core.monitor.failures import markdown_report
from desktop.core.monitor.history_reader import HistoryReader
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.progress import SHOW_AFTER_MS

if TYPE_CHECKING:
    from desktop.ui.failures.panel import FailuresPanel


class FailureActions:
    def __init__(self, panel: FailuresPanel) -> None:
        self.panel = panel
        self.busy = False
        self._cancel: threading.Event | None = None
        self._done = 0  # sent so far, written by the sending thread, read by the tick
        self._total = 0
        self._tick = QTimer(panel)
        self._tick.setInterval(100)
        self._tick.timeout.connect(self._show_progress)
        # The bar and its Cancel appear once the retry has taken a second (common/progress.py's
        # rule): most retries end before, and a bar that flashes is worse than none.
        self._appear = QTimer(panel)
        self._appear.setSingleShot(True)
        self._appear.setInterval(SHOW_AFTER_MS)
        self._appear.timeout.connect(self._show_bar)
        panel.retry_group_button.clicked.connect(self.retry_group)
        panel.retry_selected_button.clicked.connect(self.retry_selected)
        panel.edit_button.clicked.connect(self.edit)
        panel.revoke_button.clicked.connect(self.revoke_waiting)
        panel.resolve_button.clicked.connect(self.toggle_resolved)
        panel.copy_button.clicked.connect(self.copy_report)
        panel.cancel_button.clicked.connect(self.cancel)

    def say(self, text: str) -> None:
        self.panel.action_status.setText(text)

    # -- retry --------------------------------------------------------------------------------
    def retry_group(self) -> None:
        group = self.panel.group
        if group is not None and self._confirm(
            f"Send all {group.count} tasks of this cause again, each with its stored "
            f"arguments, queue and priority?\n\n{group.fingerprint}"
        ):
            self.panel.jobs.run("retry", self._retry(list(group.ids)))

    def retry_selected(self) -> None:
        ids = self.panel.selected_ids()
        if ids and self._confirm(f"Send the {len(ids)} selected task(s) again?"):
            self.panel.jobs.run("retry", self._retry(ids))

    def _confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self.panel, "Retry failures", question)
        return answer == QMessageBox.StandardButton.Yes

    async def _retry(self, ids: list[str]) -> None:
        panel = self.panel
        reader = await panel.slot.reader()
        journal = panel.slot.journal
        if reader is None or journal is None:
            self.say("No journal is open.")
            return
        routing = panel.config.routing() if panel.config else None
        self._set_busy(True, len(ids))
        try:
            planned, refused = await Jobs.blocking(_plan, reader, ids, routing)
            self._total = len(planned)
            cancel = self._cancel = threading.Event()

            def record(taken: list[tuple[retrying.Planned, str]]) -> None:
                journal.record_submitted_many(retrying.submitted(taken))

            def progress(done: int, _total: int) -> None:
                self._done = done

            if planned:
                outcome = await panel.session.act(
                    "retry",
                    f"{len(planned)} task(s)",
                    {"retry_of": [p.retry_of for p in planned[:100]], "tasks": len(planned)},
                    lambda app: retrying.resend(app, planned, record, progress, cancel),
                    retrying.RetryOutcome.summary,
                )
            else:
                outcome = retrying.RetryOutcome()
        except Exception as exc:  # the broker or the journal: said, never a traceback
            self.say(f"Retry failed: {exc}")
            return
        finally:
            self._set_busy(False)
        said = f"Sent {len(outcome.resent)} of {len(ids)} again"
        if outcome.cancelled:
            said += " (cancelled)"
        if refused:
            said += f"; {len(refused)} refused: {refused[0].reason}"
        if outcome.failure:
            said += f"; the broker failed: {outcome.failure}"
        if outcome.unrecorded:
            said += f"; NOT journaled ({outcome.unrecorded}): do not send them again"
        self.say(said)
        panel.refresh()
        if panel.group is not None:
            panel.jobs.run("members", panel._read_members(panel.group))

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.say("Cancelling after the message on its way…")

    def _set_busy(self, busy: bool, total: int = 0) -> None:
        self.busy = busy
        self._done, self._total = 0, total
        if not busy:
            self._appear.stop()
            self.panel.progress.setVisible(False)
            self.panel.cancel_button.setVisible(False)
        if busy:
            self._appear.start()
            self.panel.progress.setRange(0, max(1, total))
            self.panel.progress.setValue(0)
            self._tick.start()
            self.say("Reading the tasks…")
        else:
            self._tick.stop()
            self._cancel = None
        self.panel._sync()

    def _show_bar(self) -> None:
        if self.busy:
            self.panel.progress.setVisible(True)
            self.panel.cancel_button.setVisible(True)

    def _show_progress(self) -> None:
        self.panel.progress.setRange(0, max(1, self._total))
        self.panel.progress.setValue(self._done)
        if self._total:
            self.say(f"Sending {self._done} of {self._total}…")

    # -- the rest -----------------------------------------------------------------------------
    def edit(self) -> None:
        group = self.panel.group
        chosen = self.panel.selected_ids()
        task_id = chosen[0] if chosen else (group.example_id if group else None)
        if task_id is not None:
            self.panel.open_in_builder.emit(task_id, False)

    def revoke_waiting(self) -> None:
        group = self.panel.group
        if group is None:
            return
        answer = QMessageBox.question(
            self.panel,
            "Revoke",
            "Revoke the tasks of this cause that are still waiting or running (a retry "
            "Celery has scheduled, say)? Finished ones are left as they are.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.panel.jobs.run("revoke", self._revoke(list(group.ids)))

    async def _revoke(self, ids: list[str]) -> None:
        reader = await self.panel.slot.reader()
        if reader is None:
            return
        rows = await Jobs.blocking(reader.rows, ids)
        waiting = [i for i in ids if i in rows and not is_finished(rows[i]["state"])]
        if not waiting:
            self.say("None of them is waiting or running: nothing to revoke.")
            return
        try:
            await self.panel.session.act(
                "revoke", f"{len(waiting)} task(s)", {"task_ids": waiting[:100]},
                lambda app: control.revoke(app, waiting),
            )  # fmt: skip
        except Exception as exc:
            self.say(f"Revoke failed: {exc}")
            return
        self.say(f"Revoked {len(waiting)} task(s)")

    def toggle_resolved(self) -> None:
        line = self.panel.current_line()
        journal = self.panel.slot.journal
        if line is None or journal is None:
            return
        if line.resolved:
            job = Jobs.blocking(journal.unresolve_failure, line.group.fingerprint)
        else:
            job = Jobs.blocking(journal.resolve_failure, line.group.fingerprint, None)
        self.panel.jobs.run("resolve", self._then_refresh(job, line.resolved))

    async def _then_refresh(self, job: Awaitable[None], was_resolved: bool) -> None:
        try:
            await job
        except Exception as exc:  # the journal refused (disk full, read-only)
            self.say(f"Cannot mark it: {exc}")
            return
        self.say("Shown again" if was_resolved else "Marked resolved: hidden until it fails again")
        self.panel.refresh()

    def copy_report(self) -> None:
        group = self.panel.group
        if group is None:
            return
        QGuiApplication.clipboard().setText(markdown_report(group, self.panel.example_row))
        self.say(f"Copied a report of {group.count} failure(s) as Markdown")


def _plan(
    reader: HistoryReader, ids: list[str], routing: Mapping[str, str] | None
) -> tuple[list[retrying.Planned], list[retrying.Refused]]:
    """The stored calls of `ids` read back, in their order (on the job pool): their real
    arguments where the journal keeps them, since they go to the broker, not the screen."""
    rows = reader.rows(ids, real=True)
    planned, refused = retrying.plan([rows[i] for i in ids if i in rows], routing=routing)
    refused += [retrying.Refused(i, "not in the journal any more") for i in ids if i not in rows]
    return planned, refused
