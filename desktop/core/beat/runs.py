"""A periodic task's runs as the journal heard them, its missed runs (missed.py), and whether a
beat process seems alive. Blocking (journal reads): the screen runs it on its job pool.

Matching a run to its entry: Celery's `task-sent` and `task-received` events carry no message
headers, so the journal keeps none and django-celery-beat's `periodic_task_name` header cannot
be read back: a run is matched by its task name, and where several entries send the same task,
by its arguments too (as the journal keeps them: Celery's argsrepr, `sending.journal_texts`).
`matched_by` says which, per entry. What the panel sent itself (`submitted`: "Run now") is a
run of the entry but never one of beat's sends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop.core.base.task_record import TaskRecord
from desktop.core.beat.entries import BeatEntry, BeatReport
from desktop.core.beat.missed import WINDOW_S, Missed, Watch, missed_runs
from desktop.core.beat.sending import journal_texts
from desktop.core.monitor.history_reader import HistoryReader

RUNS_SHOWN = 30  # recent runs kept per entry for the details pane
RUNS_READ = 5000  # rows read per task for the missed runs (newest first)
JOURNAL_LAG_S = 1.0  # events heard are in the journal within about a batch: not judged later
BY_NAME = "task name"
BY_NAME_AND_ARGUMENTS = "task name and arguments"


@dataclass(frozen=True)
class Run:
    id: str
    state: str
    at: float  # sent (its task-sent), else received
    runtime: float | None
    by_panel: bool  # the panel sent it ("Run now"), not beat
    worker: str | None = None


@dataclass(frozen=True)
class BeatRuns:
    """What the journal says of every entry: `missed` and `runs` per entry name."""

    missed: dict[str, Missed] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)
    matched_by: dict[str, str] = field(default_factory=dict)
    watch: Watch | None = None
    unwatched: str = ""  # why nothing is judged (no event heard yet)
    read_at: float = 0.0

    def streaks(self) -> dict[str, int]:
        """Missed runs in a row per judged entry (what the "beat run missed" alert watches)."""
        return {name: m.streak for name, m in self.missed.items() if m.count is not None}

    def last_beat_send(self) -> tuple[str, float] | None:
        """The newest send of beat's seen for any entry: (entry name, when)."""
        found = [(run.at, name) for name, runs in self.runs.items() for run in runs
                 if not run.by_panel]  # fmt: skip
        if not found:
            return None
        at, name = max(found)
        return name, at


class RunsCache:
    """The journal's rows of the periodic tasks, read whole once, then only what changed.

    Why: the runs of one task over the judged window are a range of the (name, ...) index
    that still visits every row of that name (about 1 s for 300,000 rows, a month of a 10 s
    task), too much every two seconds. After the first read, only rows whose `updated` moved
    since the last read (less CHANGED_MARGIN_S) are read, from the `updated` index; a row a
    writer stored late with an older `updated` (the recorder's spill, written after an
    outage) is caught by the full read that `forget` (a new schedules read) brings."""

    CHANGED_MARGIN_S = 30.0

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, TaskRecord]] = {}
        self._tasks: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._since = 0.0

    def forget(self) -> None:
        self._read_at = None

    def rows(
        self, reader: HistoryReader, tasks: set[str], since: float, now: float
    ) -> dict[str, list[TaskRecord]]:
        """{task name: its rows since `since`, newest first}."""
        if self._read_at is None or frozenset(tasks) != self._tasks or since < self._since:
            self._rows = {t: {r["id"]: r for r in reader.runs_of(t, since, RUNS_READ)}
                          for t in tasks}  # fmt: skip
            self._tasks, self._since = frozenset(tasks), since
        else:
            for record in reader.changed_since(tasks, self._read_at - self.CHANGED_MARGIN_S):
                self._rows[str(record["name"])][record["id"]] = record
        self._read_at = now
        return {task: sorted((r for r in rows.values() if _at(r) >= since), key=_at,
                             reverse=True)[:RUNS_READ]
                for task, rows in self._rows.items()}  # fmt: skip


def _at(record: TaskRecord) -> float:
    return float(record.get("sent") or record.get("received") or 0.0)


def _run(record: TaskRecord) -> Run:
    at = record.get("sent") or record.get("received") or 0.0
    return Run(
        str(record["id"]), str(record.get("state") or ""), float(at), record.get("runtime"),
        bool(record.get("submitted")), record.get("worker"),
    )  # fmt: skip


def _judged(entry: BeatEntry) -> str:
    """Why an entry's missed runs are not judged, "" when they are."""
    if entry.error:
        return "its scheduler cannot load it"
    if not entry.enabled:
        return "disabled"
    if entry.state:
        return entry.state
    return ""


def watch_of(reader: HistoryReader, listening: bool, now: float) -> tuple[Watch | None, str]:
    """What the journal heard: from its first event to now (while the panel listens) or its
    last write, minus its gaps."""
    start = reader.first_heard()
    if start is None:
        return None, "the journal has heard no event yet: missed runs are counted from the first"
    end = now - JOURNAL_LAG_S if listening else (reader.last_write() or start)
    gaps = [(g.start, g.end) for g in reader.gaps(200)]
    return Watch(start, max(start, end), gaps), ""


def read_runs(
    reader: HistoryReader,
    report: BeatReport,
    listening: bool,
    now: float | None = None,
    cache: RunsCache | None = None,
) -> BeatRuns:
    """Every entry's recent runs and missed runs, from the journal `reader` reads (through
    `cache` when one is kept between reads)."""
    moment = time.time() if now is None else now
    watch, unwatched = watch_of(reader, listening, moment)
    since = (watch.start if watch else moment) - 1.0
    since = max(since, moment - WINDOW_S - 3600.0)
    sharing = Counter(e.task for e in report.entries)
    rows: dict[str, list[TaskRecord]] = (cache or RunsCache()).rows(
        reader, set(sharing), since, moment
    )
    found = BeatRuns(watch=watch, unwatched=unwatched, read_at=moment)
    for entry in report.entries:
        mine = rows.get(entry.task, [])
        matched = BY_NAME
        if sharing[entry.task] > 1:
            matched = BY_NAME_AND_ARGUMENTS
            mine = [r for r in mine if _same_arguments(r, entry, reader)]
        found.matched_by[entry.name] = matched
        runs = [_run(r) for r in mine]
        found.runs[entry.name] = runs[:RUNS_SHOWN]
        why = _judged(entry) or unwatched
        if why or watch is None:
            found.missed[entry.name] = Missed(entry.name, None, why_not=why)
            continue
        sends = [run.at for run in runs if not run.by_panel and run.at]
        found.missed[entry.name] = missed_runs(
            entry.name, entry.schedule, report.timezone, sends, watch
        )
    return found


def _same_arguments(record: TaskRecord, entry: BeatEntry, reader: HistoryReader) -> bool:
    args, kwargs = journal_texts(entry)
    hide = reader.redactor.text
    return record.get("args") == hide(args) and record.get("kwargs") == hide(kwargs)


def alive_text(report: BeatReport, runs: BeatRuns | None, now: float) -> str:
    """Whether a beat process seems to run: RedBeat's lock when the app uses RedBeat, else the
    newest beat send the journal heard, and whether every judged entry's last due run went
    missing."""
    lock = next((s.lock for s in report.sources.values() if s.lock is not None), None)
    said: list[str] = []
    if lock is not None:
        if lock.get("held"):
            ttl = lock.get("ttl_s")
            left = f", {ttl:.0f} s left before it expires" if isinstance(ttl, int | float) else ""
            said.append(f"RedBeat's lock {lock.get('key')} is held{left}: a beat process runs")
        else:
            said.append(f"RedBeat's lock {lock.get('key')} is not held: no beat process runs")
    if runs is None:
        return "; ".join(said) or "beat's sends not read yet"
    last = runs.last_beat_send()
    if last is None:
        said.append("no send of beat's heard in the journal")
    else:
        name, at = last
        said.append(f"beat's last send heard: {name}, {max(0.0, now - at):.0f} s ago")
    judged = [m for m in runs.missed.values() if m.count is not None and m.judged]
    if judged and all(m.streak for m in judged):
        said.append("every entry checked missed its last due run: beat seems stopped")
    return "; ".join(said)


class BeatWatch:
    """Missed-run streaks for a loop without a window (`record`'s alerts): the schedules read
    every REPORT_EVERY_S (the beat child, `read`: blocking), the journal through a RunsCache
    on each call. The window's Beat screen does the same on its jobs."""

    REPORT_EVERY_S = 60.0

    def __init__(self, read: Callable[[], BeatReport]) -> None:
        self.read = read
        self.report: BeatReport | None = None
        self.cache = RunsCache()
        self._read_at = 0.0

    def streaks(self, reader: HistoryReader, listening: bool = True) -> dict[str, int]:
        now = time.monotonic()
        if self.report is None or now - self._read_at >= self.REPORT_EVERY_S:
            self._read_at = now  # a failed read is tried again a period later, not each call
            self.report = self.read()
            self.cache.forget()
        return read_runs(reader, self.report, listening, cache=self.cache).streaks()
