"""Panels kept live by the recorders (history/pg_presence.py, pg_listen.py) on the tests' own
PostgreSQL server: one notification per batch naming its task ids ("reload" past the size
PostgreSQL takes), the recorders' row (last batch, alive, gone), a listener that hears a
recorder's write and comes back after the server restarted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from desktop.core.monitor.state import ClusterState
from tests.factories import task_row

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_listen import CUT, LISTENING, HistoryListener  # noqa: E402
from desktop.core.history.pg_presence import CHANNEL, ids_of, read_status  # noqa: E402
from desktop.core.history.pg_reader import PgReader  # noqa: E402
from tests.integration.test_pg_journal import task_events  # noqa: E402


@pytest.fixture
def url(postgres_server: Any, pg_database: str) -> str:
    return str(postgres_server.url(pg_database))


class Heard:
    """What a listener handed on, waited for from the test's thread."""

    def __init__(self) -> None:
        self.batches: list[list[str] | None] = []
        self.states: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    def batch(self, ids: list[str] | None) -> None:
        with self.changed:
            self.batches.append(ids)
            self.changed.notify_all()

    def state(self, state: str, why: str) -> None:
        with self.changed:
            self.states.append((state, why))
            self.changed.notify_all()

    def wait(self, check: Any, timeout: float = 20.0) -> None:
        with self.changed:
            assert self.changed.wait_for(check, timeout), (self.batches, self.states)


def _listen_raw(url: str) -> Any:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


def test_each_batch_sends_one_notification_with_its_ids_or_reload(url: str) -> None:
    journal = PgJournal(url)
    conn = _listen_raw(url)
    try:
        now = time.time()
        diff = ClusterState().apply([*task_events("a", now), *task_events("b", now)])
        journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
        heard = list(conn.notifies(timeout=5, stop_after=1))
        assert [ids_of(n.payload) for n in heard] == [["a", "b"]]
        assert list(conn.notifies(timeout=0.5)) == []  # one per batch, not one per event
        many = [task_row(f"task-{n:05d}-{'x' * 30}", updated=now) for n in range(400)]
        journal.write(many, [])
        (big,) = conn.notifies(timeout=5, stop_after=1)
        assert ids_of(big.payload) is None and '"reload":true' in big.payload
        assert len(big.payload) < 200
    finally:
        conn.close()
        journal.close()


def test_the_recorders_row_says_its_last_batch_and_when_it_stopped(url: str) -> None:
    journal = PgJournal(url)
    with psycopg.connect(url, autocommit=True) as conn:
        status = read_status(conn)
        assert (status.writing, status.known, status.last_batch_age) == (1, 1, None)
        assert status.words() == "1 recorder writing, no batch yet"
        journal.write([task_row("one", updated=time.time())], [])
        status = read_status(conn)
        assert status.last_batch_age is not None and 0 <= status.last_batch_age < 5
        assert status.words().startswith("1 recorder writing, last batch ")
        # a recorder not seen for a while (killed: no heartbeat) is not writing
        conn.execute("UPDATE recorders SET seen = seen - 60, last_batch = last_batch - 60")
        status = read_status(conn)
        assert status.writing == 0 and status.known == 1
        assert status.words() == "no recorder writing; last batch 60 s ago"
        conn.execute("UPDATE recorders SET seen = seen + 60")  # alive again, then stopped
        assert read_status(conn).writing == 1
        journal.close()
        status = read_status(conn)
        assert (status.writing, status.known) == (0, 1)
        assert status.words() == "no recorder writing; last batch 60 s ago"
        conn.execute("UPDATE recorders SET seen = seen - 8 * 86400")  # long gone
        PgJournal(url).close()  # the next recorder forgets it
        assert read_status(conn).known == 1


def test_an_idle_recorder_beats(url: str) -> None:
    from desktop.core.history import pg_presence

    journal = PgJournal(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            first = conn.execute("SELECT seen FROM recorders").fetchone()[0]
        journal._heartbeat.stop()  # the real one beats every 10 s: one beating faster
        journal._heartbeat = pg_presence.Heartbeat(journal._beat, every=0.2)
        journal._heartbeat.start()
        time.sleep(1.0)
        with psycopg.connect(url, autocommit=True) as conn:
            later = conn.execute("SELECT seen, last_batch FROM recorders").fetchone()
        assert later[0] > first and later[1] is None  # alive, and still no batch
    finally:
        journal.close()


@pytest.fixture
def listened(url: str) -> Iterator[tuple[HistoryListener, Heard]]:
    heard = Heard()
    listener = HistoryListener(url, heard.batch, heard.state, backoff=(0.2, 0.5))
    listener.start()
    heard.wait(lambda: heard.states and heard.states[-1][0] == LISTENING and heard.batches)
    assert heard.batches == [None]  # the first LISTEN: a reload
    heard.batches.clear()
    yield listener, heard
    listener.stop()


def test_a_listener_hears_a_recorders_batch(
    url: str, listened: tuple[HistoryListener, Heard]
) -> None:
    listener, heard = listened
    assert listener.state == LISTENING and "****" in listener.why
    journal = PgJournal(url)
    try:
        journal.write([task_row("x1", updated=time.time()), task_row("x2")], [])
        heard.wait(lambda: heard.batches)
        assert heard.batches == [["x1", "x2"]]
    finally:
        journal.close()


def test_a_batch_stored_before_the_first_listen_is_said_by_a_reload(url: str) -> None:
    """The screens read the history, then the listener listens: a batch stored between is
    named to nobody, so the first LISTEN hands on a reload."""
    journal = PgJournal(url)
    heard = Heard()
    listener = HistoryListener(url, heard.batch, heard.state, backoff=(0.2, 0.5))
    try:
        journal.write([task_row("before-listen", updated=time.time())], [])
        listener.start()
        heard.wait(lambda: heard.states and heard.states[-1][0] == LISTENING, timeout=10)
        heard.wait(lambda: heard.batches, timeout=5)
        assert heard.batches == [None]
    finally:
        listener.stop()
        journal.close()


def test_a_listener_comes_back_after_the_server_restarted() -> None:
    """Its own server (restarting the session's would cut other tests): cut, said without the
    password; back, a reload (what was stored meanwhile was said to nobody), then the next
    batch's ids; a reader made before reads again at its first call (its cut connection made
    again)."""
    from tests.conftest import stop_with_this_process
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    server.start()
    assert server.pid is not None
    stop_with_this_process(server.pid)
    heard = Heard()
    journal = PgJournal(server.url(), wait_s=2.0)
    listener = HistoryListener(server.url(), heard.batch, heard.state, backoff=(0.2, 0.5))
    reader = PgReader(server.url())
    try:
        listener.start()
        heard.wait(lambda: heard.states and heard.states[-1][0] == LISTENING and heard.batches)
        assert heard.batches == [None]  # the first LISTEN
        heard.batches.clear()
        server.halt()
        heard.wait(lambda: heard.states[-1][0] == CUT)
        assert server.password not in heard.states[-1][1] and "****" in heard.states[-1][1]
        server.start()
        assert server.pid is not None
        stop_with_this_process(server.pid)
        heard.wait(lambda: heard.states[-1][0] == LISTENING and heard.batches == [None])
        journal.write([task_row("after", updated=time.time())], [])
        heard.wait(lambda: heard.batches == [None, ["after"]])
        assert set(reader.rows(["after"])) == {"after"}
        # a listener that could not connect at first says reload once it can
        server.halt()
        late = Heard()
        second = HistoryListener(server.url(), late.batch, late.state, backoff=(0.2, 0.5))
        second.start()
        late.wait(lambda: late.states and late.states[-1][0] == CUT)
        server.start()
        assert server.pid is not None
        stop_with_this_process(server.pid)
        late.wait(lambda: late.states[-1][0] == LISTENING and late.batches == [None])
        second.stop()
    finally:
        reader.close()
        listener.stop()
        journal.close()
        server.stop()
