"""Reading a task's result off the result backend: the one poller the Monitor's reconciliation,
the Builder's result polling and `celery-desk run --wait` share.

Each asked the backend with `get_task_meta` and decided by itself which statuses end a task
(the Builder and `run --wait` left out REJECTED and IGNORED, so they kept asking forever) and
how a failure reads. Here: one read, the one finished rule (base/task_states.py), one text for
a failure. Blocking: callers run it off the GUI thread. Values are read as the app's backend
decodes them; the panel's backends accept JSON only (`reconcile.backend_app`, `panel_app`), so a
pickled value raises one of `UNDECODABLE` and is never unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.states import FAILURE
from kombu.exceptions import ContentDisallowed, DecodeError

from desktop.core.base.task_states import is_finished

# What the backend raises for a stored value the panel will not decode (pickle, garbage).
UNDECODABLE: tuple[type[Exception], ...] = (ContentDisallowed, DecodeError)


@dataclass(frozen=True)
class ResultRead:
    """One task's result as the backend holds it now."""

    task_id: str
    state: str  # the backend's status; PENDING when it knows nothing of the task
    value: Any  # the result, or the exception of a FAILURE
    date_done: Any
    priority: int | None  # a backend that keeps it (not Celery's own)

    @property
    def finished(self) -> bool:
        return is_finished(self.state)

    @property
    def outcome(self) -> Any:
        """The value, or a failure as "ExceptionType: message" (what people read)."""
        value = self.value
        return f"{type(value).__name__}: {value}" if self.state == FAILURE else value

    @property
    def text(self) -> str:
        """The outcome as one line: a failure as "ExceptionType: message", a value as repr."""
        return str(self.outcome) if self.state == FAILURE else repr(self.value)


def read_result(app: Celery, task_id: str) -> ResultRead:
    """The task's result, as `app`'s backend reads it. Raises what the backend raises: one of
    `UNDECODABLE` for a value that is not JSON, anything else when it cannot be read."""
    meta = app.backend.get_task_meta(task_id)
    priority = meta.get("priority")
    return ResultRead(
        task_id,
        str(meta.get("status") or ""),
        meta.get("result"),
        meta.get("date_done"),
        priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
    )
