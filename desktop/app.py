"""Composition root: builds the services, the session and the window, and runs the Qt loop.

Quitting by window close, Ctrl+Q, SIGINT or SIGTERM all end in `Session.shutdown`, which
stops the embedded broker (unless `broker start` asked to keep it) and the worker threads.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.core.local import desktop_entry
from desktop.core.services import Services
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.jobs import install_event_loop
from desktop.ui.common.theme import stylesheet
from desktop.ui.session.session import Session
from desktop.ui.shell.main_window import MainWindow

log = logging.getLogger("celery_desk")


class SignalBridge:
    """Turns SIGINT/SIGTERM into a call on the GUI thread.

    Qt's loop does not run Python code between events, so a plain Python handler would wait
    for the next event; the wakeup fd makes the kernel signal an event the loop sees at once.
    """

    def __init__(self, on_signal: Callable[[], object]) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        signal.set_wakeup_fd(self._write.fileno())
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: None)
        self.notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read)
        self.notifier.activated.connect(self._drain)
        self._on_signal = on_signal

    def _drain(self) -> None:
        try:
            data = self._read.recv(64)
        except BlockingIOError:
            return
        if data:
            log.info("signal %s received: quitting", ", ".join(str(b) for b in data))
            self._on_signal()

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self.notifier.setEnabled(False)
        self._read.close()
        self._write.close()


def build_window(services: Services, adhoc: Profile | None = None) -> tuple[Session, MainWindow]:
    session = Session(services, adhoc)
    window = MainWindow(session, services.paths.config_dir / "window.ini")
    return session, window


def run_gui(
    config_dir: str | None = None,
    profile_name: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Celery Desk")
    app.setOrganizationName("celery-desk")
    app.setStyleSheet(stylesheet(app.font().pointSizeF()))
    app.setWindowIcon(QIcon(str(desktop_entry.ICON)))  # the menu entry's icon too
    app.setDesktopFileName("celery-desk")  # matches desktop-entry install's file
    # Before any screen exists: a job started while the window is built, or by the session
    # before the loop runs, must land on the loop that will run it.
    loop = install_event_loop(app)
    try:
        services = Services.open(config_dir)
        adhoc = None
        if overrides and overrides.get("broker_url"):
            adhoc = replace(Profile(name="command-line", result_backend=""), **overrides)
        elif overrides:
            base = services.profiles.get(profile_name or services.profiles.active_name())
            adhoc = replace(base, name="command-line", **overrides)
        session, window = build_window(services, adhoc)
    except ProfileError as exc:  # a damaged profiles.toml, secrets file or keyring: say which
        log.error("cannot start: %s", exc)
        QMessageBox.critical(None, "Celery Desk cannot start", str(exc))
        return 2

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    app.lastWindowClosed.connect(closed.set)
    bridge = SignalBridge(window.close_without_asking)
    window.show()
    keep_collections_short(session)
    hand_the_gil_over_sooner()
    try:
        # An ad-hoc profile (flags on the command line) already includes --profile's settings.
        session.start(None if adhoc is not None else profile_name)
    except Exception as exc:  # unforeseen: the window says it and stays, never a traceback
        log.exception("the profile was not opened")
        session.fail(f"the profile was not opened: {type(exc).__name__}: {exc}")
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        bridge.close()
        session.shutdown()
        log.info("Celery Desk stopped")
    return 0


# How long a thread of the window's process runs Python while another waits for it (Python's
# default: 5 ms).
GIL_SWITCH_S = 0.001


def hand_the_gil_over_sooner() -> None:
    """The GUI thread shares Python's lock with the event stream's thread and the journal's
    writer, which run Python flat out in a flood: each time it needs the lock back (a model
    update does several times, once per call into Qt that calls Python again) it waited up
    to 5 ms. Measured with bench/events.py on a Redis flood (400,000 events, the window's
    pipeline, a quiet machine, 2026-11-30): the GUI thread's time per batch p99 34-39 ms ->
    19-23 ms, max 74-129 -> 19-24 ms; the pipeline's rate unchanged (b/a 0.83-0.86 against
    0.84-0.88). 0.5 ms gave no more (p99 23.7 ms). Only the window's process: `record` has
    no GUI thread to hand it to."""
    sys.setswitchinterval(GIL_SWITCH_S)


FREEZE_AFTER_APP_READ_MS = 1000  # the screens have shown what the app's configuration changed


def keep_collections_short(session: Session | None = None) -> None:
    """Python's full garbage collection walks every object the process holds; with Celery,
    kombu, the window's widgets and a table's rows that took 60 ms holding the GIL, over and
    over while rows arrived (bench/gui_journal.py): a stall of the window each time. What
    exists once the window is built lives as long as it: frozen out of every collection
    (`gc.freeze`). What is made after is collected as before.

    Once more a second after the session first read the person's app (connected, journal
    open, the screens filled from the app): what opening made lives as long as the window
    too, ~7,000 objects a full collection walked again and again. Collected first, so no
    garbage is frozen for good. Measured on a 1,000,000-task journal, three interleaved runs
    each on 2 loaded CPUs: the longest full collection while sorting 4.3 -> 1.4 ms of CPU
    (each one a pause of every thread's Python, the window's included)."""
    gc.freeze()
    if session is None:
        return

    def freeze_again() -> None:
        gc.collect()
        gc.freeze()

    def first_read(*_args: object) -> None:
        session.app_config_changed.disconnect(first_read)
        QTimer.singleShot(FREEZE_AFTER_APP_READ_MS, freeze_again)

    session.app_config_changed.connect(first_read)


def leave(code: int) -> None:
    """End the process once the window has shut down, without joining the job threads.

    Everything that must finish has (journal closed, broker released, workers answered for);
    a job still blocked on the network (an inspect broadcast kombu retries without end against
    the broker that was just stopped) has nobody left to answer, and Python's exit would join
    its thread for as long as it hangs: the window closed but the process never ended.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> int:
    return run_gui()


if __name__ == "__main__":
    sys.exit(main())
