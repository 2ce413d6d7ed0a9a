"""Queues: each queue's path, from waiting in the broker to held by a worker to what ran.

This is what the screen shows and when it reads; what a person does on it (revoke, remove,
purge, read contents) is QueuesPanel's, in panel.py.

The list of queues and the selected queue's waiting page come from the broker at the poll
interval (a setting) and soon after events touch the queue; what workers hold comes from
`inspect` on a slower beat, since each inspect waits for replies; what ran comes from the
journal. Everything that touches the network or the journal is a job (`Jobs`): an `async def`
awaiting the blocking call on the job pool, never here on the GUI thread. A newer refresh
supersedes an older one that reads something else, and a profile switch or a closed screen
cancels them, so no answer ever lands on a screen that moved on.

What the tables show is in tables.py, what is asked of the broker in reading.py, and the
sentences about the broker's order in notes.py."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app import priorities
from desktop.core.app.config import Drift
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import queue_of_routing_key
from desktop.core.broker import (
    control,
    queue_latency,
    queue_messages,
    queue_rabbitmq,
    queue_types,
    queues,
    run_order,
)
from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import StateDiff
from desktop.core.opening import ConnectionFacts
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import heading, muted
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.common.table_model import read_only_view
from desktop.ui.queues import reading, tables
from desktop.ui.queues.notes import transport_facts
from desktop.ui.queues.reading import Reading, oldest_ages

INSPECT_EVERY_S = 6.0  # four inspect broadcasts of up to 1 s each
RATE_WINDOW_S = 10.0


class QueuesScreen(QWidget):
    """The tables and what fills them; QueuesPanel (panel.py) adds the actions, wiring the
    buttons made here to them."""

    # Queue -> the age in seconds of its oldest waiting message (0 when none waits), after
    # each read of the broker: the Charts screen's series.
    oldest_read = Signal(object)
    snapshot_read = Signal(object)  # every Snapshot read (the alerts' queue rules take it)

    def __init__(self, session: Any, settings: QSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.profile: Profile | None = None
        self.management: queue_rabbitmq.Management | None = None  # RabbitMQ: which API answered
        self.snapshot: queues.Snapshot | None = None
        self.held_by_workers: list[dict[str, Any]] = []
        self.consumers: dict[str, int] | None = None  # from workers' active_queues
        self.selected: str | None = None
        self.jobs = Jobs(self)
        self._reading: Reading | None = None  # what the latest refresh job reads
        self._ran: tuple[str, list[run_order.Ran]] | None = None  # a queue's started order
        self._read_at = self._asked_at = ""
        self._peeked_queue: str | None = None
        self._peeked: list[queue_types.Waiting] = []
        self._peek_note = ""
        self._last_inspect = 0.0
        self._read_for: set[str] = set()  # who else uses what is read (keep_reading)
        self._server_for: set[str] = set()  # ...and wants the broker server's facts too
        self._rates = Rates(window_s=int(RATE_WINDOW_S))  # In/s, Out/s: the charts' engine
        self.first_seen = queue_latency.FirstSeen()  # when each head was first seen (Oldest)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Queues"))
        self.note = muted()
        layout.addWidget(self.note)
        self.drift = QLabel()
        self.drift.setProperty("role", "warning")
        self.drift.setWordWrap(True)
        self.drift.hide()
        layout.addWidget(self.drift)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Refresh every"))
        self.interval = QSpinBox()
        self.interval.setRange(1, 300)
        self.interval.setSuffix(" s")
        self.interval.setValue(int(str(settings.value("queues/poll_s", 2))) if settings else 2)
        self.interval.valueChanged.connect(self._interval_changed)
        controls.addWidget(self.interval)
        self.refresh_button = QPushButton("Refresh now")
        self.refresh_button.clicked.connect(lambda: self.refresh(inspect=True))
        controls.addWidget(self.refresh_button)
        self.peek = QPushButton("Read contents once…")
        self.peek.setToolTip(queue_rabbitmq.PEEK_NOTE)
        controls.addWidget(self.peek)
        controls.addStretch(1)
        self.read_at = muted("")
        controls.addWidget(self.read_at)
        self.purge_button = QPushButton("Purge…")
        controls.addWidget(self.purge_button)
        layout.addLayout(controls)
        self.status = muted("")
        layout.addWidget(self.status)

        self.queue_rows = tables.queue_model(self)
        self.table = read_only_view(self.queue_rows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.selectionModel().selectionChanged.connect(self._queue_selected)
        split = remembered_splitter(Qt.Orientation.Vertical, "queues-split")
        split.addWidget(self.table)
        lower = remembered_splitter(Qt.Orientation.Horizontal, "queues-lower")
        self.waiting_rows = tables.waiting_model(self)
        self.waiting = read_only_view(self.waiting_rows)
        self.waiting.setAccessibleName("Waiting, in delivery order")
        self.held_rows = tables.held_model(self)
        self.held = read_only_view(self.held_rows)
        self.ran_rows = tables.ran_model(self)
        self.ran = read_only_view(self.ran_rows)
        # What waits on the left; what workers hold and what started stacked on the right, so
        # each table has the room for its columns at 1280 px (side by side, three were cut).
        held_and_ran = remembered_splitter(Qt.Orientation.Vertical, "queues-held-started")
        for title, table, holder in (
            ("Waiting (delivery order)", self.waiting, lower),
            ("Held by workers", self.held, held_and_ran),
            ("Started (most recent first)", self.ran, held_and_ran),
        ):
            box = QGroupBox(title)
            inside = QVBoxLayout(box)
            inside.addWidget(table)
            holder.addWidget(box)
            if holder is held_and_ran:  # two stacked fit a window 480 px high, as one did
                inside.setContentsMargins(6, 4, 6, 4)
                table.setMinimumHeight(40)
        lower.addWidget(held_and_ran)
        lower.setSizes([1, 1])  # halves: "Waiting" is often short, the right side's tables wide
        message_actions = QHBoxLayout()
        self.revoke_button = QPushButton("Revoke")
        self.builder_button = QPushButton("Open in builder")
        self.remove_button = QPushButton("Remove from queue")
        self.remove_button.setToolTip("Redis: delete this one message, so no worker gets it")
        self.why_button = QPushButton("Why?")
        self.why_button.setToolTip("Why this task has not run yet: each check, and the fix")
        for button in (self.why_button, self.revoke_button, self.builder_button,
                       self.remove_button):  # fmt: skip
            button.setEnabled(False)
            message_actions.addWidget(button)
        message_actions.addStretch(1)
        waiting_box = lower.widget(0)
        assert waiting_box is not None and isinstance(waiting_box.layout(), QVBoxLayout)
        waiting_box.layout().addLayout(message_actions)  # type: ignore[union-attr]
        self.waiting.selectionModel().selectionChanged.connect(self._message_selected)
        split.addWidget(lower)
        split.setStretchFactor(1, 2)
        layout.addWidget(split, 1)
        self.transport = muted("")
        self.transport.setWordWrap(True)
        layout.addWidget(self.transport)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(self.interval.value() * 1000)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(300)
        self._soon.timeout.connect(self.refresh)

    # -- inputs -----------------------------------------------------------------------------
    def show_facts(self, facts: ConnectionFacts) -> None:
        if facts.profile != self.profile:  # another profile, or this one edited
            for key in ("refresh", "inspect", "contents", "management"):
                self.jobs.cancel(key)  # their answers are the previous profile's
            self.snapshot, self.held_by_workers = None, []
            self._rates = Rates(window_s=int(RATE_WINDOW_S))
            self.first_seen = queue_latency.FirstSeen()
            self.consumers, self.selected = None, None
            self._peeked_queue, self._peeked, self._reading, self._ran = None, [], None, None
            for rows in (self.queue_rows, self.waiting_rows, self.held_rows, self.ran_rows):
                rows.set_rows([])
            self.status.setText("")
            self._read_at = self._asked_at = ""
            self.read_at.setText("")
        if facts.profile != self.profile:
            self.management = None
        self.profile = facts.profile
        self._render_static()
        self._find_management()
        self.refresh(inspect=True)

    @property
    def config(self) -> EffectiveConfig | None:
        """The session's, never a copy: it is None from a profile switch until the new app is
        read, so nothing here reads a new broker with the previous app's lists."""
        config: EffectiveConfig | None = self.session.app_config
        return config

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        del config, error  # the session holds it (self.config)
        self._render_static()
        self._find_management()
        self.refresh(inspect=True)

    def show_drift(self, drift: Drift) -> None:
        self.drift.setText(drift.summary())
        self.drift.setVisible(drift.changed)

    def _find_management(self) -> None:
        """RabbitMQ: the profile's management API, else the one at RabbitMQ's default port
        with the broker's credentials; found once per profile, off the GUI thread."""
        profile, config = self.profile, self.config
        if profile is None or config is None or not config.is_rabbitmq or self.management:
            return
        self.management = queue_rabbitmq.Management("", "looking for the management API…")
        self.jobs.run("management", self._look_for_management(profile))

    async def _look_for_management(self, profile: Profile) -> None:
        try:
            found = await Jobs.blocking(reading.find_management, self.session.services, profile)
        except Exception:
            return  # no answer either way: contents stay off, the note says it is looking
        self.management = found
        self._render_static()

    def _management_url(self) -> str:
        found = self.management
        return found.url if found is not None and found.answered else ""

    def queue_of(self, routing_key: str | None) -> str | None:
        """Events and delivery info name the routing key; the app's queues say which queue."""
        return queue_of_routing_key(routing_key, self.config.routing() if self.config else None)

    def apply_diff(self, diff: StateDiff) -> None:
        """Events move tasks in and out of queues: count them, and refresh soon."""
        routing = self.config.routing() if self.config else None  # once a batch, not a row
        self._rates.add(diff, routing=routing)
        touched = any(
            queue_of_routing_key(row.routing_key, routing)
            for row in (*diff.tasks_added, *diff.tasks_changed)
        )
        if touched and self.isVisible() and not self._soon.isActive():
            self._soon.start()

    def _interval_changed(self, seconds: int) -> None:
        self.timer.setInterval(seconds * 1000)
        if self.settings is not None:
            self.settings.setValue("queues/poll_s", seconds)

    def keep_reading(self, on: bool, who: str = "charts", server: bool = False) -> None:
        """Read the queues at the poll interval while hidden too, for another screen (Charts,
        Overview) or the alerts' queue rules; what only this screen shows (a queue's page,
        what workers hold) waits until it shows. `server`: each read also asks the broker
        server's version, latency and totals (server_info), which only the Overview shows."""
        if on:
            self._read_for.add(who)
            if server and who not in self._server_for:
                self._server_for.add(who)
                self.refresh()  # what it shows is read now, not at the next interval
        else:
            self._read_for.discard(who)
            self._server_for.discard(who)

    def _tick(self) -> None:
        if self.isVisible():
            self.refresh(inspect=time.monotonic() - self._last_inspect >= INSPECT_EVERY_S)
        elif self._read_for:
            self.refresh()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh(inspect=True)

    # -- refreshing ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The app's queues, and any other an alert rule names: the rule is checked on these
        reads (as `record` reads it), and its alert's click shows that queue here."""
        if self.config is None:
            return []
        known: list[str] = self.config.queue_names()
        watched: list[str] = self.session.alerts.engine.queues_watched(known)
        return watched

    def refresh(self, inspect: bool = False) -> None:
        profile, config = self.profile, self.config
        if profile is None or config is None or self.session.profile is None:
            return
        if inspect:
            self._inspect()
        selected = self.selected if self.isVisible() else None  # hidden: no page to show
        asked = Reading(
            profile, config, tuple(self.names()), selected, self._management_url(),
            with_server=bool(self._server_for),
        )  # fmt: skip
        if asked == self._reading and self.jobs.running("refresh"):
            # Its answer is on the way but may predate what prompted this: read again soon.
            self._soon.start()
            return
        self._reading = asked
        self.jobs.run("refresh", self._refresh(asked))

    async def _refresh(self, asked: Reading) -> None:
        """The broker's counts and the selected queue's page, and what started from it."""
        try:
            read = await Jobs.blocking(
                reading.read_queues, self.session, self.session.journal, asked, self.first_seen
            )
        except Exception as exc:
            self.status.setText(f"Could not read the queues: {exc}")
            return
        taken = read.snapshot
        if taken.queue is not None and taken.queue == self._peeked_queue:
            taken.waiting, taken.waiting_error = self._peeked, self._peek_note
        self.snapshot = taken
        self.oldest_read.emit(oldest_ages(taken))
        self.snapshot_read.emit(taken)
        self._ran = (taken.queue, read.ran) if taken.queue is not None else None
        self._read_at = time.strftime("%H:%M:%S")
        self._show_times()
        self._render()

    def _show_times(self) -> None:
        """The broker is read at the poll interval, workers are asked on a slower beat; say
        when each was, since the held table can lag the waiting one."""
        parts = [f"queues read at {self._read_at}"] if self._read_at else []
        if self._asked_at:
            parts.append(f"workers asked at {self._asked_at}")
        self.read_at.setText(" · ".join(parts).capitalize())

    # -- what workers hold --------------------------------------------------------------------
    def _inspect(self) -> None:
        if self.jobs.running("inspect"):
            return  # the workers are being asked: their replies are on the way
        self._last_inspect = time.monotonic()
        self.jobs.run("inspect", self._ask_workers())

    async def _ask_workers(self) -> None:
        """What each worker holds, and how many consume each queue (`inspect`)."""
        session = self.session

        def work(app: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
            held = control.held_by_workers(app)
            session.learn_priorities(control.priorities_held(held))
            return held, control.consumers_per_queue(app)

        try:
            self.held_by_workers, self.consumers = await session.with_app(work)
        except Exception:
            return  # no worker answered in time: the next beat asks again
        self._asked_at = time.strftime("%H:%M:%S")
        self._show_times()
        self._render()

    # -- rendering ----------------------------------------------------------------------------
    def _render_static(self) -> None:
        config = self.config
        if self.profile is None or config is None:
            self.note.setText("Reading the app's configuration…")
            return
        self.note.setText(priorities.broker_note(config))
        rabbit = config.is_rabbitmq
        self.peek.setVisible(rabbit)
        self.peek.setEnabled(bool(self._management_url()))
        self.remove_button.setVisible(not rabbit)
        if rabbit and self.management is not None:
            self.peek.setToolTip(
                queue_rabbitmq.PEEK_NOTE if self.management.answered else self.management.note
            )
        self.transport.setText(transport_facts(config, self.management))

    def _rate(self, queue: str, kind: str) -> str:
        return f"{self._rates.per_second(kind, queue, int(RATE_WINDOW_S)):.1f}"

    def _render(self) -> None:
        taken = self.snapshot
        if taken is None or self.profile is None:
            return
        held = self.held_by_workers
        rows = []
        for counts in taken.counts:
            name = counts.queue
            mine = [h for h in held if self.queue_of(h["queue"]) == name]
            rate_in = counts.rate_in if counts.rate_in is not None else self._rate(name, "in")
            rate_out = counts.rate_out if counts.rate_out is not None else self._rate(name, "out")
            consumers = counts.consumers
            if consumers is None and self.consumers is not None:
                consumers = self.consumers.get(name, 0)
            rows.append(
                tables.QueueLine(
                    counts,
                    reserved=sum(1 for h in mine if h["kind"] == "reserved"),
                    active=sum(1 for h in mine if h["kind"] == "active"),
                    consumers=consumers,
                    rate_in=rate_in if isinstance(rate_in, str) else f"{rate_in:.1f}",
                    rate_out=rate_out if isinstance(rate_out, str) else f"{rate_out:.1f}",
                    oldest=taken.oldest.get(name),
                )
            )
        names = [c.queue for c in taken.counts]
        if self.selected not in names and names:
            preferred = self.config.default_queue if self.config else ""
            default = preferred if preferred in names else names[0]
            self.selected = default
            self.refresh()  # its waiting page was not read yet
        keep = self.selected
        self.queue_rows.set_rows(rows)
        if keep in names:
            self.table.selectRow(names.index(keep))
        self._render_selected()

    def _render_selected(self) -> None:
        taken = self.snapshot
        queue = self.selected
        if taken is None or queue is None:
            for rows in (self.waiting_rows, self.held_rows, self.ran_rows):
                rows.set_rows([])
            return
        if taken.queue != queue:  # the page on hand is another queue's: wait for this one's
            for rows in (self.waiting_rows, self.held_rows):
                rows.set_rows([])
            self._render_ran(queue)
            return
        waiting: list[tables.WaitingLine] = list(taken.waiting)
        if taken.waiting_error:
            waiting.append(taken.waiting_error)
        self.waiting_rows.set_rows(waiting)
        self._render_held(queue, taken)
        self._render_ran(queue)

    def _render_held(self, queue: str, taken: queues.Snapshot) -> None:
        mine = [h for h in self.held_by_workers if self.queue_of(h["queue"]) == queue]
        known = {h["id"] for h in mine}
        rows = [tables.held_line(h) for h in mine]
        for entry in taken.held:  # Redis: taken, unacknowledged, and no worker said so
            if entry.message.id not in known:
                rows.append(tables.unacked_line(entry))
        self.held_rows.set_rows(rows)

    def _render_ran(self, queue: str) -> None:
        """What started from the queue, as the latest refresh read it from the journal (none
        yet for a queue just selected: its refresh is on the way)."""
        ran = self._ran
        self.ran_rows.set_rows(ran[1] if ran is not None and ran[0] == queue else [])

    # -- selection ----------------------------------------------------------------------------
    def _queue_selected(self, *_: Any) -> None:
        rows = self.table.selectionModel().selectedRows()
        taken = self.snapshot
        if not rows or taken is None or rows[0].row() >= len(taken.counts):
            return
        name = taken.counts[rows[0].row()].queue
        if name == self.selected:
            return  # _render put the selection back on the queue's row
        self.selected = name
        self._render_selected()
        self.refresh()

    def select_queue(self, name: str) -> None:
        self.selected = name
        self._render_selected()
        self.refresh(inspect=True)

    def selected_message(self) -> queue_messages.Message | None:
        taken = self.snapshot
        rows = self.waiting.selectionModel().selectedRows()
        if taken is None or not rows or rows[0].row() >= len(taken.waiting):
            return None
        return taken.waiting[rows[0].row()].message

    def _message_selected(self, *_: Any) -> None:
        message = self.selected_message()
        usable = message is not None and message.decoded and bool(message.id)
        self.revoke_button.setEnabled(usable)
        self.why_button.setEnabled(usable)
        self.builder_button.setEnabled(usable and bool(message and message.task))
        self.remove_button.setEnabled(message is not None)  # a broken one can go too
