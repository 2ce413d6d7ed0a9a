"""Queues: what a person does on the screen. Revoke, remove or open in the builder a waiting
message, purge a queue, read a RabbitMQ queue's contents once (which marks them redelivered).

What the screen shows and when it reads is QueuesScreen's (screen.py). Each action that asks the
broker or the workers is a job on the screen's `Jobs`; its answer shows in the status line, then
the screen reads again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QMessageBox

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker import control
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.queue_types import Waiting
from desktop.core.canvas.model import Canvas, TaskNode
from desktop.core.monitor.audit import FAILED
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.progress import Progress, counted
from desktop.ui.queues import reading
from desktop.ui.queues.reading import Reading
from desktop.ui.queues.screen import QueuesScreen
from desktop.ui.session.why_dialog import WhyDialog

PEEK_PAGE = 50  # RabbitMQ: taken out and put back, once per click, never on the timer


class QueuesPanel(QueuesScreen):
    open_in_builder = Signal(object)  # a Canvas with the waiting message as a task

    def __init__(self, session: Any, settings: QSettings | None = None) -> None:
        super().__init__(session, settings)
        self.refresh_button.clicked.disconnect()
        self.refresh_button.clicked.connect(self.refresh_by_hand)
        self._by_hand = False  # the next refresh job is one a person waits on
        self.peek.clicked.connect(self.ask_read_contents)
        self.purge_button.clicked.connect(self.ask_purge)
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.builder_button.clicked.connect(self.open_selected_in_builder)
        self.remove_button.clicked.connect(self.remove_selected)
        self.why_button.clicked.connect(self.why_selected)
        for widget, tip, name in (  # here, not where they are made: screen.py is full
            (self.interval, "How often the queues are read again", "Refresh interval"),
            (self.refresh_button, "Read every queue now and ask the workers what they hold (F5)",
             ""),
            (self.purge_button, "Delete every message waiting in the selected queue (asks first)",
             ""),
            (self.table, "Every queue: select one to see what waits in it", "Queues"),
            (self.waiting, "The selected queue's messages, the next one delivered first", ""),
            (self.held, "Tasks workers took from the selected queue and have not finished",
             "Held by workers"),
            (self.ran, "Tasks of the selected queue that started, most recent first", "Started"),
            (self.revoke_button, "Revoke the selected task: a worker that gets it skips it", ""),
            (self.builder_button, "The selected task, editable, on the Builder's canvas", ""),
        ):  # fmt: skip
            explain(widget, tip, name)

    def why_selected(self) -> None:
        message = self.selected_message()
        if message is not None and message.id:
            WhyDialog(self.session, message.id, self).show()

    # -- RabbitMQ contents, on request --------------------------------------------------------
    def ask_read_contents(self) -> None:
        queue, taken = self.selected, self.snapshot
        if queue is None or taken is None:
            return
        counts = next((c for c in taken.counts if c.queue == queue), None)
        consumers = counts.consumers if counts else None
        if consumers:
            answer = QMessageBox.question(
                self,
                "Read contents",
                f"{consumers} consumer(s) take from '{queue}'. Reading takes the first "
                f"{PEEK_PAGE} messages out and puts them back; meanwhile a consumer may be "
                "handed messages behind them, out of priority order, and every message read "
                "is marked redelivered. Read anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.read_contents()

    def read_contents(self) -> None:
        """RabbitMQ: the selected queue's first messages through the management API, once."""
        profile, queue, config = self.profile, self.selected, self.config
        if profile is None or queue is None or config is None:
            return
        asked = Reading(profile, config, (), queue, self._management_url())
        self.jobs.run("contents", self._read_contents(asked, queue))

    async def _read_contents(self, asked: Reading, queue: str) -> None:
        try:
            found = await Jobs.blocking(
                reading.read_contents, self.session, asked, queue, PEEK_PAGE
            )
        except Exception as exc:
            self.status.setText(f"Could not read the contents: {exc}")
            return
        self._peeked_queue, self._peeked = queue, found
        self._peek_note = (
            f"Read at {time.strftime('%H:%M:%S')} (now marked redelivered); "
            "click again to read again."
        )
        if self.snapshot is not None and self.snapshot.queue == queue:
            self.snapshot.waiting, self.snapshot.waiting_error = found, self._peek_note
            self._render_selected()

    # -- on a waiting message or a queue ------------------------------------------------------
    def revoke_selected(self) -> None:
        message = self.selected_message()
        if message is None or not message.id:
            return
        task_id = message.id
        counts = next((c for c in self.snapshot.counts if c.queue == self.selected), None)  # type: ignore[union-attr]
        consumers = counts.consumers if counts and counts.consumers is not None else None
        if consumers is None and self.consumers is not None and self.selected:
            consumers = self.consumers.get(self.selected, 0)
        said = f"Revoked {task_id}: the workers running now will discard it when it arrives."
        if consumers == 0:
            said = (
                f"Revoked {task_id}, but no worker consumes '{self.selected}' now, and workers "
                "keep revocations only in memory: one started later will run it. "
                + ("Use 'Remove from queue' instead." if self.remove_button.isVisible() else "")
            )
        self.jobs.run("revoke", self._revoke(task_id, said))

    async def _revoke(self, task_id: str, said: str) -> None:
        try:
            await self.session.act(
                "revoke",
                task_id,
                {"queue": self.selected},
                lambda app: control.revoke(app, task_id),
            )
        except Exception as exc:
            self.status.setText(f"Revoke failed: {exc}")
            return
        self.status.setText(said)

    def remove_selected(self) -> None:
        """Redis: delete exactly this message from its list, so no worker ever gets it."""
        taken, queue, profile, config = self.snapshot, self.selected, self.profile, self.config
        rows = self.waiting.selectionModel().selectedRows()
        if taken is None or queue is None or profile is None or config is None or not rows:
            return
        if rows[0].row() >= len(taken.waiting):
            return
        entry = taken.waiting[rows[0].row()]
        self.jobs.run("remove", self._remove(profile, config, queue, entry))

    async def _on_broker(
        self, profile: Profile, config: EffectiveConfig, action: Callable[[Any], int]
    ) -> int:
        """`action` on the profile's queue inspector, on the job pool (remove, purge)."""
        return await Jobs.blocking(
            reading.on_broker, self.session.services, profile, config, "", action
        )

    async def _remove(
        self, profile: Profile, config: EffectiveConfig, queue: str, entry: Waiting
    ) -> None:
        try:
            count = await self._on_broker(
                profile,
                config,
                lambda source: (
                    source.remove(queue, entry) if isinstance(source, RedisQueues) else 0
                ),
            )
        except Exception as exc:
            self.session.audit_later(
                "remove from queue", queue, {"task_id": entry.message.id}, outcome=FAILED,
                reply=str(exc),
            )  # fmt: skip
            self.status.setText(f"Remove failed: {exc}")
            return
        self.session.audit_later(
            "remove from queue", queue, {"task_id": entry.message.id}, reply={"removed": count}
        )
        what = entry.message.id or entry.message.note
        self.status.setText(
            f"Removed {what} from '{queue}'." if count else f"{what} was no longer waiting."
        )
        self.refresh()

    def open_selected_in_builder(self) -> None:
        message = self.selected_message()
        if message is None or not message.task:
            return
        options: dict[str, Any] = {"queue": self.selected} if self.selected else {}
        if isinstance(message.priority, int):
            options["priority"] = message.priority
        args = message.args if isinstance(message.args, list) else []
        kwargs = message.kwargs if isinstance(message.kwargs, dict) else {}
        node = TaskNode(message.task, list(args), dict(kwargs), False, options)
        self.open_in_builder.emit(Canvas(f"from {self.selected}", node))

    # -- a refresh asked by hand -------------------------------------------------------------
    def refresh_by_hand(self) -> None:
        """Refresh now (the button, F5): a read of many queues that lasts shows its progress,
        with a Cancel that stops before the next round of queues; the timer's reads do not."""
        self._by_hand = True
        self.refresh(inspect=True)
        self._by_hand = False

    def _refresh(self, asked: Reading) -> Coroutine[Any, Any, None]:
        """The screen's refresh job (made when the refresh is asked), with a progress dialog
        around it when asked by hand."""
        if not self._by_hand:
            return super()._refresh(asked)
        return self._refresh_with_progress(asked)

    async def _refresh_with_progress(self, asked: Reading) -> None:
        said = counted("Reading", "queues")
        with Progress(self, "Reading the queues", said, len(asked.names)) as progress:
            await super()._refresh(replace(asked, progress=progress))

    def ask_purge(self) -> None:
        queue = self.selected
        taken = self.snapshot
        if queue is None or taken is None:
            self.status.setText("Select a queue to purge first.")
            return
        counts = next((c for c in taken.counts if c.queue == queue), None)
        waiting = counts.waiting if counts else None
        answer = QMessageBox.question(
            self,
            "Purge queue",
            f"Delete the {waiting if waiting is not None else 'unknown number of'} messages "
            f"waiting in '{queue}'? Tasks workers already hold are not affected. "
            "This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.purge(queue)

    def purge(self, queue: str) -> None:
        profile, config = self.profile, self.config
        if profile is None or config is None:
            return
        self.jobs.run(f"purge {queue}", self._purge(profile, config, queue))

    async def _purge(self, profile: Profile, config: EffectiveConfig, queue: str) -> None:
        """One step on the broker (Redis: one transaction over the queue's lists; RabbitMQ:
        queue.purge): a purge that lasts is said, with no Cancel, as none could stop it."""
        said = f"Purging '{queue}': one step on the broker, which cannot be stopped half way…"
        busy = Progress(self, "Purging", lambda _done, _total: said, cancellable=False)
        try:
            with busy:
                count = await self._on_broker(profile, config, lambda s: s.purge(queue))
        except Exception as exc:
            self.session.audit_later("purge", queue, outcome=FAILED, reply=str(exc))
            self.status.setText(f"Purge failed: {exc}")
            return
        self.session.audit_later("purge", queue, reply={"purged": count})
        self.status.setText(f"Purged {count} message(s) from '{queue}'.")
        self.refresh()
