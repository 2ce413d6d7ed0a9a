"""Send failed tasks again: one, a selection, or a whole failure group, as the app would.

Retrying is a new task with the old one's name, arguments, queue and priority (Celery has no
"retry this finished task" message: `Task.retry` works only inside the running task). The
arguments come back from the journal's text (Celery's argsrepr), read as literals, never
evaluated or unpickled; a task whose text cannot be read back exactly (cut at 1024 characters,
an object's repr) is refused with the reason, never sent with something else.

Planning (`plan`) reads and checks every task before anything is sent, so a bulk retry that
would refuse some says so up front; sending (`resend`) uses one producer (one connection and
channel) for the whole batch, flushed every SEND_BATCH messages, records each new task once
the broker took it, with `retry_of` linking it to the task it retries, and stops between two
flushes when cancelled.
Blocking: callers run it off the GUI thread.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from celery.utils.saferepr import saferepr

from desktop.core.base.argument_redaction import MASK
from desktop.core.base.task_record import Submitted, TaskRecord, queue_of
from desktop.core.broker.control import ARGSREPR_LIMIT, ControlError, literal

RetryRefused = ControlError  # a task that cannot be sent again as asked; the message says why


@dataclass(frozen=True)
class ArgumentEdit:
    """Arguments that replace the stored ones (`--edit-args`): None keeps what was stored."""

    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, text: str) -> ArgumentEdit:
        """`[1, 2]` replaces the positional arguments; `{"args": [...], "kwargs": {...}}`
        replaces either or both. Anything else is refused with what was expected."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise RetryRefused(f"the edited arguments are not JSON: {exc}") from exc
        if isinstance(value, list):
            return cls(args=value)
        if isinstance(value, dict) and value and set(value) <= {"args", "kwargs"}:
            args, kwargs = value.get("args"), value.get("kwargs")
            if args is not None and not isinstance(args, list):
                raise RetryRefused('"args" must be a JSON list')
            if kwargs is not None and not isinstance(kwargs, dict):
                raise RetryRefused('"kwargs" must be a JSON object')
            return cls(args=args, kwargs=kwargs)
        raise RetryRefused(
            'the edited arguments must be a JSON list (the args) or an object with "args" '
            'and/or "kwargs"'
        )


@dataclass(frozen=True)
class Planned:
    """One task to send again: what goes out, and the task it retries."""

    retry_of: str
    name: str
    args: list[Any] | tuple[Any, ...]  # as stored: its repr in the journal reads the same
    kwargs: dict[str, Any]
    queue: str | None
    priority: int | None

    def options(self) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        if self.queue:
            chosen["queue"] = self.queue
        if self.priority is not None:
            chosen["priority"] = self.priority
        return chosen


@dataclass(frozen=True)
class Refused:
    task_id: str
    reason: str


def plan_one(
    row: TaskRecord | Mapping[str, Any],
    edit: ArgumentEdit | None = None,
    routing: Mapping[str, str] | None = None,
) -> Planned:
    """The task of a journal row, ready to send again; RetryRefused says why it cannot be."""
    name = row.get("name")
    if not name:
        raise RetryRefused("the task's name is not known, so it cannot be sent again")
    edit = edit or ArgumentEdit()
    for key, given in (("args", edit.args), ("kwargs", edit.kwargs)):
        if given is None and repr(MASK) in str(row.get(key) or ""):
            raise RetryRefused(
                f"its {key} hold values the journal keeps hidden ({MASK}, a password or a "
                "token): give them (--edit-args, or the Builder) to send it again; a profile "
                "that keeps real argument values sends later tasks again as they were"
            )
    args = edit.args if edit.args is not None else literal(row.get("args"), ())
    kwargs = edit.kwargs if edit.kwargs is not None else literal(row.get("kwargs"), {})
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise RetryRefused("the stored arguments are not a list and a dict")
    priority = row.get("priority")
    return Planned(
        retry_of=str(row.get("id") or ""),
        name=str(name),
        args=args if isinstance(args, tuple) else list(args),
        kwargs=dict(kwargs),
        queue=queue_of(row, routing),
        priority=priority if isinstance(priority, int) else None,
    )


def plan(
    rows: Iterable[TaskRecord | Mapping[str, Any]],
    edit: ArgumentEdit | None = None,
    routing: Mapping[str, str] | None = None,
) -> tuple[list[Planned], list[Refused]]:
    """Every row planned, or refused with its reason; nothing is sent here."""
    planned: list[Planned] = []
    refused: list[Refused] = []
    for row in rows:
        try:
            planned.append(plan_one(row, edit, routing))
        except RetryRefused as exc:
            refused.append(Refused(str(row.get("id")), str(exc)))
    return planned, refused


@dataclass(frozen=True)
class Resent:
    old_id: str
    new_id: str
    name: str


@dataclass
class RetryOutcome:
    """What a bulk retry did: the tasks sent (in order), and whether it was cancelled or
    failed before the end (`failure`: the broker's error; what was sent before it stays
    sent and recorded)."""

    resent: list[Resent] = field(default_factory=list)
    cancelled: bool = False
    failure: str | None = None
    unrecorded: str | None = None  # the journal refused to record them: why

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of it: counts and what went wrong, not every id."""
        return {
            "sent": len(self.resent),
            "cancelled": self.cancelled,
            "failure": self.failure,
            "unrecorded": self.unrecorded,
        }


SEND_BATCH = 100  # messages buffered per flush (kombu's Producer.batch: Redis pipelines them)


def resend(
    app: Celery,
    planned: list[Planned],
    record: Callable[[list[tuple[Planned, str]]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RetryOutcome:
    """Send `planned` through one producer, SEND_BATCH messages per flush (kombu's
    `Producer.batch`; a transport without batches publishes each at once). After each flush
    the broker holds them: `record([(planned, new_id), ...])` keeps them (one journal
    transaction per flush), `progress(done, total)` is
    told, and `cancel` is looked at. A failing `record` never stops the sending (the tasks
    went out; `unrecorded` says the journal missed them); a broker error ends it, and what
    was not flushed was not sent (kombu discards it) nor recorded."""
    outcome = RetryOutcome()
    total = len(planned)
    flushed: list[tuple[Planned, str]] = []

    def taken() -> None:
        outcome.resent += [Resent(item.retry_of, new_id, item.name) for item, new_id in flushed]
        if record is not None and outcome.unrecorded is None and flushed:
            try:
                record(list(flushed))
            except Exception as exc:  # the journal's failure: said, never unsent
                outcome.unrecorded = str(exc)
        flushed.clear()
        if progress is not None:
            progress(len(outcome.resent), total)

    try:
        with (
            app.producer_or_acquire() as producer,  # one connection for the whole batch
            producer.batch(SEND_BATCH) as batch,
        ):
            for item in planned:
                if cancel is not None and cancel.is_set():
                    outcome.cancelled = True
                    break
                new_id = str(uuid.uuid4())
                app.send_task(
                    item.name,
                    args=item.args,
                    kwargs=item.kwargs,
                    task_id=new_id,
                    producer=producer,
                    **item.options(),
                )
                flushed.append((item, new_id))
                if len(flushed) >= SEND_BATCH:
                    batch.flush()
                    taken()
            batch.flush()
            taken()
    except Exception as exc:  # the broker refused: what went out before stays out
        outcome.failure = f"{type(exc).__name__}: {exc}"
    return outcome


def send_again(
    app: Celery, row: TaskRecord | Mapping[str, Any], routing: Mapping[str, str] | None = None
) -> str:
    """One task sent again (the Tasks screen's button): its new id; the broker's error is
    raised as it came."""
    item = plan_one(row, routing=routing)
    new_id = str(uuid.uuid4())
    app.send_task(item.name, args=item.args, kwargs=item.kwargs, task_id=new_id, **item.options())
    return new_id


def submitted(taken: list[tuple[Planned, str]]) -> list[Submitted]:
    """Sent retries as the journal records them: the call as Celery's argsrepr shows it,
    linked to the task each retries."""
    return [
        Submitted(
            new_id,
            item.name,
            args=argsrepr(item.args),
            kwargs=argsrepr(item.kwargs),
            queue=item.queue,
            priority=item.priority,
            retry_of=item.retry_of,
        )
        for item, new_id in taken
    ]


def argsrepr(value: Any) -> str:
    """Arguments as the journal keeps them for a task the panel sent: Celery's own argsrepr
    (`saferepr`), so the row reads the same before and after the task's events arrive."""
    return str(saferepr(value, ARGSREPR_LIMIT))
