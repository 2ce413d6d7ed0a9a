"""Who writes the shared history, and the word each batch sends to its readers.

Panels reading a shared history have no event stream of their own to tell them what changed,
nor whether anybody is still recording. So each recorder (a `PgJournal`) keeps one row of
`recorders`: host, pid, started, its last batch, when it was last seen (every batch, and a
heartbeat every BEAT_S while idle), when it stopped if it stopped on purpose; rows not seen
for FORGOTTEN_S are deleted by the next recorder that starts. And each batch it stores sends
ONE `pg_notify` on CHANNEL in the batch's own transaction (so a reader hears of rows only once
they are committed), naming the task ids it touched; past PAYLOAD_MAX bytes (PostgreSQL
refuses 8,000) it says "reload" instead. Times are the server's clock (`clock_timestamp()`),
and ages are worked out by the server, so a laptop whose clock is off still says the
recorder's lag right.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

CHANNEL = "celery_desk_history"
PAYLOAD_MAX = 7000  # bytes; PostgreSQL's own limit is 8,000
BEAT_S = 10.0  # an idle recorder says it is alive this often
SILENT_S = 30.0  # a recorder not seen for this long is not writing
FORGOTTEN_S = 7 * 86400.0  # a recorder's row kept this long after it was last seen
_NOW = "extract(epoch FROM clock_timestamp())"


def payload(recorder: str, ids: Iterable[str]) -> str:
    """The notification of one batch: its task ids, or `reload` when they would not fit."""
    touched = sorted(set(ids))
    text = json.dumps({"recorder": recorder, "ids": touched}, separators=(",", ":"))
    if len(text.encode()) > PAYLOAD_MAX:
        return json.dumps({"recorder": recorder, "reload": True}, separators=(",", ":"))
    return text


def ids_of(text: str) -> list[str] | None:
    """The task ids a notification names; None for "reload" (or one this program cannot read:
    reading everything again is never wrong)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    ids = found.get("ids") if isinstance(found, dict) else None
    if not isinstance(ids, list) or found.get("reload"):
        return None
    return [str(i) for i in ids]


class Presence:
    """This recorder's row in `recorders` and its notifications; every call takes the
    connection of the transaction it belongs to."""

    def __init__(self) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"

    def register(self, conn: Any) -> None:
        conn.execute(f"DELETE FROM recorders WHERE seen < {_NOW} - %s", (FORGOTTEN_S,))
        conn.execute(
            f"INSERT INTO recorders(id, host, pid, started, seen) VALUES (%s, %s, %s, {_NOW}, "
            f"{_NOW}) ON CONFLICT (id) DO UPDATE SET seen = excluded.seen",
            (self.id, self.host, self.pid),
        )

    def stored(self, conn: Any, ids: Iterable[str]) -> None:
        """A batch touching `ids` is being stored in `conn`'s transaction: its time, and the
        one notification, both sent only if it commits."""
        conn.execute(
            f"UPDATE recorders SET last_batch = {_NOW}, seen = {_NOW} WHERE id = %s", (self.id,)
        )
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload(self.id, ids)))

    def beat(self, conn: Any) -> None:
        """Alive while idle (a row deleted meanwhile, by hand, is made again)."""
        found = conn.execute(f"UPDATE recorders SET seen = {_NOW} WHERE id = %s", (self.id,))
        if not found.rowcount:
            self.register(conn)

    def leave(self, conn: Any) -> None:
        """Stopped on purpose: readers say at once that this one no longer writes (and still
        when it last wrote)."""
        conn.execute(f"UPDATE recorders SET stopped = {_NOW} WHERE id = %s", (self.id,))


class Heartbeat:
    """A thread calling `beat` every BEAT_S until stopped; a failing beat (the server away)
    is tried again at the next."""

    def __init__(self, beat: Callable[[], None], every: float = BEAT_S) -> None:
        self._beat = beat
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except Exception:  # the server away (JournalUnwritable): the next beat tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


@dataclass(frozen=True)
class RecorderStatus:
    """What a reader says of the recorders: how many wrote or beat within SILENT_S, and the
    age (seconds, by the server's clock) of the newest batch any recorder stored."""

    writing: int
    last_batch_age: float | None
    known: int  # rows, alive or not (stopped, or killed: no heartbeat)

    def words(self) -> str:
        """The status in a person's words."""
        if not self.writing:
            age = self.last_batch_age
            ago = f"; last batch {_ago(age)} ago" if age is not None else ""
            return f"no recorder writing{ago}"
        who = "1 recorder" if self.writing == 1 else f"{self.writing} recorders"
        if self.last_batch_age is None:
            return f"{who} writing, no batch yet"
        return f"{who} writing, last batch {_ago(self.last_batch_age)} ago"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def read_status(conn: Any, silent_s: float = SILENT_S) -> RecorderStatus:
    """The recorders' status, worked out by the server; none known in a history no recorder
    of schema 2 has written yet (no table)."""
    found = conn.execute("SELECT to_regclass('recorders') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return RecorderStatus(0, None, 0)
    row = conn.execute(
        f"SELECT count(*) FILTER (WHERE stopped IS NULL AND {_NOW} - seen <= %s), "
        f"{_NOW} - max(last_batch), "
        "count(*) FROM recorders",
        (silent_s,),
    ).fetchone()
    writing, age, known = row if row else (0, None, 0)
    return RecorderStatus(int(writing), None if age is None else float(age), int(known))
