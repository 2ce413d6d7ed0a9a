"""The app's periodic tasks as the panel holds them: read in the beat child
(`app/beat_probe.py`), one `BeatEntry` per task whichever scheduler keeps it.

Sources: `static` (the app's `beat_schedule`, in code), `django` (django-celery-beat's
database), `redbeat` (RedBeat's Redis hashes). Both database schedulers copy the app's
`beat_schedule` into their store when beat starts (`update_from_dict`), so a name found in
code and in a store is one task: the store's entry is the one beat runs (with its last run and
count), listed once with `in_code`. Which scheduler beat runs with is the app's
`beat_scheduler` setting, unless the person starts beat with `-S`, which nobody but that
command line knows: the report says the setting, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop.core.beat.words import schedule_text, schedule_words
from desktop.core.settings.redaction import hide_secrets

SOURCES = ("static", "django", "redbeat")
# Celery's own names of its schedulers, as `beat_scheduler` may hold them.
_SCHEDULER_SOURCE = {"django": "django", "django_celery_beat": "django", "redbeat": "redbeat"}


@dataclass(frozen=True)
class BeatEntry:
    """One periodic task. `next_run`/`last_run` are ISO texts in the app's timezone, as the
    entry's own schedule object computed them; None when unknown or never."""

    name: str
    task: str
    source: str
    schedule: Mapping[str, Any]
    enabled: bool = True
    last_run: str | None = None
    next_run: str | None = None
    total_runs: int | None = None
    args: Any = None
    kwargs: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    send: Mapping[str, Any] = field(default_factory=dict)  # what beat would send, as caught
    state: str = ""  # disabled, expired, one-off already ran, waits for its start time
    error: str = ""  # the scheduler cannot load it either
    in_code: bool = False  # also in the app's beat_schedule (copied into the store by beat)
    last_run_known: bool = True
    facts: Mapping[str, Any] = field(default_factory=dict)  # the source's own extra fields

    @property
    def words(self) -> str:
        return schedule_words(self.schedule)

    @property
    def schedule_text(self) -> str:
        return schedule_text(self.schedule)

    @property
    def sendable(self) -> bool:
        return not self.error and bool(self.send.get("sendable"))

    def why_not_sendable(self) -> str:
        if self.error:
            return f"its scheduler cannot load it: {self.error}"
        return str(self.send.get("why_not") or "what beat would send was not read")

    def to_json(self, missed: int | None = None) -> dict[str, Any]:
        """`beat list --json`'s object. `missed`: its due runs the journal never heard sent
        (beat/runs.py), null when not known (no journal, or a schedule not checked)."""
        return {
            "name": self.name, "task": self.task, "schedule": self.words,
            "schedule_kind": str(self.schedule.get("kind") or ""),
            "schedule_text": self.schedule_text, "enabled": self.enabled,
            "last_run": self.last_run, "next_run": self.next_run, "total_runs": self.total_runs,
            "missed": missed, "source": self.source, "state": self.state, "error": self.error,
            "in_code": self.in_code, "last_run_known": self.last_run_known,
            "args": self.args, "kwargs": self.kwargs, "options": dict(self.options),
            **dict(self.facts),
        }  # fmt: skip


@dataclass(frozen=True)
class SourceState:
    """What reading one source gave: an error (its tables missing, its Redis down), and for
    RedBeat the lock (`held`, `ttl_s`) that says whether a beat process holds it."""

    source: str
    error: str = ""
    lock: Mapping[str, Any] | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BeatReport:
    scheduler: str  # the app's beat_scheduler setting, as written
    timezone: str
    now: str | None
    entries: list[BeatEntry]
    sources: dict[str, SourceState]

    def scheduler_said(self) -> str:
        used = scheduler_source(self.scheduler)
        return (
            f"the app's beat_scheduler setting: {self.scheduler} ({used}); a `celery beat -S` "
            "given on its command line would override it, which cannot be known here"
        )

    def find(self, name: str) -> BeatEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def notes(self) -> list[tuple[str, str]]:
        """What is said beside the entries, as ("note" | "error", text): the scheduler
        setting, RedBeat's lock, a source that could not be read, and what is not known about
        the app's own beat_schedule (the CLI's lines and the Beat screen's)."""
        said = [("note", self.scheduler_said())]
        for state in self.sources.values():
            if state.error:
                said.append(("error", f"{state.source}: {state.error}"))
            if state.lock is not None:
                lock = state.lock
                held = (
                    f"held, {lock['ttl_s']:.0f} s left" if lock.get("held") and lock.get("ttl_s")
                    else "held" if lock.get("held")
                    else "not held: no beat process runs with RedBeat now"
                )  # fmt: skip
                said.append(("note", f"RedBeat lock {lock.get('key')}: {held}"))
        if any(not e.last_run_known for e in self.entries):
            said.append((
                "note",
                "the last run of the app's own beat_schedule entries is kept only in beat's "
                "schedule file (a pickle, never read): their next run is counted from now",
            ))  # fmt: skip
        return said


def scheduler_source(setting: str) -> str:
    """Which source a `beat_scheduler` value names (`static` for Celery's own schedulers,
    which keep only the app's beat_schedule)."""
    lowered = setting.lower().replace("-", "_")
    for word, source in _SCHEDULER_SOURCE.items():
        if word in lowered:
            return source
    return "static"


def _entry(item: Mapping[str, Any]) -> BeatEntry:
    known = {"name", "task", "source", "schedule", "enabled", "last_run", "next_run",
             "total_runs", "args", "kwargs", "options", "send", "state", "error",
             "last_run_known"}  # fmt: skip
    total = item.get("total_runs")
    return BeatEntry(
        name=str(item.get("name") or ""),
        task=str(item.get("task") or ""),
        source=str(item.get("source") or ""),
        schedule=dict(item.get("schedule") or {}),
        enabled=bool(item.get("enabled", True)),
        last_run=item.get("last_run"),
        next_run=item.get("next_run"),
        total_runs=int(total) if isinstance(total, int) else None,
        args=item.get("args"),
        kwargs=item.get("kwargs"),
        options=dict(item.get("options") or {}),
        send=dict(item.get("send") or {}),
        state=str(item.get("state") or ""),
        error=str(item.get("error") or ""),
        last_run_known=bool(item.get("last_run_known", True)),
        facts={k: v for k, v in item.items() if k not in known},
    )


def merged(static: Iterable[BeatEntry], stored: Iterable[BeatEntry]) -> list[BeatEntry]:
    """Every task once: a stored entry whose name is also in code is the one beat runs."""
    stored = list(stored)
    names = {e.name for e in stored}
    code = {e.name for e in static}
    kept = [e for e in static if e.name not in names]
    for entry in stored:
        if entry.name in code:
            entry = BeatEntry(**{**entry.__dict__, "in_code": True})
        kept.append(entry)
    return kept


def from_child(data: Mapping[str, Any], secrets: Iterable[str] = ()) -> BeatReport:
    """The beat child's report as a BeatReport; errors are cleared of the profile's secrets
    (a client library may quote its URL)."""
    hidden = [s for s in secrets if s]
    sources: dict[str, SourceState] = {}
    by_source: dict[str, list[BeatEntry]] = {}
    for source, part in dict(data.get("sources") or {}).items():
        part = dict(part or {})
        entries = [_entry(i) for i in part.get("entries") or [] if isinstance(i, Mapping)]
        by_source[str(source)] = [
            BeatEntry(**{**e.__dict__, "error": hide_secrets(e.error, *hidden)}) if e.error else e
            for e in entries
        ]
        facts = {k: v for k, v in part.items() if k not in ("entries", "error", "lock")}
        sources[str(source)] = SourceState(
            str(source),
            hide_secrets(str(part.get("error") or ""), *hidden),
            part.get("lock"),
            facts,
        )
    stored = [e for s in SOURCES[1:] for e in by_source.get(s, [])]
    return BeatReport(
        scheduler=str(data.get("scheduler") or ""),
        timezone=str(data.get("timezone") or ""),
        now=data.get("now"),
        entries=merged(by_source.get("static", []), stored),
        sources=sources,
    )
