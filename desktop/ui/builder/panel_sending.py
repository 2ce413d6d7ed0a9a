"""The Builder's sending and watching: a checked canvas goes out off the GUI thread, then its
nodes are coloured from the event stream's diffs, with the result backend polled as well, so a
worker started without -E still shows its results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton

from desktop.core.app.results import read_result
from desktop.core.base.task_states import FINISHED_STATES as FINISHED
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas.checks import ERROR, Problem, only_testable
from desktop.core.canvas.edit import Position
from desktop.core.canvas.model import Canvas
from desktop.core.monitor.state import StateDiff, TaskRow
from desktop.ui.builder.canvas_view import NodeState
from desktop.ui.builder.panel_files import PanelFiles
from desktop.ui.common.progress import Progress, counted

RESULT_POLL_MS = 1500
SEND = "send"  # the panel's job keys
POLL = "poll results"
NOT_DECODED = "RESULT NOT DECODED"
POLL_DONE = FINISHED | {NOT_DECODED}


class PanelSending(PanelFiles):
    """Send the canvas and colour its nodes as their tasks run."""

    # set by BuilderPanel.__init__
    sent_ids: dict[str, Position]
    sent_root: Any
    _result_timer: QTimer
    send_button: QPushButton
    current_problems: Callable[[], list[Problem]]  # the checks, BuilderPanel's

    # -- sending and watching -------------------------------------------------------------------
    def _sync_send_button(self) -> None:
        opening = self.session.journal_opening
        self.send_button.setEnabled(not self._jobs.running(SEND) and not opening)
        self.send_button.setToolTip(
            "The task history is still opening; Send is possible in a moment"
            if opening
            else "Check the canvas, then send it (Ctrl+Return)"
        )

    def _watch(self, drawn: Canvas, nodes: list[canvas_sending.SentNode]) -> bool:
        """Colour `nodes` (sent) on the canvas from now on; False when it changed since."""
        if self.model.root != drawn.root:
            return False
        self.sent_root = drawn.root
        self.sent_ids = {n.id: canvas_edit.parse_position(n.path) for n in nodes}
        self.view.states = {
            position: NodeState("PENDING", task_id) for task_id, position in self.sent_ids.items()
        }
        self.view.update()
        self._result_timer.start()
        return True

    def send_anyway(self) -> None:
        """Send a canvas whose every error is one the worker meets (an unknown name, wrong
        arguments, a priority list nobody reads), after the person confirms: how a failure
        is tested."""
        problems = self.current_problems()
        if not only_testable(problems):
            self.send()  # nothing to override, or what cannot be sent at all: say so
            return
        errors = [p for p in problems if p.level == ERROR]
        if self.confirm_send_anyway(errors):
            self.send(anyway=True)

    def confirm_send_anyway(self, errors: list[Problem]) -> bool:
        listed = "\n".join(f"• {p.path or 'root'}: {p.message}" for p in errors[:10])
        more = f"\n… and {len(errors) - 10} more" if len(errors) > 10 else ""
        answer = QMessageBox.warning(
            self,
            "Send with problems?",
            f"The broker will take these tasks and the workers will fail or refuse them:\n"
            f"{listed}{more}\n\nSend anyway, to test that failure?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def send(self, *, anyway: bool = False) -> None:
        if self._jobs.running(SEND):  # Ctrl+Return while the button is off: one send at a time
            return
        drawn = self._canvas_or_say()
        if drawn is None:
            return
        problems = self.current_problems()
        errors = [p for p in problems if p.level == ERROR]
        if errors and not (anyway and only_testable(problems)):
            hint = " (or Send anyway…, to test the failure)" if only_testable(problems) else ""
            self.say(
                f"Not sent: {len(errors)} problem(s) marked on the canvas; fix them first{hint}."
            )
            return
        if self.session.profile is None:
            self.say("Not sent: no profile is active.")
            return
        if self.session.journal_opening:
            self.say("Not sent: the task history is still opening; send again in a moment.")
            return
        self.say("Sending…", error=False)
        task = self._jobs.run(SEND, self._send(drawn))
        if task is not None:
            # After the job layer let go of it, so the button sees no send running; not when
            # cancelled, which only happens as the panel goes.
            task.add_done_callback(self._send_ended)
        self._sync_send_button()

    def _send_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            self._sync_send_button()

    async def _send(self, drawn: Canvas) -> None:
        """Off the GUI thread; a send that lasts shows its count with a Cancel that stops
        before the next message (common/progress.py)."""
        with Progress(self, "Sending", counted("Sending", "tasks")) as progress:
            try:
                sent = await self.session.send_canvas(drawn, progress.report, progress.cancel)
            except Exception as exc:
                self._send_failed(drawn, exc)
                return
        if not self._watch(drawn, sent.nodes):
            warning = (
                ""
                if sent.unjournaled is None
                else (f" Warning: {sent.unjournaled.said(len(sent.nodes))}; do not send again.")
            )
            self.say(
                f"Sent '{drawn.name or 'canvas'}' (root id {sent.root_id}); the canvas "
                f"changed since, so its nodes are not coloured. See the Tasks screen.{warning}",
                error=bool(warning),
            )
            return
        self.send_button.setText("Run again")
        if sent.unjournaled is not None:  # sent all the same: never to be sent again
            self.say(
                f"Sent '{drawn.name or 'canvas'}' (root id {sent.root_id}), but "
                f"{sent.unjournaled.said(len(sent.nodes))}. The tasks WERE sent: do not "
                "send them again."
            )
        else:
            self.say(f"Sent '{drawn.name or 'canvas'}': root id {sent.root_id}", error=False)

    def _send_failed(self, drawn: Canvas, exc: BaseException) -> None:
        if isinstance(exc, canvas_sending.SendError) and isinstance(
            exc.__cause__, canvas_sending.Cancelled
        ):
            self._watch(drawn, exc.sent)
            lost = f"; {exc.unjournaled.said(len(exc.sent))}" if exc.unjournaled else ""
            self.say(
                f"Cancelled: {len(exc.sent)} of {exc.total} task(s) sent, the other "
                f"{exc.total - len(exc.sent)} not{lost}.",
                error=bool(lost),
            )
            return
        if not isinstance(exc, canvas_sending.SendError) or not exc.sent:
            self.say(f"Sending failed: {exc}")
            return
        self._watch(drawn, exc.sent)  # what went out is watched, as a whole send is
        missed = exc.unjournaled
        if missed is None:  # all of it journaled
            self.say(f"Sending failed: {exc}")
            return
        cause = exc.__cause__
        self.say(
            f"Partly sent: {len(exc.sent)} of {exc.total} sent, {len(missed.nodes)} not "
            f"journaled; do not send them again. Sending stopped on "
            f"{type(cause).__name__}: {cause}; the journal failed: {missed.reason}."
        )

    def apply_diff(self, diff: StateDiff) -> None:
        if not self.sent_ids:
            return
        changed = False
        for row in (*diff.tasks_added, *diff.tasks_changed):
            position = self.sent_ids.get(row.id)
            if position is not None:
                self.view.states[position] = NodeState(row.state, row.id, _detail(row))
                changed = True
        if changed:
            self.view.update()

    def _poll_results(self) -> None:
        """Results from the backend, for workers that send no events."""
        waiting = [s.task_id for s in self.view.states.values() if s.state not in POLL_DONE]
        if not waiting:
            self._result_timer.stop()
            return
        profile, config = self.session.profile, self.config
        has_backend = profile is not None and bool(
            profile.result_backend or (config and config.result_backend)
        )
        if self._jobs.running(POLL) or not has_backend:
            return  # the timer asks again in a moment
        self._jobs.run(POLL, self._read_results(waiting))

    async def _read_results(self, waiting: list[str]) -> None:
        def work(app: Any) -> dict[str, tuple[str, str]]:
            found = {}
            for task_id in waiting:
                try:
                    read = read_result(app, task_id)
                except Exception as exc:  # pickle or garbage in the backend: never unpickled
                    found[task_id] = (NOT_DECODED, f"{type(exc).__name__}: {exc}")
                    continue
                if read.finished:
                    found[task_id] = (read.state, read.text)
            return found

        try:
            found = await self.session.with_app(work)
        except Exception:  # a backend gone for now: the timer asks again in a moment
            return
        for task_id, (status, text) in found.items():
            position = self.sent_ids.get(task_id)
            if position is not None:
                self.view.states[position] = NodeState(status, task_id, f"result: {text}")
        self.view.update()


def _detail(row: TaskRow) -> str:
    if row.exception:
        return f"error: {row.exception}"
    if row.result is not None:
        return f"result: {row.result}" + (f" · on {row.worker}" if row.worker else "")
    return f"on {row.worker}" if row.worker else ""
