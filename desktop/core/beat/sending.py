"""Run a periodic task now, as beat would send it.

Celery's beat sends an entry with `task.apply_async(args, kwargs, **options)` (or
`send_task` for a name the app does not register), after evaluating lazy arguments and adding
its own headers (`celery.beat.Scheduler.apply_async`). The beat child caught exactly that
call for each entry (`beat_probe.beat_send`); here the panel's client app, which routes and
merges each task's own options as the person's app does, sends the same task, arguments and
options (queue, priority, exchange, routing key, expires, headers such as django-celery-beat's
`periodic_task_name`). The schedule itself is not touched: its last run and count stay beat's.
The message is journaled as the broker takes it, with the queue and priority it went with
(`canvas.published`, the Builder's own path).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from desktop.core.beat.entries import BeatEntry
from desktop.core.broker.retrying import argsrepr
from desktop.core.canvas.published import Keeper, as_published
from desktop.core.canvas.sending import SentNode


def journal_texts(entry: BeatEntry) -> tuple[str, str]:
    """The arguments as the journal keeps them for a task the panel sent (Celery's argsrepr,
    `retrying.argsrepr`), so its row reads the same before and after its events arrive."""
    return argsrepr(list(entry.send.get("args") or [])), argsrepr(
        dict(entry.send.get("kwargs") or {})
    )


class NotSendable(ValueError):
    """The entry cannot be sent by the panel exactly as beat would; the message says why."""


def send_entry(
    app: Any, entry: BeatEntry, record: Callable[[SentNode], None] | None = None
) -> tuple[SentNode, str | None]:
    """Send `entry` once through `app` (the panel's client app of the profile); `record`
    gets the sent task (its id, queue and priority as the message went) once the broker took
    it. Returns the sent task and, when `record` failed, why (it WAS sent). Raises
    NotSendable before sending anything that would differ from beat's send; a broker error as
    it came."""
    if not entry.sendable:
        raise NotSendable(entry.why_not_sendable())
    send = entry.send
    options = dict(send.get("options") or {})
    options.pop("task_id", None)
    node = SentNode("", entry.task, str(uuid.uuid4()), options.get("queue"), None)
    priority = options.get("priority")
    node.priority = priority if isinstance(priority, int) else None
    keeper = Keeper(record)
    with as_published([node], keeper.keep):
        app.send_task(
            entry.task, list(send.get("args") or []), dict(send.get("kwargs") or {}),
            task_id=node.id, **options,
        )  # fmt: skip
    return node, keeper.failure


def journal_recorder(journal: Any, entry: BeatEntry) -> Callable[[SentNode], None]:
    """`send_entry`'s `record` for a journal: the sent task kept as the panel's own, with
    its arguments as Celery's events will say them, its queue and priority as it went."""
    args_text, kwargs_text = journal_texts(entry)

    def record(node: SentNode) -> None:
        journal.record_submitted(node.id, node.task, args=args_text, kwargs=kwargs_text,
                                 queue=node.queue, priority=node.priority)  # fmt: skip

    return record


AUDIT_ACTION = "beat run"


def audit_params(entry: BeatEntry, sent: SentNode | None = None) -> dict[str, Any]:
    """What the audit log keeps of a "Run now" (the CLI's `beat run` and the Beat screen's)."""
    if sent is None:
        return {"task": entry.task}
    return {"task": entry.task, "source": entry.source, "queue": sent.queue,
            "priority": sent.priority}  # fmt: skip
