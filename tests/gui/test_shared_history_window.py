"""A window on a profile whose history is shared (PostgreSQL, the tests' own server): the Tasks
table reads it, rows a recorder stores appear without a reload (its notification, read by id
off the GUI thread) although the window has no event stream of its own (its broker answers
nobody), and the status bar says the recorder's lag, then that none is writing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.factories import task_row
from tests.support import shut_down

psycopg = pytest.importorskip("psycopg")

from desktop.core.history.pg_journal import PgJournal  # noqa: E402
from desktop.core.history.pg_reader_pool import POOL_MAX  # noqa: E402

SCREENSHOT = os.environ.get("CELERY_DESK_SHOT")  # a path: the Tasks screen saved there


def _ids(window: Any) -> list[str]:
    model = window.tasks.model
    return [model._rows[i]["id"] for i in range(model.rowCount())]


def _window_on(qtbot: QtBot, name: str, history: str, port: int) -> tuple[Services, Any, Any]:
    """A window on a saved profile `name` whose history is `history`, on a broker nobody
    answers at (`port`): no event stream of its own."""
    services = Services.open()
    services.profiles.save(
        Profile(name=name, broker_url=f"redis://127.0.0.1:{port}/0", result_backend="",
                history=history),
        create=True,
    )  # fmt: skip
    session, window = build_window(services)
    qtbot.addWidget(window)
    return services, session, window


def test_a_window_on_a_shared_history_is_kept_live_by_the_recorder(
    qtbot: QtBot, postgres_server: Any, pg_database: str, unused_port: int, tmp_path: Path
) -> None:
    url = postgres_server.url(pg_database)
    recorder = PgJournal(url)  # as `celery-desk record --history` on a server would
    now = time.time()
    recorder.write(
        [task_row(f"old-{n}", name="proj.report", sent=now - 600 + n, updated=now)
         for n in range(3)],
        [],
    )  # fmt: skip
    services, session, window = _window_on(qtbot, "team", url, unused_port)
    stored = services.profiles.get("team").history
    assert postgres_server.password not in stored  # the password went to the secret store
    window.resize(1280, 800)
    gui = threading.current_thread()
    heard_on: list[threading.Thread] = []
    original = session.shared._heard

    def watched(tag: int, ids: Any) -> None:
        heard_on.append(threading.current_thread())
        original(tag, ids)

    session.shared._heard = watched  # type: ignore[method-assign]
    asked: list[int] = []  # the reloads the feed asked the screens for
    session.history_reload.connect(lambda: asked.append(1))
    try:
        window.show()
        session.start("team")
        window.tabs.setCurrentWidget(window.tasks)
        qtbot.waitUntil(lambda: _ids(window) == ["old-2", "old-1", "old-0"], timeout=15000)
        assert window.tasks.source.isVisible()
        assert "****" in window.tasks.source.text()
        assert postgres_server.password not in window.tasks.source.text()
        label = window.history_status
        qtbot.waitUntil(lambda: "1 recorder writing" in label.text(), timeout=15000)
        assert postgres_server.password not in label.toolTip()
        assert f"127.0.0.1:{postgres_server.port}/{pg_database}" in label.toolTip()
        # the listener is listening before the batch is stored, or it would miss it; its
        # first LISTEN asks for one reload (a batch stored before it was named to nobody)
        qtbot.waitUntil(lambda: "listening to" in label.toolTip(), timeout=15000)
        qtbot.waitUntil(lambda: bool(asked), timeout=10000)
        qtbot.waitUntil(lambda: not window.tasks.model.loading, timeout=10000)
        asked.clear()

        reloads = []
        window.tasks.model.modelReset.connect(lambda: reloads.append(1))
        recorder.write(
            [task_row("new-1", name="proj.report", state="STARTED", sent=now, updated=now),
             task_row("old-1", name="proj.report", state="FAILURE", sent=now - 599,
                      updated=now)],
            [],
        )  # fmt: skip
        qtbot.waitUntil(lambda: _ids(window)[:1] == ["new-1"], timeout=10000)
        assert _ids(window) == ["new-1", "old-2", "old-1", "old-0"]
        assert window.tasks.model._rows[2]["state"] == "FAILURE"  # changed in place
        assert not reloads and not asked  # live rows, not a reload
        assert heard_on and gui not in heard_on  # read by id off the GUI thread
        session.shared.poll()
        qtbot.waitUntil(lambda: "last batch" in label.text(), timeout=10000)
        assert label.text().startswith("History: 1 recorder writing, last batch ")
        assert label.property("tone") == "ok"
        if SCREENSHOT:
            window.grab().save(SCREENSHOT)

        # every screen reads the history, on the connections the window's readers share
        for screen in (window.failures, window.overview, window.audit, window.beat):
            window.tabs.setCurrentWidget(screen)
            qtbot.wait(300)
        window.tabs.setCurrentWidget(window.tasks)
        with psycopg.connect(url, autocommit=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = %s "
                "AND application_name LIKE 'celery-desk %%'", (pg_database,)
            )]  # fmt: skip
        assert names.count("celery-desk listener") == 1
        assert 1 <= names.count("celery-desk reader") <= POOL_MAX, names

        resets: list[float] = []
        window.tasks.model.modelReset.connect(lambda: resets.append(time.monotonic()))
        for k in range(3):
            recorder.write(
                [task_row(f"bulk-{k}-{n:03d}-{'x' * 30}", name="proj.bulk", sent=now + 1 + k,
                          updated=now) for n in range(200)],
                [],
            )  # fmt: skip
        qtbot.waitUntil(lambda: _ids(window)[0].startswith("bulk-2-"), timeout=10000)
        qtbot.wait(2500)
        assert 1 <= len(resets) <= 2, resets

        recorder.close()  # the recorder stops: it says so
        recorder = None
        session.shared.poll()
        qtbot.waitUntil(lambda: "no recorder writing; last batch" in label.text(), timeout=10000)
        assert label.property("tone") == "warning"
        if SCREENSHOT:
            window.grab().save(SCREENSHOT.replace(".png", "-silent.png"))
    finally:
        if recorder is not None:
            recorder.close()
        window.close()
        shut_down(qtbot, session)


def test_rows_heard_but_not_read_are_read_again_by_a_reload(
    qtbot: QtBot,
    postgres_server: Any,
    pg_database: str,
    unused_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The feed cannot read a batch's rows (here every connection of the window's pool is
    taken, as by long reads; or the server blinks): the screens read the history again
    instead of never showing them."""
    from desktop.core.history import pg_reader, pg_reader_pool

    monkeypatch.setattr(pg_reader, "WAIT_S", 0.5)  # a reader waits that long for a connection
    url = postgres_server.url(pg_database)
    recorder = PgJournal(url)
    now = time.time()
    recorder.write([task_row("first", sent=now - 10, updated=now)], [])
    _services, session, window = _window_on(qtbot, "team", url, unused_port)
    asked: list[int] = []
    session.history_reload.connect(lambda: asked.append(1))
    held: list[Any] = []
    pool: Any = None
    try:
        window.show()
        session.start("team")
        window.tabs.setCurrentWidget(window.tasks)
        label = window.history_status
        qtbot.waitUntil(lambda: _ids(window) == ["first"], timeout=15000)
        qtbot.waitUntil(lambda: "listening to" in label.toolTip(), timeout=15000)
        qtbot.waitUntil(lambda: bool(asked), timeout=10000)  # the first LISTEN's reload
        qtbot.waitUntil(lambda: not window.tasks.model.loading, timeout=10000)
        qtbot.waitUntil(lambda: session.shared._reader is not None, timeout=10000)
        asked.clear()
        assert session.shared._url is not None
        pool = pg_reader_pool.acquire(session.shared._url)
        held.extend(pool.getconn(timeout=10) for _ in range(POOL_MAX))

        def give_back() -> None:  # once the reload is asked, the screens may read
            while held:
                pool.putconn(held.pop())

        session.history_reload.connect(give_back)
        recorder.write([task_row("unread", sent=now, updated=now)], [])
        qtbot.waitUntil(lambda: bool(asked), timeout=15000)
        qtbot.waitUntil(lambda: _ids(window) == ["unread", "first"], timeout=15000)
    finally:
        while held:
            pool.putconn(held.pop())
        if pool is not None and session.shared._url is not None:
            pg_reader_pool.release(session.shared._url)
        recorder.close()
        window.close()
        shut_down(qtbot, session)


def test_a_shared_history_that_cannot_be_reached_is_said_without_its_password(
    qtbot: QtBot, unused_port: int
) -> None:
    away = f"postgresql://desk:pw-s3cret@127.0.0.1:{unused_port}/team"
    _services, session, window = _window_on(qtbot, "away", away, unused_port)
    try:
        window.show()
        session.start("away")
        label = window.history_status
        qtbot.waitUntil(lambda: label.property("tone") == "error", timeout=15000)
        assert label.isVisible()
        assert label.text() in ("History: cannot be read", "History: not live")
        qtbot.waitUntil(lambda: "refused" in label.toolTip().lower(), timeout=15000)
        assert "pw-s3cret" not in label.toolTip() and "****" in label.toolTip()
        assert window.tasks.model.rowCount() == 0
        window.tabs.setCurrentWidget(window.overview)
        qtbot.waitUntil(lambda: "cannot be read" in window.overview.failures_empty.text())
        assert "pw-s3cret" not in window.tasks.source.text()
        if SCREENSHOT:
            window.grab().save(SCREENSHOT.replace(".png", "-away.png"))
    finally:
        window.close()
        shut_down(qtbot, session)


def test_a_malformed_password_of_a_shared_history_is_never_shown(
    qtbot: QtBot, unused_port: int
) -> None:
    """An ad-hoc profile keeps its URL as typed: psycopg's error for a malformed
    percent-encoding quotes the password as written, which the status never shows."""
    profile = Profile(
        name="typo",
        broker_url=f"redis://127.0.0.1:{unused_port}/0",
        result_backend="",
        history=f"postgresql://desk:p%41ss%zz-s3cret@127.0.0.1:{unused_port}/team",
    )
    session, window = build_window(Services.open(), adhoc=profile)
    qtbot.addWidget(window)
    try:
        window.show()
        session.start("typo")
        label = window.history_status
        qtbot.waitUntil(lambda: "percent-encoded" in label.toolTip(), timeout=15000)
        assert label.property("tone") == "error"
        assert "s3cret" not in label.toolTip() and "%zz" not in label.toolTip()
        assert "****" in label.toolTip()
    finally:
        window.close()
        shut_down(qtbot, session)


def test_closing_a_window_whose_history_does_not_answer_does_not_wait(
    qtbot: QtBot, unused_port: int
) -> None:
    """A server that takes the connection and never answers (a host gone behind a firewall
    that still completes the handshake): the listener waits in its connect, and closing the
    window stops it without the GUI thread waiting for it."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts; nobody ever speaks
    port = silent.getsockname()[1]
    profile = Profile(
        name="mute",
        broker_url=f"redis://127.0.0.1:{unused_port}/0",
        result_backend="",
        history=f"postgresql://desk:pw-s3cret@127.0.0.1:{port}/team",
    )
    session, window = build_window(Services.open(), adhoc=profile)
    qtbot.addWidget(window)
    listener = None
    try:
        window.show()
        session.start("mute")
        qtbot.waitUntil(lambda: session.shared._listener is not None, timeout=15000)
        listener = session.shared._listener
        assert listener is not None
        qtbot.wait(300)  # in its connect (5 s before it gives up)
        assert listener._thread.is_alive() and listener.state != "listening"
        started = time.monotonic()
        session.shared.shutdown()
        assert time.monotonic() - started < 0.3
    finally:
        silent.close()  # the waiting connects are refused now
        if listener is not None:
            listener._thread.join(10)
            assert not listener._thread.is_alive()
        window.close()
        shut_down(qtbot, session)


def test_a_shared_history_of_a_newer_schema_is_said_and_left_alone(
    qtbot: QtBot, postgres_server: Any, pg_database: str, unused_port: int
) -> None:
    url = postgres_server.url(pg_database)
    PgJournal(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    _services, session, window = _window_on(qtbot, "newer", url, unused_port)
    try:
        window.show()
        session.start("newer")
        label = window.history_status
        qtbot.waitUntil(lambda: "schema version 99" in label.toolTip(), timeout=15000)
        assert label.text() == "History: cannot be read" and label.property("tone") == "error"
        assert "upgrade Celery Desk" in label.toolTip()
        assert postgres_server.password not in label.toolTip()
    finally:
        window.close()
        shut_down(qtbot, session)
    with psycopg.connect(url, autocommit=True) as conn:  # nothing written
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("99",)


def test_the_window_comes_back_with_its_history_after_the_server_restarted(
    qtbot: QtBot, unused_port: int
) -> None:
    """Its own server (restarting the session's would cut other tests): cut, the status says
    so; back, what was stored while it was away is read again, and the next batch is live."""
    from tests.conftest import stop_with_this_process
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    server.start()
    assert server.pid is not None
    stop_with_this_process(server.pid)
    recorder = PgJournal(server.url(), wait_s=2.0)
    _services, session, window = _window_on(qtbot, "team", server.url(), unused_port)
    try:
        now = time.time()
        recorder.write([task_row("before", sent=now - 10, updated=now)], [])
        window.show()
        session.start("team")
        window.tabs.setCurrentWidget(window.tasks)
        label = window.history_status
        qtbot.waitUntil(lambda: _ids(window) == ["before"], timeout=15000)
        qtbot.waitUntil(lambda: "listening to" in label.toolTip(), timeout=15000)
        server.halt()
        qtbot.waitUntil(lambda: label.property("tone") == "error", timeout=15000)
        assert server.password not in label.toolTip()
        server.start()
        assert server.pid is not None
        stop_with_this_process(server.pid)
        recorder.write([task_row("meanwhile", sent=now - 5, updated=now)], [])
        qtbot.waitUntil(lambda: "listening to" in label.toolTip(), timeout=20000)
        qtbot.waitUntil(lambda: "meanwhile" in _ids(window), timeout=15000)  # the reload
        recorder.write([task_row("after", sent=now, updated=now)], [])
        qtbot.waitUntil(lambda: _ids(window) == ["after", "meanwhile", "before"], timeout=15000)
        session.shared.poll()
        qtbot.waitUntil(lambda: label.property("tone") == "ok", timeout=15000)
    finally:
        recorder.close()
        window.close()
        shut_down(qtbot, session)
        server.stop()
