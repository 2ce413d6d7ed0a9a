"""Sending a canvas: every task gets its id before Celery sees it, and the journal keeps what
the broker took, message by message."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.core.app import priorities
from desktop.core.canvas.model import (
    Canvas,
    ChordNode,
    Node,
    TaskNode,
    join_path,
    options_of,
    passed_down,
)
from desktop.core.canvas.published import Keeper, as_published, results_not_awaited
from desktop.core.canvas.signatures import to_signature

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig


@dataclass
class SentNode:
    """One task of a sent canvas: its position, name, id and the options it went with."""

    path: str
    task: str
    id: str
    queue: str | None
    priority: int | None


@dataclass
class Unjournaled:
    """Tasks the broker took that the journal could not keep (disk full, locked, unwritable),
    and why. They WERE sent: sending them again would run them twice."""

    nodes: list[SentNode]
    reason: str

    def said(self, sent: int) -> str:
        return f"sent {sent} task(s), {len(self.nodes)} of them not journaled: {self.reason}"


@dataclass
class Sent:
    """What went out; `unjournaled` when the journal failed to keep some of it (still sent)."""

    root_id: str
    nodes: list[SentNode]
    unjournaled: Unjournaled | None = None


def _sent_nodes(node: Node, path: str, options: dict[str, Any]) -> list[SentNode]:
    """Every task of the tree with a new id, and the queue and priority the canvas gives it
    (what Celery then publishes is taken from the messages: `_as_published`)."""
    merged = options_of(node, options)
    if isinstance(node, TaskNode):
        task_id = str(uuid.uuid4())
        return [SentNode(path, node.task, task_id, merged.get("queue"), merged.get("priority"))]
    if isinstance(node, ChordNode):
        found = []
        for index, child in enumerate(node.header):
            found += _sent_nodes(child, join_path(path, index), merged)
        return found + _sent_nodes(node.body, join_path(path, len(node.header)), merged)
    found = []
    for index, child in enumerate(node.children):
        found += _sent_nodes(child, join_path(path, index), passed_down(node, index, merged))
    return found


def _root_id(result: Any) -> str:
    """The id of what the workflow starts with, from Celery's result tree (each result links to
    the one before it): the first task's id, which every task of it carries as its root id;
    for a canvas that starts with a group or a chord's header, that group's id as sent."""
    while getattr(result, "parent", None) is not None:
        result = result.parent
    return str(result.id)


class SendError(Exception):
    """Sending stopped part way; `sent` are the tasks whose messages the broker took (they are
    the ones recorded), out of `total`; `unjournaled` those of them the journal failed to keep."""

    def __init__(
        self,
        cause: BaseException,
        sent: list[SentNode],
        total: int,
        unjournaled: Unjournaled | None = None,
    ) -> None:
        said = f"{len(sent)} of {total} task(s) sent, then {type(cause).__name__}: {cause}"
        if unjournaled is not None:
            said += f"; {len(unjournaled.nodes)} of them not journaled: {unjournaled.reason}"
        super().__init__(said)
        self.sent = sent
        self.total = total
        self.unjournaled = unjournaled


class Cancelled(Exception):
    """The person cancelled the send: what went out before stays out (`SendError.sent`)."""


@contextlib.contextmanager
def _stoppable(app: Any, cancel: threading.Event | None) -> Iterator[None]:
    """While sending, each task message looks at `cancel` before it is published (Celery's
    `amqp.send_task_message`, which every apply_async of a canvas goes through): once set, the
    next one raises Cancelled inside Celery's loop, so no further message goes out. The
    publish signals cannot stop it: Celery logs what their receivers raise and goes on."""
    if cancel is None:
        yield
        return
    amqp = app.amqp
    publish = amqp.send_task_message

    def checked(*args: Any, **kwargs: Any) -> Any:
        if cancel.is_set():
            raise Cancelled("cancelled")
        return publish(*args, **kwargs)

    amqp.send_task_message = checked
    try:
        yield
    finally:
        del amqp.send_task_message  # the class's method again


def send(
    canvas: Canvas,
    app: Any,
    record: Any = None,
    config: EffectiveConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Sent:
    """Give every task its id, send, and let `record(SentNode)` keep what went out (the
    journal: priority and queue travel in no event). The ids are chosen here rather than read
    back from Celery: Celery freezes copies of some signatures while sending (the header of a
    chord, a group followed by a step in a chain), so ids read from our own signatures can be
    missing or not the ones sent, while an id set beforehand is the one its task message
    carries. With the app's configuration, a task sent without a queue or priority is recorded
    with the queue the app's routes pick and the priority the app sends (its
    task_default_priority).

    A task is recorded as soon as the broker has taken its message (Celery's
    after_task_publish), with the tasks that message carries for a worker to send later (a
    chain's later steps, a chord's body): a process ended mid-send has journaled what went out,
    and a send that fails part way records only what was sent and raises SendError.

    A `record` that fails (the journal full, locked, unwritable) never makes a sent task look
    unsent: the rest are sent and not recorded (one failure is enough to stop asking a failing
    journal), and `Sent.unjournaled` (or `SendError.unjournaled`) says which and why."""
    nodes = _sent_nodes(canvas.root, "", {})
    if config is not None:
        for node in nodes:
            node.queue = node.queue or config.routed_queue(node.task)
            node.priority = priorities.sent_priority(config, node.task, {"priority": node.priority})
    built = to_signature(
        canvas.root, app, sending=True, task_ids={node.path: node.id for node in nodes}
    )
    keeper = Keeper(record)
    told: set[str] = set()

    def keep(node: SentNode, *, again: bool = True) -> None:
        keeper.keep(node, again=again)
        if progress is not None and node.id not in told:
            told.add(node.id)
            progress(len(told), len(nodes))

    with (
        results_not_awaited(app),
        _stoppable(app, cancel),
        as_published(nodes, keep) as published,
    ):
        try:
            result = built.apply_async()
        except Exception as exc:
            raise SendError(exc, list(published), len(nodes), _unjournaled(keeper)) from exc
    for node in nodes:  # anything Celery sent in a way not seen above is recorded now
        keeper.keep(node, again=False)
    return Sent(_root_id(result), nodes, _unjournaled(keeper))


def _unjournaled(keeper: Keeper) -> Unjournaled | None:
    return None if keeper.failure is None else Unjournaled(list(keeper.missed), keeper.failure)
