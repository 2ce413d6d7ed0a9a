"""Missed runs: a time an entry was due that the journal never saw it sent.

An entry's due times are walked with Celery's own schedule classes (`schedule` for an
interval, `crontab` in the entry's timezone), each asked "when after this moment?" by its
`remaining_estimate`, with its clock set to that moment. They are compared with what the journal
heard of the entry's task: a beat send is its `task-sent` (beat's app sends one only with
`task_send_sent_event`) or, without it, a worker's `task-received`; what the panel sent itself
("Run now") is not beat's and never counts.

- Interval: beat sends at its last run plus the interval, so the walk is anchored on each send
  seen; after a due time missed, the next is one interval later (beat's last run did not move).
  Before the first send seen, the anchor is where the watch starts: beat's last run was then or
  earlier, so its due time is no later than one interval on, and one not seen by then is missed.
- Crontab: the due times are fixed; a send within the tolerance of one is its run. A late send
  (beat started again and caught up) is not that run, but it ends the streak.

The tolerance (`tolerance_s`): a quarter of the interval (of the time to the next due time for
a crontab), at least TOLERANCE_MIN_S and at most TOLERANCE_MAX_S, and always under half of the
interval. Why: beat wakes on the due time and sends within milliseconds, but its host's clock
may differ from the panel's by a second or so and the event takes its trip; under half the
interval, a late send is never taken for the next run's.

Only what was watched is judged (`Watch`): from the first event the journal holds to the end of
the watch (now while the panel listens, else its last write), minus the journal's gaps (the
windows it knows it did not hear). A due time in a gap, or closer than the tolerance to either
end, is neither seen nor missed. Other kinds of schedule (solar, clocked, rrule, custom) are not
walked: their result says so. Qt-free.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule

TOLERANCE_MIN_S = 1.0
TOLERANCE_MAX_S = 60.0
TOLERANCE_FRACTION = 0.25
WINDOW_S = 7 * 86400.0  # judged at most this far back (and MAX_DUE due times)
MAX_DUE = 2000  # due times walked per entry and window at most (an interval's window shrinks)
MISSED_KEPT = 100  # the latest missed due times kept (the count has all of them)
WALKED = ("interval", "crontab")


@dataclass(frozen=True)
class Watch:
    """What the journal heard: from `start` to `end` (epoch seconds) minus `gaps`."""

    start: float
    end: float
    gaps: Sequence[tuple[float, float]] = ()

    def covers(self, at: float, margin: float) -> bool:
        if at - margin < self.start or at + margin > self.end:
            return False
        return not any(start - margin <= at <= end + margin for start, end in self.gaps)


@dataclass(frozen=True)
class Missed:
    """One entry's missed runs in a watch. `count` None: not judged (`why_not` says why);
    `streak`: the missed runs since the last send seen (what an alert watches)."""

    name: str
    count: int | None
    streak: int = 0
    missed: list[float] = field(default_factory=list)  # the latest due times missed
    tolerance_s: float = 0.0
    judged: int = 0  # due times judged (seen or missed)
    last_seen: float | None = None
    why_not: str = ""


def tolerance_for(period_s: float) -> float:
    """How late (or early) a send may be and still be the run of a due time: see the module."""
    wanted = min(max(TOLERANCE_MIN_S, TOLERANCE_FRACTION * period_s), TOLERANCE_MAX_S)
    return min(wanted, 0.49 * period_s)


@functools.lru_cache(maxsize=16)
def _app_in(tz: str) -> Celery:
    """A bare app whose only use is its timezone, as a crontab reads it from its app."""
    app = Celery("celery-desk-missed", set_as_current=False)
    app.conf.timezone = tz or "UTC"
    return app


def celery_schedule(description: Mapping[str, Any], tz: str, clock: Callable[[], datetime]) -> Any:
    """Celery's schedule object for the child's description of an interval or crontab, its
    clock `clock`; None for another kind."""
    kind = description.get("kind")
    if kind == "interval":
        every = timedelta(seconds=float(description.get("every_s") or 0))
        return schedule(every, bool(description.get("relative")), nowfun=clock, app=_app_in(tz))
    if kind == "crontab":
        fields = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
        spec = {f: str(description.get(f) or "*") for f in fields}
        own_tz = str(description.get("tz") or tz)
        return crontab(**spec, nowfun=clock, app=_app_in(own_tz))
    return None


class _Walker:
    """Due times one after another, each from Celery's `remaining_estimate` at the last."""

    def __init__(self, description: Mapping[str, Any], tz: str) -> None:
        self.at = datetime.now(UTC)
        self.schedule = celery_schedule(description, tz, lambda: self.at)

    def after(self, moment: float) -> float:
        self.at = datetime.fromtimestamp(moment, UTC)
        remaining: timedelta = self.schedule.remaining_estimate(self.at)
        due = moment + max(remaining.total_seconds(), 0.0)
        return due if due > moment else moment + 1.0  # a zero interval: beat's own tick


def missed_runs(
    name: str, description: Mapping[str, Any], tz: str, sends: Sequence[float], watch: Watch
) -> Missed:
    """The due times of one entry in `watch` that no send in `sends` (epoch seconds, beat's
    sends of its task) answered; see the module for the rules."""
    kind = description.get("kind")
    if kind not in WALKED:
        return Missed(name, None, why_not=f"a {kind or 'missing'} schedule is not checked")
    walker = _Walker(description, tz)
    if kind == "interval":
        period = float(description.get("every_s") or 0)
    else:  # a crontab's period: the shortest of its next gaps between two due times (not the
        # time from the watch's start to its first due time, which may be a fraction of one)
        dues = [walker.after(watch.start)]
        for _ in range(3):
            dues.append(walker.after(dues[-1]))
        period = min(later - earlier for earlier, later in pairwise(dues))
    if period <= 0:
        return Missed(name, None, why_not="an interval of 0 is due at every tick of beat")
    tolerance = tolerance_for(period)
    start = max(watch.start, watch.end - min(WINDOW_S, MAX_DUE * period))
    ordered = sorted(s for s in sends if s >= start - period)
    if kind == "interval":
        return _walk_interval(name, walker, ordered, Watch(start, watch.end, watch.gaps), tolerance)
    return _walk_crontab(name, walker, ordered, Watch(start, watch.end, watch.gaps), tolerance)


def _walk_interval(
    name: str, walker: _Walker, sends: list[float], watch: Watch, tolerance: float
) -> Missed:
    anchor, index, judged, streak = watch.start, 0, 0, 0
    missed: list[float] = []
    last_seen: float | None = None
    while True:
        while index < len(sends) and sends[index] <= anchor:
            index += 1
        due = walker.after(anchor)
        if index < len(sends) and sends[index] <= due + tolerance:
            anchor = last_seen = sends[index]
            judged += watch.covers(due, 0.0)
            streak = 0
            continue
        if due + tolerance > watch.end:
            break
        if watch.covers(due, tolerance):
            judged += 1
            missed.append(due)
            streak += 1
        anchor = due
    return Missed(name, len(missed), streak, missed[-MISSED_KEPT:], tolerance, judged, last_seen)


def _walk_crontab(
    name: str, walker: _Walker, sends: list[float], watch: Watch, tolerance: float
) -> Missed:
    moment, index, judged, streak = watch.start, 0, 0, 0
    missed: list[float] = []
    last_seen: float | None = None
    for _ in range(MAX_DUE * 2):
        due = walker.after(moment)
        if due + tolerance > watch.end:
            break
        # sends before this due's window: late ones (a restarted beat catching up) end a streak
        while index < len(sends) and sends[index] < due - tolerance:
            last_seen, streak = sends[index], 0
            index += 1
        seen = index < len(sends) and sends[index] <= due + tolerance
        if seen:
            last_seen, streak = sends[index], 0
            index += 1
            judged += watch.covers(due, tolerance)
        elif watch.covers(due, tolerance):
            judged += 1
            missed.append(due)
            streak += 1
        moment = due
    for late in sends[index:]:
        if late <= watch.end:
            last_seen, streak = late, 0
    return Missed(name, len(missed), streak, missed[-MISSED_KEPT:], tolerance, judged, last_seen)
