"""The one comparison every fault test ends with: the journal against the result backend.

The result backend is the truth the panel is measured against: a worker writes a task's state
there whatever happened to the event stream, the recorder or the window. "Nothing lost" means
every task the backend knows is in the journal with the backend's state. Tasks the broker
itself lost (never run, so unknown to the backend) are counted, never blamed on the panel.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import redis

from desktop.core.base.task_states import FINISHED_STATES

META_PREFIX = "celery-task-meta-"
SHOWN_IN_A_DIFF = 10  # ids listed per kind of difference; the counts say the rest


class JournalMismatch(AssertionError):
    """The journal differs from the backend: the one failure an xfail of a defect expects
    (`raises=JournalMismatch`), so a scenario that broke some other way still fails."""


@dataclass(frozen=True)
class Tally:
    """The figures a fault test reports (docs/RELIABILITY.md)."""

    sent: int  # ids the test published
    in_backend: int  # of those, known to the result backend
    finished: int  # of those, in a final state in the backend
    in_journal: int  # of those, in the journal
    lost: int  # known to the backend and missing from the journal or in another state

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, in the backend {self.in_backend} ({self.finished} finished), "
            f"in the journal {self.in_journal}, lost {self.lost}"
        )


def waiting_in_redis_broker(broker_url: str) -> set[str]:
    """Task ids a Redis broker still holds: in a queue's lists, or in the unacked hash (given
    back only by a worker's restore sweep, which kombu's restore mutex can hold off for up to
    its 300 s expiry when the broker was killed while a worker held it). JSON only."""
    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
    found: set[str] = set()

    def note(message: object) -> None:
        if isinstance(message, dict) and isinstance(message.get("headers"), dict):
            found.add(str(message["headers"].get("id")))

    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"list":
                for raw in client.lrange(key, 0, -1):
                    with contextlib.suppress(ValueError):
                        note(json.loads(raw))
            elif kind == b"hash" and key == b"unacked":
                for raw in client.hvals(key):
                    with contextlib.suppress(ValueError, IndexError, TypeError):
                        note(json.loads(raw)[0])
    finally:
        client.close()
    return found


def backend_states(backend_url: str) -> dict[str, str]:
    """Every task the Redis result backend knows: its id and status, read as JSON."""
    client = redis.Redis.from_url(backend_url, socket_timeout=5, socket_connect_timeout=5)
    states: dict[str, str] = {}
    try:
        keys = list(client.scan_iter(match=f"{META_PREFIX}*", count=1000))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for key, raw in zip(chunk, client.mget(chunk), strict=True):
                if raw is None:  # expired between SCAN and MGET
                    continue
                task_id = key.decode().removeprefix(META_PREFIX)
                states[task_id] = str(json.loads(raw).get("status"))
    finally:
        client.close()
    return states


def journal_states(journal_path: Path) -> dict[str, str]:
    """Every task row of the journal (read-only: a recorder may be writing it meanwhile)."""
    if not journal_path.exists():
        return {}
    connection = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = connection.execute("SELECT id, state FROM tasks").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # created, its schema not written yet
            return {}
        raise
    finally:
        connection.close()
    return {str(i): str(s) for i, s in rows}


def _listed(ids: Iterable[str]) -> str:
    chosen = sorted(ids)
    more = f" and {len(chosen) - SHOWN_IN_A_DIFF} more" if len(chosen) > SHOWN_IN_A_DIFF else ""
    return ", ".join(chosen[:SHOWN_IN_A_DIFF]) + more


def compare(
    journal_path: Path, backend_url: str, expected_ids: Collection[str]
) -> tuple[Tally, str]:
    """The figures, and a description of every difference ("" when the journal is right)."""
    truth = backend_states(backend_url)
    journal = journal_states(journal_path)
    expected = set(expected_ids)
    missing = {i for i in truth if i not in journal}
    wrong = {i: (journal[i], s) for i, s in truth.items() if i in journal and journal[i] != s}
    strangers = set(truth) - expected  # a task of nobody's: still held to the same promise
    tally = Tally(
        sent=len(expected),
        in_backend=len(expected & set(truth)),
        finished=sum(1 for i in expected if truth.get(i) in FINISHED_STATES),
        in_journal=len(expected & set(journal)),
        lost=len(missing) + len(wrong),
    )
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} known to the backend, not in the journal: {_listed(missing)}"
        )
    if wrong:
        shown = sorted(wrong.items())[:SHOWN_IN_A_DIFF]
        problems.append(
            f"{len(wrong)} in another state in the journal (journal -> backend): "
            + ", ".join(f"{i} {j} -> {b}" for i, (j, b) in shown)
        )
    if strangers:
        problems.append(f"({len(strangers)} of them not sent by this test: {_listed(strangers)})")
    return tally, "; ".join(problems)


def verdict(
    journal_path: Path, backend_url: str, expected_ids: Collection[str], timeout: float = 0.0
) -> tuple[Tally, str]:
    """`compare`, giving the journal up to `timeout` s to catch up (events still arriving, a
    reconciliation due): the first match, else the last difference."""
    deadline = time.monotonic() + timeout
    while True:
        tally, problems = compare(journal_path, backend_url, expected_ids)
        if not problems or time.monotonic() >= deadline:
            return tally, problems
        time.sleep(0.5)


def assert_journal_matches_backend(
    journal_path: Path, backend_url: str, expected_ids: Collection[str], timeout: float = 0.0
) -> Tally:
    """Every task the backend knows is in the journal with the backend's state."""
    tally, problems = verdict(journal_path, backend_url, expected_ids, timeout)
    if problems:
        raise JournalMismatch(f"the journal does not match the backend: {problems} ({tally})")
    return tally


def wait_backend_settled(
    backend_url: str,
    ids: Collection[str],
    quiet_s: float,
    timeout: float,
    woke: Callable[[], float] | None = None,
) -> int:
    """Wait until every id is finished in the backend, or none finished for `quiet_s` (the rest
    are stuck or lost: the comparison says which). `woke()`, when given, is a time.monotonic()
    that counts as a change too (a worker started again). Returns how many finished."""
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        states = backend_states(backend_url)
        finished = sum(1 for i in wanted if states.get(i) in FINISHED_STATES)
        if finished == len(wanted):
            return finished
        if woke is not None:
            last_change = max(last_change, woke())
        if finished != last:
            last, last_change = finished, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return finished
        time.sleep(0.5)
    return max(last, 0)
