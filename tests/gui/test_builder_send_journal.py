"""Sending from the Builder when the journal is not there to keep it (issue 13 review), on
the embedded Redis: while the history is still opening nothing is sent; when it could not be
opened the send goes out and is said to be in no history; a send that stops part way with the
journal failing says how many WERE sent and watches them.

Real faults: a second SQLite connection holding the journal's write lock (the window's open
waits 5 s, then fails; a send's record waits and fails), and a proxy in front of Redis that
goes away after the first task message (tests/integration/test_run_cli_journal.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from desktop.ui.shell.main_window import MainWindow
from tests.integration.test_run_cli_journal import _waiting_ids, proxied
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on

pytestmark = pytest.mark.slow


def _three(tmp_path: Path, queue: str) -> Path:
    add = {"type": "task", "task": "workers.tasks.add", "args": [1, 2], "options": {"queue": queue}}
    path = tmp_path / "three.json"
    root = {"type": "group", "children": [add] * 3}
    path.write_text(json.dumps({"format": "celery-desk/canvas", "version": 1, "root": root}))
    return path


def _profile(name: str, broker_url: str, embedded_redis: Any, queue: str) -> Profile:
    return Profile(
        name=name,
        broker_url=broker_url,
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10)],
    )


@pytest.fixture
def locked_window(
    qtbot: QtBot, embedded_redis: Any, prefix: str
) -> Iterator[tuple[MainWindow, sqlite3.Connection]]:
    """The window started on a profile whose journal another writer holds locked: the window
    waits for it (a busy journal is opened again, never given up)."""
    from desktop.app import build_window

    services = Services.open()
    profile = _profile("builder-locked", embedded_redis.url(0), embedded_redis, prefix + "tasks")
    services.profiles.save(profile, create=True)
    Journal(services.journal_path(profile)).close()
    blocker = sqlite3.connect(services.journal_path(profile), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    session, shown = build_window(services)
    qtbot.addWidget(shown)
    shown.show()
    session.start(profile.name)
    try:
        shown.tabs.setCurrentWidget(shown.builder)
        yield shown, blocker
    finally:
        shown.close_without_asking()
        session.shutdown()
        with contextlib.suppress(sqlite3.ProgrammingError):  # the test may have closed it
            blocker.execute("ROLLBACK")
        blocker.close()


def test_no_send_while_the_history_opens_and_one_it_could_not_open_is_said_unjournaled(
    qtbot: QtBot,
    locked_window: tuple[MainWindow, sqlite3.Connection],
    embedded_redis: Any,
    prefix: str,
    tmp_path: Path,
) -> None:
    shown, blocker = locked_window
    panel, session = shown.builder, shown.builder.session
    queue = prefix + "tasks"
    assert panel.load_file(_three(tmp_path, queue)), panel.message.text()
    panel.send()  # as a click that got in first would (SQLite waits 5 s on the lock)
    said = panel.message.text()
    assert "the task history is still opening; send again in a moment" in said, said
    assert session.journal is None and session.journal_opening
    assert not panel.send_button.isEnabled()
    assert _waiting_ids(embedded_redis, queue) == []  # nothing sent

    # The lock gives way to a file that is not a journal: that one cannot be opened at all.
    assert session.profile is not None
    path = session.services.journal_path(session.profile)
    blocker.execute("ROLLBACK")
    blocker.close()
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(os.urandom(16384))
    qtbot.waitUntil(lambda: session.journal_open_error is not None, timeout=30000)
    qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
    assert panel.send_button.isEnabled() and session.journal is None
    panel.send()
    qtbot.waitUntil(lambda: panel.message.text() != "Sending…", timeout=30000)
    said = panel.message.text()
    assert said.startswith("Sent '") and panel.message.property("role") == "error", said
    assert "sent 3 task(s), 3 of them not journaled: the task history could not be opened" in said
    assert "WERE sent: do not send them again" in said, said
    assert set(panel.sent_ids) == set(_waiting_ids(embedded_redis, queue))
    assert len(panel.sent_ids) == 3


def test_a_partial_send_the_journal_missed_says_how_many_went_out_and_watches_them(
    qtbot: QtBot, embedded_redis: Any, prefix: str, tmp_path: Path
) -> None:
    """The broker goes away after taking the first of three tasks, and the journal is locked
    (past its 5 s wait) when that one is recorded."""
    queue = prefix + "tasks"
    with proxied(embedded_redis, hold=True, cut=True) as proxy:
        broker = embedded_redis.url(0).replace(f":{proxy.upstream}/", f":{proxy.port}/")
        with window_on(qtbot, _profile("builder-partial", broker, embedded_redis, queue)) as shown:
            panel = shown.builder
            shown.tabs.setCurrentWidget(panel)
            assert panel.load_file(_three(tmp_path, queue)), panel.message.text()
            journal = panel.session.journal
            assert journal is not None
            panel.send()
            qtbot.waitUntil(proxy.reached.is_set, timeout=20000)
            blocker = sqlite3.connect(journal.path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                proxy.release.set()
                qtbot.waitUntil(lambda: panel.message.text() != "Sending…", timeout=40000)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            said = panel.message.text()
            assert said.startswith(
                "Partly sent: 1 of 3 sent, 1 not journaled; do not send them again."
            ), said
            assert "database is locked" in said and panel.message.property("role") == "error"
            waiting = _waiting_ids(embedded_redis, queue)
            assert len(waiting) == 1 and list(panel.sent_ids) == waiting  # watched
