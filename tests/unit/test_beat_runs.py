"""A periodic task's runs from a real journal (core/beat/runs.py): matched by task name, and by
arguments where entries share a task; the panel's own sends never beat's; what the journal
watched bounds the missed runs; the cache reads only what changed after its first read."""

from __future__ import annotations

import time
from pathlib import Path

from desktop.core.beat.entries import BeatEntry, BeatReport, SourceState
from desktop.core.beat.missed import Missed
from desktop.core.beat.runs import (
    BY_NAME,
    BY_NAME_AND_ARGUMENTS,
    BeatRuns,
    Run,
    RunsCache,
    alive_text,
    read_runs,
)
from desktop.core.beat.sending import journal_texts
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.state import EventRecord
from tests.factories import task_row

EVERY_10 = {"kind": "interval", "every_s": 10.0, "relative": False}


def _entry(name: str, task: str, args: list[str]) -> BeatEntry:
    return BeatEntry(name, task, "static", EVERY_10,
                     send={"args": args, "kwargs": {}, "sendable": True})  # fmt: skip


def test_runs_matched_and_missed_from_a_real_journal(tmp_path: Path) -> None:
    start = time.time() - 100.0
    journal = Journal(tmp_path / "j.sqlite3")
    a, b, alone = _entry("a", "t.note", ["a"]), _entry("b", "t.note", ["b"]), _entry("c", "t.c", [])
    report = BeatReport("celery.beat:PersistentScheduler", "UTC", None, [a, b, alone], {})
    a_args, a_kwargs = journal_texts(a)
    b_args, _ = journal_texts(b)
    rows, events = [], [EventRecord("first", "task-sent", start, "{}")]
    for k in range(1, 10):  # "a" every 10 s for 90 s; "b" only twice
        rows.append(task_row(f"a{k}", name="t.note", sent=start + 10 * k, args=a_args,
                             kwargs=a_kwargs, updated=start + 10 * k))  # fmt: skip
    for k in (1, 2):
        rows.append(task_row(f"b{k}", name="t.note", sent=start + 10 * k, args=b_args,
                             kwargs=a_kwargs, updated=start + 10 * k))  # fmt: skip
    journal.write(rows, events)
    journal.record_submitted("mine", "t.c", args="[]", kwargs="{}")  # Run now: not beat's
    reader = JournalReader(journal.path)
    cache = RunsCache()
    now = start + 95.0
    found = read_runs(reader, report, listening=True, now=now, cache=cache)
    assert found.matched_by == {"a": BY_NAME_AND_ARGUMENTS, "b": BY_NAME_AND_ARGUMENTS,
                                "c": BY_NAME}  # fmt: skip
    assert [r.id for r in found.runs["a"]][:2] == ["a9", "a8"] and len(found.runs["b"]) == 2
    assert found.missed["a"].count == 0 and found.missed["a"].judged == 9
    assert found.missed["b"].count == 7 and found.missed["b"].streak == 7  # due 30..90 s
    assert [r.by_panel for r in found.runs["c"]] == [True]
    assert found.missed["c"].count == 9  # the panel's send is no run of beat's
    assert found.streaks() == {"a": 0, "b": 7, "c": 9}
    assert found.last_beat_send() == ("a", start + 90)

    # not listening: judged only up to the journal's last write (just now, at the write)
    quiet = read_runs(reader, report, listening=False, now=now + 3600, cache=None)
    assert quiet.missed["a"].count == 0

    # a state that changes after the first read is read from the `updated` index
    journal.write([task_row("a9", name="t.note", state="FAILURE", sent=start + 90, args=a_args,
                            kwargs=a_kwargs, updated=time.time())], [])  # fmt: skip
    again = read_runs(reader, report, listening=True, now=now, cache=cache)
    assert again.runs["a"][0].id == "a9" and again.runs["a"][0].state == "FAILURE"
    reader.close()
    journal.close()


def test_nothing_is_judged_before_the_journal_heard_anything(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    report = BeatReport("x", "UTC", None, [_entry("a", "t.note", ["a"])], {})
    reader = JournalReader(journal.path)
    found = read_runs(reader, report, listening=True)
    assert found.missed["a"].count is None and "no event yet" in found.unwatched
    assert found.streaks() == {}
    reader.close()
    journal.close()


def test_whether_beat_seems_alive_from_redbeats_lock_or_the_sends_heard() -> None:
    held = SourceState("redbeat", lock={"key": "rb::lock", "held": True, "ttl_s": 24.6})
    free = SourceState("redbeat", lock={"key": "rb::lock", "held": False, "ttl_s": None})
    report = BeatReport("redbeat.RedBeatScheduler", "UTC", None, [], {"redbeat": held})
    assert alive_text(report, None, 0.0) == (
        "RedBeat's lock rb::lock is held, 25 s left before it expires: a beat process runs"
    )
    report = BeatReport("redbeat.RedBeatScheduler", "UTC", None, [], {"redbeat": free})
    assert "is not held: no beat process runs" in alive_text(report, None, 0.0)
    static = BeatReport("celery.beat:PersistentScheduler", "UTC", None, [], {})
    heard = BeatRuns(
        missed={"a": Missed("a", 2, streak=2, judged=5), "b": Missed("b", 1, streak=1, judged=3)},
        runs={"a": [Run("1", "SUCCESS", 100.0, 0.1, False), Run("2", "PENDING", 130.0, None,
                                                                True)]},
    )  # fmt: skip
    said = alive_text(static, heard, 160.0)
    assert "beat's last send heard: a, 60 s ago" in said  # the panel's own send is not beat's
    assert "every entry checked missed its last due run: beat seems stopped" in said
    assert alive_text(static, BeatRuns(), 0.0) == "no send of beat's heard in the journal"
