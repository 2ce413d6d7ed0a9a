"""What the diagnosis of one task is judged on, and gathering it (the blocking half).

Gathering asks four sources, each within its own bound (`bounds.within`), and keeps going when
one does not answer: the journal (the task's row and events), the result backend (its state),
the broker (where the message waits, or the Redis unacked hash), and the workers (`inspect`:
what they consume, know, hold and have revoked). A source that did not answer leaves its facts
`None` and says so in `unanswered`; the checks then answer "unknown" for what needed it.

The judging half (checks.py) is pure: the GUI gathers off its thread and judges anywhere, and
the checks are tested on hand-made Facts without a cluster.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from celery import Celery

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import client_app
from desktop.core.app.results import UNDECODABLE, read_result
from desktop.core.base.bounds import NoAnswer, within
from desktop.core.base.task_record import TaskRecord, queue_of
from desktop.core.broker import control
from desktop.core.broker.control import REPLY_TIMEOUT_S
from desktop.core.broker.queue_messages import Message
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.queue_types import Held, QueueError
from desktop.core.broker.queues import Inspector, inspector
from desktop.core.settings.profile_model import Endpoints

# How far down each queue the search for the task reads (Redis: one page per round trip).
SEARCH_PAGE = 1000
SEARCH_LIMIT = 20_000


class TaskJournal(Protocol):
    """What the diagnosis reads from a journal (JournalReader, Journal)."""

    def get(self, task_id: str) -> TaskRecord | None: ...

    def timeline(self, task_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class QueuePlace:
    """Where the task's message waits: its place in the delivery order (0: next) and what is
    ahead of it, counted by priority (None: a message with no priority)."""

    queue: str
    position: int
    step: int | None
    message: Message
    ahead_by_priority: dict[int | None, int] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything the checks read about one task. `None`: that source was not asked or did
    not answer (see `unanswered`); an empty list or dict is an answer (no workers, say)."""

    task_id: str
    config: EffectiveConfig
    now: float = field(default_factory=time.time)
    has_result_backend: bool = True
    # the journal
    record: TaskRecord | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    journal_read: bool = False
    # the result backend
    result_state: str | None = None
    result_value: Any = None
    result_done: Any = None
    # the broker
    place: QueuePlace | None = None
    queues_read: list[str] | None = None
    unacked: Held | None = None
    unacked_since: float | None = None  # when the worker took it (Redis keeps the time)
    broker_note: str = ""  # why the contents were not read (RabbitMQ), when they were not
    # RabbitMQ: how many wait in the task's queue, counted without reading the contents
    uncounted_waiting: dict[str, int] = field(default_factory=dict)
    # the workers
    workers: dict[str, dict[str, Any]] | None = None  # inspect_workers
    registered: dict[str, list[str]] | None = None
    held: list[dict[str, Any]] | None = None  # held_by_workers
    revoked_by: list[str] | None = None
    unanswered: list[str] = field(default_factory=list)  # "WHAT did not answer within N s"

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The task's journaled events of one type ("task-revoked"), their fields decoded."""
        found = []
        for event in self.timeline:
            if event.get("type") != kind:
                continue
            try:
                fields = json.loads(event.get("fields") or "{}")
            except (TypeError, ValueError):
                fields = {}
            found.append(
                {**(fields if isinstance(fields, dict) else {}), "_at": event["timestamp"]}
            )
        return found


def gather(
    task_id: str,
    config: EffectiveConfig,
    *,
    app: Celery | None,
    journal: TaskJournal | None,
    queues: Inspector | None,
    timeout: float,
) -> Facts:
    """Ask every source about `task_id`, each within `timeout` seconds. `app`: the panel's
    client app of the person's app (client_app: its backend and control exchange), None when
    the broker is not to be asked; `journal` None when there is none yet."""
    facts = Facts(task_id, config, has_result_backend=_has_backend(app))
    if journal is not None:
        _ask(facts, timeout, "the journal", _read_journal, facts, journal)
    if app is not None and facts.has_result_backend:
        _ask(facts, timeout, "the result backend", _read_backend, facts, app)
    if queues is not None:
        _ask(facts, timeout, "the broker (reading the queues)", _read_queues, facts, queues)
    if app is not None:  # up to seven broadcasts, each waiting at most REPLY_TIMEOUT_S
        _ask(
            facts, max(timeout, 8 * REPLY_TIMEOUT_S), "the workers (inspect)", _inspect, facts, app
        )
    return facts


def gather_for(
    task_id: str,
    config: EffectiveConfig,
    endpoints: Endpoints,
    journal: TaskJournal | None,
    timeout: float,
) -> Facts:
    """`gather` on a profile's broker and backend: the panel's client app of the person's app
    and the broker's queue reader made here and closed after (what the CLI and a window's
    job call, off the GUI thread)."""
    app = client_app(config, endpoints, poll_results=True)
    source = inspector(endpoints.broker_url, config, endpoints.management_url)
    try:
        return gather(task_id, config, app=app, journal=journal, queues=source, timeout=timeout)
    finally:
        source.close()
        app.close()


def _ask(facts: Facts, seconds: float, what: str, read: Any, *args: Any) -> None:
    try:
        within(seconds, what, read, *args)
    except NoAnswer as exc:
        facts.unanswered.append(str(exc))
    except (QueueError, OSError, ConnectionError) as exc:
        facts.unanswered.append(f"{what}: {exc}")
    except Exception as exc:  # a broker or backend error of any client library
        facts.unanswered.append(f"{what}: {type(exc).__name__}: {exc}")


def _has_backend(app: Celery | None) -> bool:
    if app is None:
        return True  # not asked: judged unknown elsewhere, never "no backend"
    from celery.backends.base import DisabledBackend

    return not isinstance(app.backend, DisabledBackend)


def _read_journal(facts: Facts, journal: TaskJournal) -> None:
    facts.record = journal.get(facts.task_id)
    facts.timeline = journal.timeline(facts.task_id)
    facts.journal_read = True


def _read_backend(facts: Facts, app: Celery) -> None:
    try:
        read = read_result(app, facts.task_id)
    except UNDECODABLE as exc:  # a stored value the panel will not decode: the state is known
        facts.result_state, facts.result_value = "?", f"not decoded: {exc}"
        return
    facts.result_state, facts.result_value, facts.result_done = (
        read.state,
        read.value,
        read.date_done,
    )


def _read_queues(facts: Facts, source: Inspector) -> None:
    """The task's message in the queues of the app (and the one the journal names), in
    delivery order; on Redis also the unacked hash. RabbitMQ's contents are read only by
    taking messages (which marks them redelivered), so they are not read here."""
    names = list(dict.fromkeys([*_journal_queue(facts), *facts.config.queue_names()]))
    if not isinstance(source, RedisQueues):
        facts.broker_note = "RabbitMQ's queue contents are not read (only by taking them)"
        for counts in source.counts(_journal_queue(facts)):
            if counts.waiting:
                facts.uncounted_waiting[counts.queue] = counts.waiting
            facts.broker_note += (
                f"; '{counts.queue}' holds {counts.waiting} waiting, {counts.unacked} unacked"
                if counts.waiting is not None
                else f"; '{counts.queue}': {counts.error or 'not counted'}"
            )
        return
    for held in source.unacked():
        if held.message.id == facts.task_id:
            facts.unacked = held
            facts.unacked_since = source.taken_at(held.delivery_tag)
            break
    facts.queues_read = []
    for name in names:
        facts.queues_read.append(name)
        place = _find_in_queue(source, name, facts.task_id)
        if place is not None:
            facts.place = place
            return


def _journal_queue(facts: Facts) -> list[str]:
    if facts.record is None:
        return []
    found = queue_of(facts.record, facts.config.routing())
    return [found] if found else []


def _find_in_queue(source: RedisQueues, queue: str, task_id: str) -> QueuePlace | None:
    ahead: dict[int | None, int] = {}
    offset = 0
    while offset < SEARCH_LIMIT:
        page = source.waiting(queue, offset, SEARCH_PAGE)
        for entry in page:
            if entry.message.id == task_id:
                return QueuePlace(queue, entry.position, entry.step, entry.message, ahead)
            priority = entry.message.priority
            ahead[priority] = ahead.get(priority, 0) + 1
        if len(page) < SEARCH_PAGE:
            return None
        offset += SEARCH_PAGE
    return None


def _inspect(facts: Facts, app: Celery) -> None:
    """One ping, then each inspection stops as soon as every worker that answered it did;
    no worker answering is an answer (none), not worth six more waits."""
    expected = len(control.answering_workers(app))
    if not expected:
        facts.workers, facts.registered, facts.held, facts.revoked_by = {}, {}, [], []
        return
    facts.workers = control.inspect_workers(app, expected=expected)
    facts.registered, _consumed = control.registered_and_consumed(app, expected=expected)
    facts.held = control.held_by_workers(app, expected=expected)
    facts.revoked_by = control.holding_revocation(app, facts.task_id, expected=expected)
