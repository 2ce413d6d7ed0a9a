"""Watching a canvas go out: which task messages the broker took (Celery's publish signals),
which tasks each carries for a worker to send later, and recording each as it goes, so what
was sent is journaled even if the process is ended mid-send. Used by `canvas.send`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.core.canvas.sending import SentNode


@contextlib.contextmanager
def results_not_awaited(app: Any) -> Iterator[None]:
    """While sending, Celery registers the result objects of group members with an
    asynchronous result backend (Redis, RPC) to wake whoever waits on them: it subscribes to
    each task's result and keeps the object until the result arrives. Nobody here waits on a
    result (states are read with get_task_meta), so those objects would live, subscribed, until
    the process exits, and then reconnect to unsubscribe while Python shuts down ("Exception
    ignored in AsyncResult.__del__"). While it sends, this thread's backend (Celery makes one
    per thread) registers nothing, as a synchronous backend never does."""
    backend = app.backend
    own = vars(backend).get("add_pending_result")
    backend.add_pending_result = lambda result, *args, **kwargs: result
    try:
        yield
    finally:
        if own is None:
            del backend.add_pending_result
        else:
            backend.add_pending_result = own


class Keeper:
    """Calls `record` once per node (again when its own message says more: its queue and
    priority), and after the first failure collects the rest in `missed` instead of asking a
    failing journal again (a locked one makes each ask wait seconds)."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.kept: set[str] = set()
        self.missed: list[SentNode] = []
        self._missed_ids: set[str] = set()
        self.failure: str | None = None

    def keep(self, node: SentNode, *, again: bool = True) -> None:
        if self.record is None or (node.id in self.kept and not again):
            return
        if self.failure is None:
            try:
                self.record(node)
                self.kept.add(node.id)
                return
            except Exception as exc:  # the journal's failure, reported with what was sent
                self.failure = str(exc) or type(exc).__name__
        if node.id not in self.kept and node.id not in self._missed_ids:
            self._missed_ids.add(node.id)
            self.missed.append(node)


def _carried_ids(
    value: Any, wanted: Mapping[str, SentNode], found: list[str], walked: dict[int, Any]
) -> None:
    """The ids of `wanted` tasks inside a message body (a chain's later steps, a chord's body:
    signatures as dicts whose options hold the task_id). A plain task's own arguments are the
    person's values, not signatures, and are not walked; nor is a container already walked in
    this send (every header task of a chord carries the same body)."""
    if id(value) in walked:
        return
    walked[id(value)] = value  # kept, so that its id is not reused while sending
    if isinstance(value, dict):
        options = value.get("options")
        if isinstance(options, dict):
            task_id = options.get("task_id")
            if isinstance(task_id, str) and task_id in wanted:
                found.append(task_id)
        plain_task = "subtask_type" in value and value.get("subtask_type") is None
        for key, inner in value.items():
            if plain_task and key in ("args", "kwargs"):
                continue
            if isinstance(inner, (dict, list, tuple)):
                _carried_ids(inner, wanted, found, walked)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            if isinstance(inner, (dict, list, tuple)):
                _carried_ids(inner, wanted, found, walked)


def _embedded(body: Any) -> Any:
    """What a task message carries besides its own arguments: protocol 2's embed (callbacks,
    errbacks, chain, chord); for protocol 1 and Celery's own tasks (a chord_unlock carries the
    chord's body in its arguments), the whole body."""
    if isinstance(body, tuple) and len(body) == 3:
        return body[2]
    return body


@contextlib.contextmanager
def as_published(nodes: list[SentNode], keep: Any = None) -> Iterator[list[SentNode]]:
    """Each task message as Celery publishes it, in this thread: `before_task_publish` gives
    the queue it is routed to and its priority (a container's options reach its tasks by
    Celery's own rules: the outer ones win, and some containers drop theirs when sent inside
    another, so what went out is taken from the message, not worked out again);
    `after_task_publish` says the broker took it, and `keep` is called with it and then with
    each task the message carries (a worker sends those later; they keep what the canvas
    said). Yields the nodes sent so far, in order."""
    from celery.signals import after_task_publish, before_task_publish

    by_id = {node.id: node for node in nodes}
    published: list[SentNode] = []
    seen: set[str] = set()
    walked: dict[int, Any] = {}
    thread = threading.get_ident()

    def ours(headers: Any) -> SentNode | None:
        if threading.get_ident() != thread:
            return None
        return by_id.get(str((headers or {}).get("id")))

    def routed(
        sender: Any = None,
        headers: Any = None,
        properties: Any = None,
        routing_key: Any = None,
        declare: Any = None,
        **_: Any,
    ) -> None:
        node = ours(headers)
        if node is None:
            return
        queue = next((str(q.name) for q in declare or [] if getattr(q, "name", None)), None)
        priority = (properties or {}).get("priority")
        node.queue = queue or node.queue
        node.priority = priority if isinstance(priority, int) else node.priority

    def taken(sender: Any = None, headers: Any = None, body: Any = None, **_: Any) -> None:
        if threading.get_ident() != thread:
            return
        node = ours(headers)
        if node is not None:
            if node.id not in seen:
                seen.add(node.id)
                published.append(node)
            if keep is not None:
                keep(node)
        carried: list[str] = []
        _carried_ids(_embedded(body) if node is not None else body, by_id, carried, walked)
        for task_id in carried:
            if task_id not in seen:
                seen.add(task_id)
                published.append(by_id[task_id])
                if keep is not None:
                    keep(by_id[task_id], again=False)

    before_task_publish.connect(routed, weak=False)
    after_task_publish.connect(taken, weak=False)
    try:
        yield published
    finally:
        before_task_publish.disconnect(routed)
        after_task_publish.disconnect(taken)
