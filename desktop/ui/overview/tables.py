"""What the Overview's four small tables show: workers, queues, the last failures' causes and
the local workers, each a column spec over its own rows (common/table_model).

Every state is a colour and a symbol with its word ("● online", "⚠ nobody"), never a colour
alone. Each row is what a click opens on its own screen: the worker's node name, the queue's
name, the cause's fingerprint, the local worker's name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from desktop.core.broker.queue_latency import FROM_FIRST_SEEN, OLDEST_ERROR_S, OLDEST_WARNING_S
from desktop.core.local.local_worker import LocalWorker
from desktop.core.monitor.failures import FailureGroup
from desktop.core.monitor.glance import QueueGlance
from desktop.core.monitor.state import WorkerRow
from desktop.ui.common.panel_parts import duration
from desktop.ui.common.states import STATE_SYMBOLS, state_colour, with_symbol
from desktop.ui.common.table_model import Column
from desktop.ui.common.theme import colour


# -- workers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerLine:
    """A worker seen on the broker: its heartbeat row, whether it counts as online now, and
    its pool size when `inspect` said it."""

    row: WorkerRow
    online: bool
    concurrency: int | None


def _busy(line: WorkerLine) -> str:
    active = line.row.active
    if not line.online or active is None:
        return ""
    if not line.concurrency:
        return f"{active} running"
    return f"{active} / {line.concurrency} ({active / line.concurrency:.0%})"


def _busy_colour(line: WorkerLine) -> str:
    active, size = line.row.active, line.concurrency
    if line.online and active is not None and size and active >= size:
        return colour("warning")  # every process busy: what arrives now waits
    return ""


WORKER_COLUMNS: list[Column[WorkerLine]] = [
    Column("Worker", lambda line: line.row.hostname, tip=lambda _l: "Open on the Workers screen"),
    Column(
        "State",
        lambda line: with_symbol("online" if line.online else "offline"),
        colour=lambda line: state_colour("online" if line.online else "offline"),
    ),
    Column(
        "Busy",
        _busy,
        tip=lambda _line: "Tasks running / pool size (processes), from heartbeats and inspect",
        colour=_busy_colour,
    ),
    Column(
        "Load",
        lambda line: f"{line.row.loadavg[0]:.2f}" if line.row.loadavg else "",
        tip=lambda line: (
            "Load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in line.row.loadavg or ())
        ),
    ),
    Column("Processed", lambda line: line.row.processed),
]


# -- queues ----------------------------------------------------------------------------------
def _queue_name(glance: QueueGlance) -> str:
    mark = STATE_SYMBOLS["warning"] + " " if glance.unconsumed or glance.error else ""
    return mark + glance.queue


def _queue_tip(glance: QueueGlance) -> str:
    if glance.error:
        return glance.error
    if glance.unconsumed:
        return (
            f"{glance.waiting} message(s) wait in '{glance.queue}' and no online worker "
            "consumes it: they wait until one does. Open it on the Queues screen (Why?), or "
            "start a worker for it on the Workers screen."
        )
    return "Open on the Queues screen"


def _alarm_colour(glance: QueueGlance) -> str:
    return colour("error") if glance.unconsumed or glance.error else ""


def _oldest(glance: QueueGlance) -> str:
    oldest = glance.oldest
    if oldest is None or not glance.waiting:
        return ""
    if oldest.age_s is None:
        return "?"
    shown = duration(oldest.age_s)
    if oldest.age_s >= OLDEST_ERROR_S:
        shown = f"{STATE_SYMBOLS['warning']} {shown}"
    return f"≥ {shown}" if oldest.source == FROM_FIRST_SEEN else shown


def _oldest_colour(glance: QueueGlance) -> str:
    age = glance.oldest.age_s if glance.oldest is not None else None
    if age is None:
        return ""
    return (
        colour("error")
        if age >= OLDEST_ERROR_S
        else colour("warning")
        if age >= OLDEST_WARNING_S
        else ""
    )


def _consumers(glance: QueueGlance) -> str:
    if glance.consumers is None:
        return "?"
    if glance.unconsumed:
        return f"{STATE_SYMBOLS['warning']} nobody"
    return str(glance.consumers)


QUEUE_COLUMNS: list[Column[QueueGlance]] = [
    Column("Queue", _queue_name, tip=_queue_tip, colour=_alarm_colour),
    Column("Waiting", lambda g: "?" if g.waiting is None else f"{g.waiting:,}", tip=_queue_tip),
    Column(
        "Oldest",
        _oldest,
        tip=lambda _g: "How long the oldest waiting message has waited",
        colour=_oldest_colour,
    ),
    Column(
        "Consumers",
        _consumers,
        tip=lambda g: (
            "Not known until every online worker answered inspect"
            if g.consumers is None
            else _queue_tip(g)
        ),
        colour=lambda g: colour("error") if g.unconsumed else "",  # with its ⚠, never alone
    ),
]


# -- the last failures -----------------------------------------------------------------------
def when(at: float) -> str:
    moment = datetime.fromtimestamp(at)
    ago = time.time() - at
    if ago < 3600:
        return f"{duration(ago)} ago"
    return moment.strftime("%H:%M" if moment.date() == datetime.now().date() else "%m-%d %H:%M")


FAILURE_COLUMNS: list[Column[FailureGroup]] = [
    Column(
        "Cause",
        lambda g: f"{STATE_SYMBOLS['failed']} {g.fingerprint}",
        tip=lambda g: f"{g.example_exception}\n\nOpen this cause on the Failures screen",
        colour=lambda _g: colour("error"),
    ),
    Column("Count", lambda g: f"{g.count:,}"),
    Column("Last", lambda g: when(g.last)),
    Column(
        "Tasks", lambda g: ", ".join(g.task_names[:2]) + (" …" if len(g.task_names) > 2 else "")
    ),
]


# -- local workers ---------------------------------------------------------------------------
LOCAL_COLUMNS: list[Column[LocalWorker]] = [
    Column("Local worker", lambda w: w.name, tip=lambda w: w.nodename),
    Column(
        "State",
        lambda w: with_symbol(w.state),
        tip=lambda w: w.detail,
        colour=lambda w: state_colour(w.state),
    ),
    Column("Queues", lambda w: ", ".join(w.spec.queues)),
    Column("Uptime", lambda w: duration(w.uptime_s())),
]
