"""The alert engine: the rules of a profile (alert_rules.py) checked against what the pipeline
sees, firing once when a condition becomes true and resolving when it is false again.

Fed from three places, each on its own thread: the Monitor's batches (`feed_diff`, on the
event stream's batch thread: finished tasks, worker rows, "an event was heard"), a queue poll
(`feed_queues`: the counts and oldest ages queues.snapshot computes), and `tick` (the
recorder's loop, or a window's timer), which evaluates every rule and returns what fired or
resolved since the last tick. Feeding and ticking take one lock and do only in-memory work
(no I/O but the alerts log's append), so a window may tick from its GUI thread.

Edge triggering: each (rule, target) is firing or not; a tick fires an `Alert` only when it
turns true, and a RESOLVED one when it turns false. A condition that cannot be said (a queue
whose count failed, a failure rate with nothing finished) keeps the previous state: an
unknown is neither a new alert nor a resolution.

Subscribers (`subscribe`) are called with each Alert on the thread that called `tick`, after
the lock is released; one that raises is logged and never stops the others. Qt-free.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop.core.base.task_states import is_finished
from desktop.core.broker.queue_latency import Oldest
from desktop.core.broker.queue_types import QueueCounts
from desktop.core.monitor.alert_log import AlertLog
from desktop.core.monitor.alert_rules import (
    BEAT_MISSED,
    NO_EVENTS,
    QUEUE_KINDS,
    QUEUE_LATENCY,
    QUEUE_LENGTH,
    TASK_FAILURES,
    TASK_KINDS,
    WORKER_OFFLINE,
    AlertRule,
)
from desktop.core.monitor.state import OFFLINE_AFTER_S, StateDiff, TaskRow, WorkerRow
from desktop.core.monitor.task_search import Search

log = logging.getLogger(__name__)
FIRING = "firing"
RESOLVED = "resolved"
# Finished tasks kept per task rule (within its window): a flood of failures is counted up to
# this many, which is far past any threshold a person sets.
MAX_FINISHED_KEPT = 100_000
COUNTED_IDS_KEPT = 100_000  # task ids already counted as finished (a row comes back changed)


@dataclass(frozen=True)
class Alert:
    """One firing (or resolution) of one rule for one target. `target` is what a screen
    filters by: {"task": query} for the task kinds, {"queue": name}, {"worker": hostname},
    {"entry": name} for a periodic task's missed runs, or {} for no-events."""

    rule: str
    kind: str
    state: str  # FIRING or RESOLVED
    message: str
    value: float | None
    threshold: float
    at: float
    target: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "kind": self.kind, "state": self.state, "message": self.message,
            "value": self.value, "threshold": self.threshold, "at": self.at,
            "target": dict(self.target),
        }  # fmt: skip


@dataclass
class _TaskWindow:
    """The finished tasks one task rule counts: (finished at, failed), oldest first."""

    search: Search
    finished: deque[tuple[float, bool]] = field(default_factory=deque)
    failed: int = 0  # of `finished`, kept as they come and go: a tick never counts them

    def add(self, at: float, failed: bool) -> None:
        if len(self.finished) >= MAX_FINISHED_KEPT:
            self.failed -= self.finished.popleft()[1]
        self.finished.append((at, failed))
        self.failed += failed

    def forget_before(self, since: float) -> None:
        while self.finished and self.finished[0][0] < since:
            self.failed -= self.finished.popleft()[1]


@dataclass(frozen=True)
class _Check:
    """One (rule, target) as a tick found it: `holds` None when it cannot be said."""

    key: tuple[str, str]
    holds: bool | None
    value: float | None
    message: str
    target: dict[str, str]


class AlertEngine:
    def __init__(
        self,
        rules: Iterable[AlertRule] = (),
        *,
        clock: Callable[[], float] = time.time,
        alert_log: AlertLog | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.log = alert_log if alert_log is not None else AlertLog(None)
        self._subscribers: list[Callable[[Alert], None]] = []
        self._rules: tuple[AlertRule, ...] = ()
        self._windows: dict[str, _TaskWindow] = {}
        self._counted: OrderedDict[str, None] = OrderedDict()
        self._workers: dict[str, WorkerRow] = {}
        self._offline_seen: dict[str, float] = {}  # worker -> when its offline row came
        self._queues: dict[str, tuple[int | None, float | None]] = {}  # waiting, oldest age
        self._last_event = clock()
        self._beat: dict[str, int] = {}  # periodic task -> missed runs in a row
        self._firing: dict[tuple[str, str], Alert] = {}
        self.set_rules(tuple(rules))

    # -- rules and subscribers -------------------------------------------------------------
    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    @property
    def watches_queues(self) -> bool:
        """Whether a rule reads the queues: the recorder polls them only then."""
        return any(rule.kind in QUEUE_KINDS for rule in self._rules)

    @property
    def watches_beat(self) -> bool:
        """Whether a rule reads periodic tasks' missed runs: the Beat screen keeps reading."""
        return any(rule.kind == BEAT_MISSED for rule in self._rules)

    def queues_watched(self, known: Iterable[str]) -> list[str]:
        """The queues a poll should read: `known` (the app's) and every queue a rule names."""
        names = dict.fromkeys(known)
        names.update(dict.fromkeys(r.queue for r in self._rules if r.kind in QUEUE_KINDS))
        names.pop("", None)
        return list(names)

    def set_rules(self, rules: tuple[AlertRule, ...]) -> None:
        """Replace the rules (an edited file): a kept rule keeps its state and counts; a
        removed one, or one whose kind changed (its targets are no longer checked), is
        forgotten without a resolution."""
        with self._lock:
            self._rules = rules
            kinds = {rule.name: rule.kind for rule in rules}
            self._firing = {k: a for k, a in self._firing.items() if kinds.get(k[0]) == a.kind}
            windows = {}
            for rule in rules:
                if rule.kind in TASK_KINDS:
                    old = self._windows.get(rule.name)
                    search = rule.search()
                    keep = old is not None and old.search.text == search.text
                    windows[rule.name] = old if keep and old else _TaskWindow(search)
            self._windows = windows

    def subscribe(self, callback: Callable[[Alert], None]) -> Callable[[], None]:
        """Call `callback` with each Alert a tick makes (on the ticking thread); returns the
        function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def firing(self) -> list[Alert]:
        """The alerts firing now, oldest first (a badge's count)."""
        with self._lock:
            return sorted(self._firing.values(), key=lambda a: a.at)

    # -- feeding ---------------------------------------------------------------------------
    def feed_diff(self, diff: StateDiff, at: float | None = None) -> None:
        """A Monitor batch: its finished tasks, its worker rows, and that events were heard."""
        now = self._clock() if at is None else at
        with self._lock:
            self._last_event = max(self._last_event, now)
            for row in (*diff.tasks_added, *diff.tasks_changed):
                if is_finished(row.state) and row.id not in self._counted:
                    self._count_finished(row, diff.journaled.get(row.id), now)
            self._feed_workers(diff.workers_changed, now)

    def feed_workers(self, rows: Iterable[WorkerRow], at: float | None = None) -> None:
        with self._lock:
            self._feed_workers(rows, self._clock() if at is None else at)

    def feed_queues(self, counts: list[QueueCounts], oldest: Mapping[str, Oldest]) -> None:
        """One queue poll (queues.snapshot's `counts` and `oldest`). A queue whose count
        failed is unknown until the next poll."""
        with self._lock:
            for entry in counts:
                waiting = None if entry.error else entry.waiting
                dated = oldest.get(entry.queue)
                age = dated.age_s if dated is not None else (None if waiting else 0.0)
                self._queues[entry.queue] = (waiting, age)

    def feed_beat(self, streaks: Mapping[str, int]) -> None:
        """A reading of the periodic tasks' missed runs (beat/runs.py): per entry judged, the
        due runs missed since beat's last send. An entry not in it is unknown until it is."""
        with self._lock:
            self._beat = dict(streaks)

    def _count_finished(
        self, row: TaskRow, journaled: Mapping[str, Any] | None, now: float
    ) -> None:
        self._counted[row.id] = None
        if len(self._counted) > COUNTED_IDS_KEPT:
            self._counted.popitem(last=False)
        fields: dict[str, Any] = dict(vars(row))
        if journaled:  # what events never carry: the queue and priority the panel recorded
            fields.update({k: journaled.get(k) for k in ("queue", "priority")})
        failed = row.state == "FAILURE"
        finished_at = row.finished or now
        for window in self._windows.values():
            if window.search.holds(fields):
                window.add(finished_at, failed)

    def _feed_workers(self, rows: Iterable[WorkerRow], now: float) -> None:
        for row in rows:
            self._workers[row.hostname] = row
            if row.online:
                self._offline_seen.pop(row.hostname, None)
            else:
                self._offline_seen.setdefault(row.hostname, now)

    # -- evaluating ------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Alert]:
        """Evaluate every rule; the alerts that fired or resolved since the last tick, also
        given to the subscribers and the alerts log."""
        moment = self._clock() if now is None else now
        made: list[Alert] = []
        with self._lock:
            for rule in self._rules:
                for check in self._checks(rule, moment):
                    alert = self._edge(rule, check, moment)
                    if alert is not None:
                        made.append(alert)
            subscribers = list(self._subscribers)
        for alert in made:
            self.log.append(alert)
            for callback in subscribers:
                try:
                    callback(alert)
                except Exception:
                    log.exception("an alert subscriber failed on %s", alert.rule)
        return made

    def _edge(self, rule: AlertRule, check: _Check, now: float) -> Alert | None:
        was = self._firing.get(check.key)
        if check.holds is None or check.holds == (was is not None):
            return None
        state = FIRING if check.holds else RESOLVED
        message = check.message if check.holds else f"resolved: {check.message}"
        alert = Alert(rule.name, rule.kind, state, message, check.value, rule.threshold, now,
                      check.target)  # fmt: skip
        if check.holds:
            self._firing[check.key] = alert
        else:
            del self._firing[check.key]
        return alert

    def _checks(self, rule: AlertRule, now: float) -> list[_Check]:
        if rule.kind in TASK_KINDS:
            return [self._task_check(rule, now)]
        if rule.kind in QUEUE_KINDS:
            return self._queue_checks(rule)
        if rule.kind == WORKER_OFFLINE:
            return self._worker_checks(rule, now)
        if rule.kind == BEAT_MISSED:
            return self._beat_checks(rule)
        if rule.kind == NO_EVENTS:
            quiet = now - self._last_event
            text = f"no event heard for {quiet:.0f} s (rule: more than {rule.threshold:g} s)"
            return [_Check((rule.name, ""), quiet > rule.threshold, round(quiet, 3), text, {})]
        return []

    def _task_check(self, rule: AlertRule, now: float) -> _Check:
        window = self._windows[rule.name]
        window.forget_before(now - rule.minutes * 60.0)
        finished, failed = len(window.finished), window.failed
        tasks = f"tasks matching '{rule.task}'" if rule.task else "tasks"
        target = {"task": rule.search().text}
        minutes = f"{rule.minutes:g} min"
        if rule.kind == TASK_FAILURES:
            text = (f"{failed} {tasks} failed in the last {minutes} "
                    f"(rule: more than {rule.threshold:g})")  # fmt: skip
            return _Check((rule.name, ""), failed > rule.threshold, failed, text, target)
        if not finished:  # FAILURE_RATE of nothing finished: not known
            return _Check((rule.name, ""), None, None, "", target)
        rate = 100.0 * failed / finished
        text = (f"{rate:.0f} % of {tasks} failed in the last {minutes} ({failed} of "
                f"{finished}; rule: more than {rule.threshold:g} %)")  # fmt: skip
        return _Check((rule.name, ""), rate > rule.threshold, round(rate, 3), text, target)

    def _queue_checks(self, rule: AlertRule) -> list[_Check]:
        found = []
        for queue, (waiting, age) in self._queues.items():
            if rule.queue and queue != rule.queue:
                continue
            target = {"queue": queue}
            holds: bool | None
            if rule.kind == QUEUE_LENGTH:
                holds = None if waiting is None else waiting > rule.threshold
                text = f"{waiting} waiting in queue '{queue}' (rule: more than {rule.threshold:g})"
                found.append(_Check((rule.name, queue), holds, waiting, text, target))
            elif rule.kind == QUEUE_LATENCY:
                # emptied: resolved; waiting with nothing to date it: unknown
                holds = False if waiting == 0 else None if age is None else age > rule.threshold
                shown = "?" if age is None else f"{age:.1f}"
                text = (f"the oldest message in queue '{queue}' has waited {shown} s "
                        f"(rule: more than {rule.threshold:g} s)")  # fmt: skip
                found.append(_Check((rule.name, queue), holds, age, text, target))
        return found

    def _worker_checks(self, rule: AlertRule, now: float) -> list[_Check]:
        found = []
        for hostname, row in self._workers.items():
            if rule.worker and not fnmatch.fnmatchcase(hostname, rule.worker):
                continue
            since = self._offline_since(row, now)
            offline_for = None if since is None else max(0.0, now - since)
            holds = offline_for is not None and offline_for > rule.threshold
            heard = "" if row.heartbeat is None else f", last heard {now - row.heartbeat:.0f} s ago"
            text = (f"worker '{hostname}' offline for {offline_for or 0:.0f} s{heard} "
                    f"(rule: more than {rule.threshold:g} s)")  # fmt: skip
            value = None if offline_for is None else round(offline_for, 3)
            found.append(_Check((rule.name, hostname), holds, value, text, {"worker": hostname}))
        return found

    def _beat_checks(self, rule: AlertRule) -> list[_Check]:
        """One per periodic task: it fires once when its streak of missed runs passes the
        threshold, and resolves when beat's next send of it is heard (the streak ends)."""
        found = []
        for name, streak in self._beat.items():
            text = (f"periodic task '{name}' missed {streak} due run{'s' if streak != 1 else ''}"
                    f" in a row (rule: more than {rule.threshold:g})")  # fmt: skip
            found.append(_Check((rule.name, name), streak > rule.threshold, streak, text,
                                {"entry": name}))  # fmt: skip
        return found

    def _offline_since(self, row: WorkerRow, now: float) -> float | None:
        """When the worker went offline by state.py's rule (`worker_online`): at its
        worker-offline event, or OFFLINE_AFTER_S after its last heartbeat; None if online."""
        if not row.online:
            return self._offline_seen.get(row.hostname, now)
        if row.heartbeat is not None and now - row.heartbeat >= OFFLINE_AFTER_S:
            return row.heartbeat + OFFLINE_AFTER_S
        return None
