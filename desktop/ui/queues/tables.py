"""What the Queues screen's four tables show: each queue, the selected queue's waiting page,
what workers hold from it, and what started from it, each a column spec over its own rows.

Every cell's tooltip is its text unless it says more (a queue's error, a priority's step, the
ids of the tasks an inversion passed over), so a cut-off cell can still be read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject

from desktop.core.broker.queue_latency import (
    FROM_FIRST_SEEN,
    FROM_JOURNAL,
    FROM_MESSAGE,
    OLDEST_ERROR_S,
    OLDEST_WARNING_S,
    Oldest,
)
from desktop.core.broker.queue_messages import Message
from desktop.core.broker.queue_types import Held, QueueCounts, Waiting
from desktop.core.broker.run_order import Ran
from desktop.ui.common.panel_parts import duration
from desktop.ui.common.states import state_colour, with_symbol
from desktop.ui.common.table_model import Column, TableModel
from desktop.ui.common.theme import colour


@dataclass(frozen=True)
class QueueLine:
    """A queue as its row shows it: the broker's counts and what the workers and events add."""

    counts: QueueCounts
    reserved: int  # held by workers, from `inspect`
    active: int
    consumers: int | None  # the broker's, else the workers' active_queues
    rate_in: str  # messages/s, the broker's or counted from events
    rate_out: str
    oldest: Oldest | None = None  # the oldest waiting message's age; None: nothing waits


OLDEST_SOURCES = {
    FROM_MESSAGE: "dated by the message's own timestamp (set by its publisher)",
    FROM_JOURNAL: "dated by the journal: when the task was sent (task-sent event)",
    FROM_FIRST_SEEN: (
        "at least this: the message says nothing of when it was sent and no task-sent event "
        "was journaled, so this counts from when the panel first saw it at the head"
    ),
}


def _oldest_text(line: QueueLine) -> str:
    oldest = line.oldest
    if oldest is None:
        return ""
    if oldest.age_s is None:
        return "?"
    shown = duration(oldest.age_s)
    return f"≥ {shown}" if oldest.source == FROM_FIRST_SEEN else shown


def _oldest_tip(line: QueueLine) -> str:
    oldest = line.oldest
    if oldest is None:
        return "nothing waits"
    if oldest.age_s is None:
        return (
            "not known: the head message carries no timestamp and no task-sent event was "
            "journaled for it (RabbitMQ: the panel reads only the head's timestamp property)"
        )
    about = f"{oldest.task_id}: " if oldest.task_id else ""
    step = f" (priority step {oldest.step})" if oldest.step is not None else ""
    return f"{about}{OLDEST_SOURCES.get(oldest.source, oldest.source)}{step}"


def _oldest_colour(line: QueueLine) -> str:
    age = line.oldest.age_s if line.oldest is not None else None
    if age is None:
        return colour("muted") if line.oldest is not None else ""
    if age >= OLDEST_ERROR_S:
        return colour("error")
    return colour("warning") if age >= OLDEST_WARNING_S else ""


QUEUE_COLUMNS: list[Column[QueueLine]] = [
    Column(
        "Queue",
        lambda line: line.counts.queue,
        tip=lambda line: line.counts.error,
        colour=lambda line: colour("error") if line.counts.error else "",
    ),
    Column(
        "Waiting",
        lambda line: "?" if line.counts.waiting is None else line.counts.waiting,
        tip=lambda line: line.counts.error,
    ),
    Column("Oldest", _oldest_text, tip=_oldest_tip, colour=_oldest_colour),
    Column("Unacked", lambda line: "—" if line.counts.unacked is None else line.counts.unacked),
    Column("Reserved", lambda line: line.reserved),
    Column("Active", lambda line: line.active),
    Column("Consumers", lambda line: "—" if line.consumers is None else line.consumers),
    Column("In/s", lambda line: line.rate_in),
    Column("Out/s", lambda line: line.rate_out),
    Column(
        "Priority steps",
        lambda line: ", ".join(f"{s}: {n}" for s, n in sorted(line.counts.steps.items())),
    ),
]

# A waiting row is a message at its place, or (last) the sentence saying why the page is not
# there or how it was read (RabbitMQ).
WaitingLine = Waiting | str


def _decoded(line: WaitingLine) -> Message | None:
    """The message of a decoded entry; None for one not decoded and for the page's sentence."""
    if isinstance(line, Waiting) and line.message.decoded:
        return line.message
    return None


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _task_text(line: WaitingLine) -> str | None:
    if isinstance(line, str):
        return line
    return line.message.task if line.message.decoded else line.message.note


def _task_colour(line: WaitingLine) -> str:
    if isinstance(line, str):
        return colour("muted")
    return "" if line.message.decoded else colour("warning")


def _step(line: WaitingLine) -> str:
    if isinstance(line, Waiting) and line.message.decoded and line.step is not None:
        return f"step {line.step}"
    return ""


def _message_column(
    title: str, shown: Callable[[Message], Any], **more: Any
) -> Column[WaitingLine]:
    """A column only a decoded message fills."""
    return Column(title, lambda line: "" if (m := _decoded(line)) is None else shown(m), **more)


WAITING_COLUMNS: list[Column[WaitingLine]] = [
    Column("#", lambda line: line.position if isinstance(line, Waiting) else ""),
    _message_column("Priority", lambda m: m.priority, tip=_step),
    Column("Task", _task_text, colour=_task_colour),
    _message_column("Id", lambda m: m.id),
    _message_column("Args", lambda m: _json(m.args)),
    _message_column("Kwargs", lambda m: _json(m.kwargs)),
    _message_column("ETA", lambda m: m.eta or ""),
    _message_column("Retries", lambda m: m.retries or ""),
]


@dataclass(frozen=True)
class HeldLine:
    """A task a worker holds (from `inspect`), or one Redis' unacked hash holds that no
    worker reported."""

    worker: str
    kind: str  # active, reserved, scheduled, or unacked
    task: str | None
    id: str | None
    priority: int | None
    since: str  # when it started, or the ETA it waits for
    worker_tip: str = ""


def held_line(held: dict[str, Any]) -> HeldLine:
    """One entry of control.held_by_workers."""
    started = held["started"]
    at = (
        time.strftime("%H:%M:%S", time.localtime(started))
        if isinstance(started, int | float)
        else ""
    )
    since = held["eta"] or at
    return HeldLine(held["worker"], held["kind"], held["task"], held["id"], held["priority"], since)


def unacked_line(entry: Held) -> HeldLine:
    """Redis: taken, unacknowledged, and no worker said so."""
    message = entry.message
    return HeldLine(
        "(not known)", "unacked", message.task or message.note, message.id, message.priority, "",
        "in Redis' unacked hash; no worker reported it",
    )  # fmt: skip


HELD_COLUMNS: list[Column[HeldLine]] = [
    Column("Worker", lambda line: line.worker, tip=lambda line: line.worker_tip),
    Column("Holds it as", lambda line: line.kind),
    Column("Task", lambda line: line.task),
    Column("Id", lambda line: line.id),
    Column("Priority", lambda line: line.priority),
    Column("Started / ETA", lambda line: line.since),
]


def _order(ran: Ran) -> str:
    if not ran.inverted_by:
        return ""
    return f"inversion: {len(ran.inverted_by)} higher-priority task(s) waited"


RAN_COLUMNS: list[Column[Ran]] = [
    Column("Started", lambda ran: time.strftime("%H:%M:%S", time.localtime(ran.started))),
    Column("Task", lambda ran: ran.task),
    Column("Priority", lambda ran: ran.priority),
    Column("Waited", lambda ran: "" if ran.wait_s is None else f"{ran.wait_s:.2f} s"),
    Column("Worker", lambda ran: ran.worker),
    Column("State", lambda ran: with_symbol(ran.state), colour=lambda ran: state_colour(ran.state)),
    Column(
        "Order",
        _order,
        tip=lambda ran: ", ".join(ran.inverted_by),
        colour=lambda ran: colour("warning") if ran.inverted_by else "",
    ),
]


def queue_model(parent: QObject) -> TableModel[QueueLine]:
    return TableModel(QUEUE_COLUMNS, parent, text_tips=True)


def waiting_model(parent: QObject) -> TableModel[WaitingLine]:
    return TableModel(WAITING_COLUMNS, parent, text_tips=True)


def held_model(parent: QObject) -> TableModel[HeldLine]:
    return TableModel(HELD_COLUMNS, parent, text_tips=True)


def ran_model(parent: QObject) -> TableModel[Ran]:
    return TableModel(RAN_COLUMNS, parent, text_tips=True)
