"""Helpers several test modules share."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.core.processes import pid_alive
from desktop.ui.session import Session

__all__ = ["pid_alive", "shut_down"]


def shut_down(qtbot: QtBot, session: Session) -> None:
    """`session.shutdown()`, then make sure nothing of the session can fire later.

    Before Session.shutdown became final (test_shutdown_is_final_with_a_result_on_its_way), a
    late result restarted the 5 s health timer; the Session, destroyed later from a pool thread
    (its last reference or the cyclic GC running there), could not unregister that timer
    ("Timers cannot be stopped from another thread") and it fired on freed memory: a segfault
    in whatever test ran 5 s later. Joining the pool keeps the last references on this thread.
    """
    session.shutdown()
    session.background._pool.shutdown(wait=True)  # every job done, its references released
    qtbot.wait(20)  # anything still queued is delivered (and dropped) on the GUI thread
    assert not session._health.isActive()


def with_prefix(path: Path, prefix: str, directory: Path) -> Path:
    """A copy of a shipped canvas with its queue names made unique to the test."""
    text = path.read_text()
    for name in ("queue1", "queue2", "tasks"):
        text = text.replace(f'"{name}"', f'"{prefix}{name}"')
    copy = directory / path.name
    copy.write_text(text)
    return copy
