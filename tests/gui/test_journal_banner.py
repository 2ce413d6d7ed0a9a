"""The window says at once when its journal cannot be written, and when it can again."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.journal import Journal
from desktop.core.monitor import Monitor
from desktop.core.services import Services
from tests.support import shut_down
from tests.unit.test_journal_durability import fill_up, make_room, task_events


def test_a_full_journal_shows_in_the_status_bar_until_it_is_written_again(
    qtbot: QtBot, tmp_path: Path
) -> None:
    session, window = build_window(Services.open())
    qtbot.addWidget(window)
    journal = Journal(tmp_path / "j.sqlite3")
    tag = session._journal_generation
    monitor = Monitor(
        "memory://", "", journal,
        on_journal=lambda state, text: session._monitor_journal.emit(tag, state, text),
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
        batch_on_the_stream_thread(task_events("after"))
        qtbot.waitUntil(lambda: not window.journal_label.isVisible(), timeout=5000)
        assert "written again" in window.statusBar().currentMessage()
        assert journal.count() == 301
    finally:
        monitor.stream.app.close()
        window.close()
        shut_down(qtbot, session)
        journal.close()
