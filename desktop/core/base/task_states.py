"""When a task is finished: the one rule the journal, state, spill, the Builder, the charts and
the CLI share (they each kept a copy, and the copies disagreed: the Builder and `run --wait`
kept polling a REJECTED task forever, the charts counted no revoked task as finished).

Celery's `READY_STATES` (SUCCESS, FAILURE, REVOKED) plus what the panel also treats as an end:
REJECTED (a worker rejected the message; it sends task-rejected and never runs the task again)
and IGNORED (the task asked Celery not to store a state: nothing more will come). A state not
in this set may still change (PENDING, RECEIVED, STARTED, RETRY, or a custom state)."""

from __future__ import annotations

from celery import states
from celery.events.state import TASK_EVENT_TO_STATE

FINISHED_STATES: frozenset[str] = states.READY_STATES | {states.REJECTED, states.IGNORED}
# The same set in a fixed order, for SQL text and placeholders (a frozenset's order is not).
FINISHED_ORDERED: tuple[str, ...] = tuple(sorted(FINISHED_STATES))
# Worker event subjects ("succeeded" for task-succeeded) that end a task, as Celery's
# `TASK_EVENT_TO_STATE` maps them (IGNORED has no event), in Celery's state precedence:
# succeeded, failed, revoked, rejected. A task that has two (run twice after a redelivery)
# is finished at the first of them that has a time (state.py).
FINISHED_EVENTS: tuple[str, ...] = tuple(
    sorted(
        (s for s, state in TASK_EVENT_TO_STATE.items() if state in FINISHED_STATES),
        key=lambda s: states.precedence(TASK_EVENT_TO_STATE[s]),
    )
)


def is_finished(state: object) -> bool:
    """A state (a task row's, or a result backend's status) after which nothing more comes."""
    return isinstance(state, str) and state in FINISHED_STATES


def finished_sql() -> str:
    """The finished states as an SQL list of literals, `'FAILURE', 'IGNORED', ...`, for
    statements built once (the journal's upserts). They are Celery's constant names, so
    quoting them needs no escaping."""
    return ", ".join(f"'{s}'" for s in FINISHED_ORDERED)
