"""The window says at once when its journal cannot be written, and when it can again."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core import services as services_module
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.session import feed as feed_module
from tests.support import shut_down
from tests.unit.test_journal_durability import fill_up, make_room, task_events


def test_a_full_journal_shows_in_the_status_bar_until_it_is_written_again(
    qtbot: QtBot, tmp_path: Path
) -> None:
    session, window = build_window(Services.open())
    qtbot.addWidget(window)
    journal = Journal(tmp_path / "j.sqlite3")
    tag = session.feed._journal_generation
    monitor = Monitor(
        "memory://", "", journal,
        on_journal=lambda state, text: session.feed._monitor_journal.emit(tag, state, text),
    )  # fmt: skip

    def batch_on_the_stream_thread(events: list[dict[str, object]]) -> None:
        thread = threading.Thread(target=monitor._on_batch, args=(events,))
        thread.start()
        thread.join(10)

    try:
        window.show()
        assert not window.journal_label.isVisible()
        fill_up(journal)
        events = [e for _ in range(300) for e in task_events(str(uuid.uuid4()), args="z" * 400)]
        batch_on_the_stream_thread(events)
        qtbot.waitUntil(window.journal_label.isVisible, timeout=5000)
        assert "full" in window.journal_label.toolTip()
        assert "cannot be written" in window.statusBar().currentMessage()
        make_room(journal)
        batch_on_the_stream_thread(task_events("after"))  # kept behind the spill
        retry = threading.Thread(target=monitor._flush_spill)  # as `_keep_journal` does
        retry.start()
        retry.join(10)
        qtbot.waitUntil(lambda: not window.journal_label.isVisible(), timeout=5000)
        assert "written again" in window.statusBar().currentMessage()
        assert journal.count() == 301
    finally:
        monitor.stream.app.close()
        window.close()
        shut_down(qtbot, session)
        journal.close()


def _refused_profiles(services: Services, unused_port: int, *names: str) -> None:
    """Profiles on a broker nobody answers: only their journals matter here."""
    for name in names:
        url = f"redis://127.0.0.1:{unused_port}/0"
        services.profiles.save(Profile(name=name, broker_url=url, result_backend=""), create=True)


def test_a_journal_that_cannot_be_opened_is_said_and_never_the_previous_profiles(
    qtbot: QtBot, unused_port: int
) -> None:
    services = Services.open()
    _refused_profiles(services, unused_port, "good", "damaged")
    damaged = services.journal_path(services.profiles.get("damaged"))
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(os.urandom(16384))
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        window.show()
        session.start("damaged")  # before: JournalUnwritable out of start(), a traceback
        qtbot.waitUntil(window.journal_label.isVisible, timeout=5000)
        assert "damaged" in window.journal_label.toolTip()
        assert "not a database" in window.journal_label.toolTip()
        assert session.journal is None
        session.activate("good")
        qtbot.waitUntil(lambda: session.journal is not None, timeout=5000)
        assert not window.journal_label.isVisible()
        session.activate("damaged")  # before: "good"'s journal stayed attached to "damaged"
        qtbot.waitUntil(window.journal_label.isVisible, timeout=5000)
        assert session.journal is None and window.tasks.model.journal is None
        assert damaged.stat().st_size == 16384  # never written over
    finally:
        window.close()
        shut_down(qtbot, session)


def test_the_journal_is_opened_and_migrated_off_the_gui_thread(
    qtbot: QtBot, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened_on: list[threading.Thread] = []

    class Watched(Journal):
        def __init__(self, path: Path, **options: Any) -> None:
            opened_on.append(threading.current_thread())
            super().__init__(path, **options)

    monkeypatch.setattr(services_module, "Journal", Watched)  # what Services.open_journal makes
    services = Services.open()
    _refused_profiles(services, unused_port, "first", "second")
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        session.start("first")
        session.activate("second")  # the first's journal, if late, is dropped and closed
        qtbot.waitUntil(lambda: session.journal is not None, timeout=5000)
        assert session.journal is not None
        assert session.journal.path == services.journal_path(services.profiles.get("second"))
        assert window.tasks.model.journal is session.journal
        assert len(opened_on) == 2
        assert threading.main_thread() not in opened_on  # before: the GUI thread, frozen
    finally:
        window.close()
        shut_down(qtbot, session)


def test_a_journal_locked_by_another_connection_is_waited_for_not_given_up(
    qtbot: QtBot, embedded_redis: Any
) -> None:
    services = Services.open()
    services.profiles.save(
        Profile(name="busy", broker_url=embedded_redis.url(5), result_backend=""), create=True
    )
    path = services.journal_path(services.profiles.get("busy"))
    Journal(path).close()
    holder = sqlite3.connect(path, isolation_level=None)  # a recorder pruning, say
    holder.execute("BEGIN IMMEDIATE")
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        window.show()
        session.start("busy")
        # SQLite's own busy timeout (5 s) runs out first; before: red for good, no monitor
        qtbot.waitUntil(
            lambda: "waiting for the journal (busy)" in window.statusBar().currentMessage(),
            timeout=9000,
        )
        assert not window.journal_label.isVisible() and session.journal is None
        holder.execute("COMMIT")
        qtbot.waitUntil(lambda: session.journal is not None, timeout=9000)
        qtbot.waitUntil(lambda: session.monitor is not None, timeout=9000)
        assert not window.journal_label.isVisible()
        assert "opened" in window.statusBar().currentMessage()
        assert window.tasks.model.journal is session.journal
    finally:
        holder.close()
        window.close()
        shut_down(qtbot, session)


def test_a_monitor_still_starting_is_never_started_twice(
    qtbot: QtBot, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    constructed: list[Monitor] = []

    class Counted(Monitor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            constructed.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(feed_module, "Monitor", Counted)
    services = Services.open()
    _refused_profiles(services, unused_port, "only")
    session, window = build_window(services)
    qtbot.addWidget(window)
    try:
        session.start("only")
        qtbot.waitUntil(
            lambda: session.journal is not None and session.app_config is not None, timeout=9000
        )
        assert session.profile is not None
        # a health tick and a re-read of the app, both before the first start is back
        session.feed.start_monitor()
        session.feed.start_monitor()
        qtbot.waitUntil(lambda: session.monitor is not None, timeout=5000)
        qtbot.wait(300)  # a second start, had one been submitted, is back by now
        assert len(constructed) == 1  # before: 2, two reconcilers filling the same gaps
        assert session.monitor is constructed[0]
    finally:
        window.close()
        shut_down(qtbot, session)
