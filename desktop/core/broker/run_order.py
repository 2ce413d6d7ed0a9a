"""What ran, per queue, in the order it started, and where the order broke priority.

An inversion is a task that started while a task of higher priority was already waiting in the
same queue (one that started later, so it surely waited). "Higher" is the broker's: on RabbitMQ
a higher number (capped at the queue's x-max-priority), on Redis a lower priority step
(priorities in one step are first in, first out, so they never invert). Tasks whose priority
is not known (not sent by the panel, no delivery info) are never counted either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.core.app import priorities

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig


@dataclass(frozen=True)
class Ran:
    id: str
    task: str
    priority: int | None
    sent: float | None
    started: float
    worker: str | None
    state: str
    wait_s: float | None  # started - sent
    inverted_by: tuple[str, ...] = ()  # ids of higher-priority tasks that were waiting


def _still_waiting(row: dict[str, Any], moment: float) -> bool:
    """Sent before `moment` and started after it. A task that never started is not counted:
    it may have been purged, revoked or had its start event lost, and then it would mark
    every later start as an inversion; only what surely waited does."""
    started = row.get("started")
    return isinstance(started, int | float) and started > moment


def started_order(rows: list[dict[str, Any]], queue: str, config: EffectiveConfig) -> list[Ran]:
    """The journal's rows of one queue, most recent start first, inversions marked by the
    broker's own delivery rule for that queue (priorities.delivery_rank)."""
    ranked = [(row, priorities.delivery_rank(config, row.get("priority"), queue)) for row in rows]
    found = []
    for row, own in ranked:
        started = row.get("started")
        if not isinstance(started, int | float):
            continue
        sent = row.get("sent") if isinstance(row.get("sent"), int | float) else None
        waiting_better = tuple(
            str(other["id"])
            for other, theirs in ranked
            if other is not row
            and own is not None
            and theirs is not None
            and theirs < own
            and isinstance(other.get("sent"), int | float)
            and other["sent"] < started
            and _still_waiting(other, started)
        )
        found.append(
            Ran(
                id=str(row["id"]),
                task=str(row.get("name") or "?"),
                priority=row.get("priority"),
                sent=sent,
                started=float(started),
                worker=row.get("worker"),
                state=str(row.get("state") or ""),
                wait_s=None if sent is None else max(0.0, float(started) - sent),
                inverted_by=waiting_better,
            )
        )
    found.sort(key=lambda ran: ran.started, reverse=True)
    return found
