"""Helpers several test modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.core.base.processes import pid_alive
from desktop.core.settings.profile_model import Profile
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow

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
    assert not session.connection._health.isActive()


def with_prefix(path: Path, prefix: str, directory: Path) -> Path:
    """A copy of a shipped canvas with its queue names made unique to the test."""
    text = path.read_text()
    for name in ("queue1", "queue2", "tasks"):
        text = text.replace(f'"{name}"', f'"{prefix}{name}"')
    copy = directory / path.name
    copy.write_text(text)
    return copy


@contextlib.contextmanager
def window_on(qtbot: QtBot, profile: Profile) -> Iterator[MainWindow]:
    """The real window on a test profile it saves: the app read, events connected. Closed
    after, and on RabbitMQ the profile's queues deleted."""
    from desktop.app import build_window
    from desktop.core.services import Services
    from tests.integration.worker_process import delete_rabbitmq_entities

    services = Services.open()
    services.profiles.save(profile, create=True)
    session, shown = build_window(services)
    qtbot.addWidget(shown)
    shown.show()
    session.start(profile.name)
    try:
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        qtbot.waitUntil(lambda: shown.events_label.text() == "Events: connected", timeout=15000)
        yield shown
    finally:
        shown.close_without_asking()
        session.shutdown()
        if profile.broker_kind == "rabbitmq":
            delete_rabbitmq_entities(profile.broker_url, [q.name for q in profile.queues])
