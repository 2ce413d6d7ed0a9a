"""Queues: each queue's path, from waiting in the broker to held by a worker to what ran.

The list of queues and the selected queue's waiting page come from the broker at the poll
interval (a setting) and soon after events touch the queue; what workers hold comes from
`inspect` on a slower beat, since each inspect waits for replies; what ran comes from the
journal. Everything that touches the network runs on the session's pool, never here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app import priorities
from desktop.core.app.config import Drift
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import queue_of_routing_key
from desktop.core.broker import control, queues, run_order
from desktop.core.canvas.model import Canvas, TaskNode
from desktop.core.monitor.state import StateDiff
from desktop.core.opening import ConnectionFacts
from desktop.core.settings.profiles import Profile
from desktop.ui.common.panel_parts import heading, muted, read_only_table, routed_summary
from desktop.ui.common.theme import ERROR_COLOUR, MUTED_COLOUR, WARNING_COLOUR

T = TypeVar("T")
PAGE = 200  # waiting messages shown for the selected queue (Redis: read without taking)
RAN_ROWS = 200  # started tasks shown; the inversion check is pairwise, so keep it bounded
PEEK_PAGE = 50  # RabbitMQ: taken out and put back, once per click, never on the timer
INSPECT_EVERY_S = 6.0  # four inspect broadcasts of up to 1 s each
RATE_WINDOW_S = 10.0
QUEUE_COLUMNS = ["Queue", "Waiting", "Unacked", "Reserved", "Active", "Consumers", "In/s",
                 "Out/s", "Priority steps"]  # fmt: skip
WAITING_COLUMNS = ["#", "Priority", "Task", "Id", "Args", "Kwargs", "ETA", "Retries"]
HELD_COLUMNS = ["Worker", "Holds it as", "Task", "Id", "Priority", "Started / ETA"]
RAN_COLUMNS = ["Started", "Task", "Priority", "Waited", "Worker", "State", "Order"]


def _item(text: Any, tip: str = "", colour: str = "") -> QTableWidgetItem:
    shown = "" if text is None else str(text)
    item = QTableWidgetItem(shown)
    item.setToolTip(tip or shown)
    if colour:
        item.setForeground(QColor(colour))
    return item


def _fill(table: QTableWidget, rows: list[list[QTableWidgetItem]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, item in enumerate(row):
            table.setItem(r, c, item)


def _on_broker(
    services: Any,
    profile: Profile,
    config: EffectiveConfig,
    management_url: str,
    use: Callable[[queues.Inspector], T],
) -> T:
    """Runs on a pool thread: one inspector for the profile's broker, reading the lists the
    app's workers read (config), closed after `use`."""
    endpoints = services.endpoints(profile)
    source = queues.inspector(endpoints.broker_url, config, management_url)
    try:
        return use(source)
    finally:
        source.close()


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class QueuesPanel(QWidget):
    open_in_builder = Signal(object)  # a Canvas with the waiting message as a task

    def __init__(self, session: Any, settings: QSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.profile: Profile | None = None
        self.management: queues.Management | None = None  # RabbitMQ: which API answered
        self.snapshot: queues.Snapshot | None = None
        self.held_by_workers: list[dict[str, Any]] = []
        self.consumers: dict[str, int] | None = None  # from workers' active_queues
        self.selected: str | None = None
        self._busy = False
        self._again = False
        self._read_at = self._asked_at = ""
        self._peeked_queue: str | None = None
        self._peeked: list[queues.Waiting] = []
        self._peek_note = ""
        self._inspecting = False
        self._last_inspect = 0.0
        self._generation = 0
        self._moves: dict[str, list[tuple[float, str]]] = {}  # queue -> (when, "in"/"out")

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
        self.peek.setToolTip(queues.PEEK_NOTE)
        self.peek.clicked.connect(self.ask_read_contents)
        controls.addWidget(self.peek)
        controls.addStretch(1)
        self.read_at = muted("")
        controls.addWidget(self.read_at)
        self.purge_button = QPushButton("Purge…")
        self.purge_button.clicked.connect(self.ask_purge)
        controls.addWidget(self.purge_button)
        layout.addLayout(controls)
        self.status = muted("")
        layout.addWidget(self.status)

        self.table = read_only_table(QUEUE_COLUMNS)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._queue_selected)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        lower = QSplitter(Qt.Orientation.Horizontal)
        self.waiting = read_only_table(WAITING_COLUMNS)
        self.waiting.setAccessibleName("Waiting, in delivery order")
        self.held = read_only_table(HELD_COLUMNS)
        self.ran = read_only_table(RAN_COLUMNS)
        for title, table in (
            ("Waiting (delivery order)", self.waiting),
            ("Held by workers", self.held),
            ("Started (most recent first)", self.ran),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(table)
            lower.addWidget(box)
        message_actions = QHBoxLayout()
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.builder_button = QPushButton("Open in builder")
        self.builder_button.clicked.connect(self.open_selected_in_builder)
        self.remove_button = QPushButton("Remove from queue")
        self.remove_button.setToolTip("Redis: delete this one message, so no worker gets it")
        self.remove_button.clicked.connect(self.remove_selected)
        for button in (self.revoke_button, self.builder_button, self.remove_button):
            button.setEnabled(False)
            message_actions.addWidget(button)
        message_actions.addStretch(1)
        waiting_box = lower.widget(0)
        assert waiting_box is not None and isinstance(waiting_box.layout(), QVBoxLayout)
        waiting_box.layout().addLayout(message_actions)  # type: ignore[union-attr]
        self.waiting.itemSelectionChanged.connect(self._message_selected)
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
            self._generation += 1
            self.snapshot, self.held_by_workers, self._moves = None, [], {}
            self.consumers, self.selected = None, None
            self._peeked_queue, self._peeked, self._again = None, [], False
            for table in (self.table, self.waiting, self.held, self.ran):
                table.setRowCount(0)
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
        services, generation = self.session.services, self._generation
        self.management = queues.Management("", "looking for the management API…")

        def work() -> queues.Management:
            endpoints = services.endpoints(profile)
            return queues.find_management(endpoints.broker_url, endpoints.management_url)

        def done(found: queues.Management) -> None:
            if generation == self._generation:
                self.management = found
                self._render_static()

        self.session.background.submit(work, done, lambda exc: None)

    def _management_url(self) -> str:
        found = self.management
        return found.url if found is not None and found.answered else ""

    def queue_of(self, routing_key: str | None) -> str | None:
        """Events and delivery info name the routing key; the app's queues say which queue."""
        return queue_of_routing_key(routing_key, self.config.routing() if self.config else None)

    def apply_diff(self, diff: StateDiff) -> None:
        """Events move tasks in and out of queues: count them, and refresh soon."""
        now = time.monotonic()
        touched = False
        for row in (*diff.tasks_added, *diff.tasks_changed):
            queue = self.queue_of(row.routing_key)
            if not queue:
                continue
            kind = "in" if row.state == "PENDING" else "out" if row.state == "STARTED" else ""
            if kind:
                self._moves.setdefault(queue, []).append((now, kind))
            touched = True
        if touched and self.isVisible() and not self._soon.isActive():
            self._soon.start()

    def _interval_changed(self, seconds: int) -> None:
        self.timer.setInterval(seconds * 1000)
        if self.settings is not None:
            self.settings.setValue("queues/poll_s", seconds)

    def _tick(self) -> None:
        if self.isVisible():
            self.refresh(inspect=time.monotonic() - self._last_inspect >= INSPECT_EVERY_S)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh(inspect=True)

    # -- refreshing ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.config.queue_names() if self.config else []

    def refresh(self, inspect: bool = False) -> None:
        profile, config = self.profile, self.config
        if profile is None or config is None or self.session.profile is None:
            return
        if inspect:
            self._inspect()
        if self._busy:
            self._again = True  # asked while a read runs: read again once it is back
            return
        self._busy = True
        self._again = False
        generation = self._generation
        services, management = self.session.services, self._management_url()
        names, selected = self.names(), self.selected

        def work() -> queues.Snapshot:
            taken = _on_broker(
                services,
                profile,
                config,
                management,
                lambda source: queues.snapshot(source, names, selected, PAGE, peek=False),
            )
            self.session.learn_priorities(taken.priorities_seen())
            return taken

        def done(taken: queues.Snapshot) -> None:
            self._busy = False
            self._refresh_again()
            if generation == self._generation:
                if taken.queue is not None and taken.queue == self._peeked_queue:
                    taken.waiting, taken.waiting_error = self._peeked, self._peek_note
                self.snapshot = taken
                self._read_at = time.strftime("%H:%M:%S")
                self._show_times()
                self._render()

        def failed(exc: BaseException) -> None:
            self._busy = False
            if generation == self._generation:
                self.status.setText(f"Could not read the queues: {exc}")
                self._refresh_again()

        self.session.background.submit(work, done, failed)

    def _show_times(self) -> None:
        """The broker is read at the poll interval, workers are asked on a slower beat; say
        when each was, since the held table can lag the waiting one."""
        parts = [f"queues read at {self._read_at}"] if self._read_at else []
        if self._asked_at:
            parts.append(f"workers asked at {self._asked_at}")
        self.read_at.setText(" · ".join(parts).capitalize())

    def _refresh_again(self) -> None:
        if self._again:
            self._again = False
            QTimer.singleShot(0, self.refresh)

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
        services, generation = self.session.services, self._generation
        management = self._management_url()

        def work() -> list[queues.Waiting]:
            found = _on_broker(
                services,
                profile,
                config,
                management,
                lambda source: source.waiting(queue, 0, PEEK_PAGE),
            )
            self.session.learn_priorities(queues.Snapshot([], queue, found).priorities_seen())
            return found

        def done(found: list[queues.Waiting]) -> None:
            if generation != self._generation:
                return
            self._peeked_queue, self._peeked = queue, found
            self._peek_note = (
                f"Read at {time.strftime('%H:%M:%S')} (now marked redelivered); "
                "click again to read again."
            )
            if self.snapshot is not None and self.snapshot.queue == queue:
                self.snapshot.waiting, self.snapshot.waiting_error = found, self._peek_note
                self._render_selected()

        def failed(exc: BaseException) -> None:
            self.status.setText(f"Could not read the contents: {exc}")

        self.session.background.submit(work, done, failed)

    def _inspect(self) -> None:
        if self._inspecting:
            return
        self._inspecting = True
        self._last_inspect = time.monotonic()
        generation = self._generation

        def work(app: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
            held = control.held_by_workers(app)
            self.session.learn_priorities(control.priorities_held(held))
            return held, control.consumers_per_queue(app)

        def done(found: tuple[list[dict[str, Any]], dict[str, int]]) -> None:
            self._inspecting = False
            if generation == self._generation:
                self.held_by_workers, self.consumers = found
                self._asked_at = time.strftime("%H:%M:%S")
                self._show_times()
                self._render()

        def failed(_exc: BaseException) -> None:
            self._inspecting = False

        self.session.control(work, done, failed)

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
                queues.PEEK_NOTE if self.management.answered else self.management.note
            )
        facts = [] if config.imported else [f"(the app could not be read: {config.error})"]
        facts.append(f"Routes: {routed_summary(config)}")
        if not rabbit:
            facts += [
                _fact(config, "queue_order_strategy", "order strategy"),
                _fact(config, "priority_steps", "steps"),
                _fact(config, "sep", "separator"),
                _fact(config, "global_keyprefix", "key prefix"),
                _fact(config, "visibility_timeout", "visibility timeout"),
            ]
        elif self.management is not None:
            facts.append(self.management.note)
        self.transport.setText(" · ".join(facts))

    def _rate(self, queue: str, kind: str) -> str:
        now = time.monotonic()
        moves = [m for m in self._moves.get(queue, []) if now - m[0] <= RATE_WINDOW_S]
        self._moves[queue] = moves
        count = sum(1 for _when, what in moves if what == kind)
        return f"{count / RATE_WINDOW_S:.1f}"

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
            steps = ", ".join(f"{s}: {n}" for s, n in sorted(counts.steps.items()))
            waiting = "?" if counts.waiting is None else counts.waiting
            colour = ERROR_COLOUR if counts.error else ""
            rows.append(
                [
                    _item(name, counts.error or name, colour),
                    _item(waiting, counts.error),
                    _item("—" if counts.unacked is None else counts.unacked),
                    _item(sum(1 for h in mine if h["kind"] == "reserved")),
                    _item(sum(1 for h in mine if h["kind"] == "active")),
                    _item("—" if consumers is None else consumers),
                    _item(rate_in if isinstance(rate_in, str) else f"{rate_in:.1f}"),
                    _item(rate_out if isinstance(rate_out, str) else f"{rate_out:.1f}"),
                    _item(steps),
                ]
            )
        names = [c.queue for c in taken.counts]
        if self.selected not in names and names:
            preferred = self.config.default_queue if self.config else ""
            default = preferred if preferred in names else names[0]
            self.selected = default
            self.refresh()  # its waiting page was not read yet
        keep = self.selected
        self.table.blockSignals(True)
        _fill(self.table, rows)
        if keep in names:
            self.table.selectRow(names.index(keep))
        self.table.blockSignals(False)
        self._render_selected()

    def _render_selected(self) -> None:
        taken = self.snapshot
        queue = self.selected
        if taken is None or queue is None:
            for table in (self.waiting, self.held, self.ran):
                table.setRowCount(0)
            return
        if taken.queue != queue:  # the page on hand is another queue's: wait for this one's
            for table in (self.waiting, self.held):
                table.setRowCount(0)
            self._render_ran(queue)
            return
        waiting_rows = []
        for entry in taken.waiting:
            message = entry.message
            if not message.decoded:
                waiting_rows.append(
                    [_item(entry.position), _item(""), _item(message.note, colour=WARNING_COLOUR)]
                    + [_item("") for _ in range(5)]
                )
                continue
            waiting_rows.append(
                [
                    _item(entry.position),
                    _item(message.priority, f"step {entry.step}" if entry.step is not None else ""),
                    _item(message.task),
                    _item(message.id),
                    _item(_json(message.args)),
                    _item(_json(message.kwargs)),
                    _item(message.eta or ""),
                    _item(message.retries or ""),
                ]
            )
        if taken.waiting_error:
            waiting_rows.append(
                [_item(""), _item(""), _item(taken.waiting_error, colour=MUTED_COLOUR)]
            )
        _fill(self.waiting, waiting_rows)
        self._render_held(queue, taken)
        self._render_ran(queue)

    def _render_held(self, queue: str, taken: queues.Snapshot) -> None:
        mine = [h for h in self.held_by_workers if self.queue_of(h["queue"]) == queue]
        known = {h["id"] for h in mine}
        rows = [
            [
                _item(h["worker"]),
                _item(h["kind"]),
                _item(h["task"]),
                _item(h["id"]),
                _item(h["priority"]),
                _item(h["eta"] or (time.strftime("%H:%M:%S", time.localtime(h["started"]))
                                   if isinstance(h["started"], int | float) else "")),
            ]
            for h in mine
        ]  # fmt: skip
        for entry in taken.held:  # Redis: taken, unacknowledged, and no worker said so
            if entry.message.id not in known:
                rows.append(
                    [
                        _item("(not known)", "in Redis' unacked hash; no worker reported it"),
                        _item("unacked"),
                        _item(entry.message.task or entry.message.note),
                        _item(entry.message.id),
                        _item(entry.message.priority),
                        _item(""),
                    ]
                )
        _fill(self.held, rows)

    def _render_ran(self, queue: str) -> None:
        journal, config = self.session.journal, self.config
        if journal is None or config is None:
            self.ran.setRowCount(0)
            return
        ran = run_order.started_order(journal.started_in_queue(queue, RAN_ROWS), queue, config)
        rows = []
        for item in ran:
            order = ""
            if item.inverted_by:
                order = f"inversion: {len(item.inverted_by)} higher-priority task(s) waited"
            rows.append(
                [
                    _item(time.strftime("%H:%M:%S", time.localtime(item.started))),
                    _item(item.task),
                    _item(item.priority),
                    _item("" if item.wait_s is None else f"{item.wait_s:.2f} s"),
                    _item(item.worker),
                    _item(item.state),
                    _item(order, ", ".join(item.inverted_by), WARNING_COLOUR if order else ""),
                ]
            )
        _fill(self.ran, rows)

    # -- selection and actions ----------------------------------------------------------------
    def _queue_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        taken = self.snapshot
        if not rows or taken is None:
            return
        self.selected = taken.counts[rows[0].row()].queue
        self._render_selected()
        self.refresh()

    def select_queue(self, name: str) -> None:
        self.selected = name
        self._render_selected()
        self.refresh(inspect=True)

    def selected_message(self) -> queues.Message | None:
        taken = self.snapshot
        rows = self.waiting.selectionModel().selectedRows()
        if taken is None or not rows or rows[0].row() >= len(taken.waiting):
            return None
        return taken.waiting[rows[0].row()].message

    def _message_selected(self) -> None:
        message = self.selected_message()
        usable = message is not None and message.decoded and bool(message.id)
        self.revoke_button.setEnabled(usable)
        self.builder_button.setEnabled(usable and bool(message and message.task))
        self.remove_button.setEnabled(message is not None)  # a broken one can go too

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
        self.session.control(
            lambda app: control.revoke(app, task_id),
            lambda _: self.status.setText(said),
            lambda exc: self.status.setText(f"Revoke failed: {exc}"),
        )

    def remove_selected(self) -> None:
        """Redis: delete exactly this message from its list, so no worker ever gets it."""
        taken, queue, profile, config = self.snapshot, self.selected, self.profile, self.config
        rows = self.waiting.selectionModel().selectedRows()
        if taken is None or queue is None or profile is None or config is None or not rows:
            return
        if rows[0].row() >= len(taken.waiting):
            return
        entry = taken.waiting[rows[0].row()]
        services = self.session.services

        def work() -> int:
            return _on_broker(
                services,
                profile,
                config,
                "",
                lambda source: (
                    source.remove(queue, entry) if isinstance(source, queues.RedisQueues) else 0
                ),
            )

        def done(count: int) -> None:
            what = entry.message.id or entry.message.note
            self.status.setText(
                f"Removed {what} from '{queue}'." if count else f"{what} was no longer waiting."
            )
            self.refresh()

        self.session.background.submit(
            work, done, lambda exc: self.status.setText(f"Remove failed: {exc}")
        )

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
        services = self.session.services

        def work() -> int:
            return _on_broker(services, profile, config, "", lambda source: source.purge(queue))

        def done(count: int) -> None:
            self.status.setText(f"Purged {count} message(s) from '{queue}'.")
            self.refresh()

        self.session.background.submit(
            work, done, lambda exc: self.status.setText(f"Purge failed: {exc}")
        )


def _fact(config: EffectiveConfig, key: str, label: str) -> str:
    value = config.transport_option(key)
    if value in ("", None):
        shown = "(none)"
    elif isinstance(value, str):
        shown = repr(value)
    else:
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{label} {shown} ({config.transport_source(key)})"
