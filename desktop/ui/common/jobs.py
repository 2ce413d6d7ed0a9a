"""Screen work as asyncio jobs on the qasync loop: latest wins per key, a closed screen cancels.

Why asyncio and not callbacks: a refresh written as `async def` reads top to bottom (ask the
network or the journal, then show), and cancelling it is a language feature. A newer refresh
under the same key cancels the older one, and a screen that closes cancels all of its jobs, so
no answer ever lands on a widget that moved on or is gone: no generation counters, no busy
flags, no matching of Qt's "already deleted" error text.

Blocking calls (a broker round trip, a journal read) go through `Jobs.blocking`, which runs them
on a thread pool and awaits the result: the GUI thread never waits on them. A cancelled job's
thread call still finishes (threads cannot be interrupted); its answer is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

T = TypeVar("T")

_POOL_THREADS = 4


_loop: asyncio.AbstractEventLoop | None = None


def install_event_loop(app: QApplication) -> qasync.QEventLoop:
    """The qasync loop `run_gui` runs the window on: installed before the session starts, so
    a job started before the loop runs (the profile opening) lands on this same loop."""
    global _loop
    _loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(_loop)
    return _loop


def event_loop() -> asyncio.AbstractEventLoop:
    """The qasync loop the window runs on.

    `run_gui` installs one (`install_event_loop`) and runs it; under a test (pytest-qt
    processes Qt's events itself) one is installed here as already running, so jobs advance
    whenever Qt's events are processed. Never a second loop: a task and the futures it awaits
    must share one ("attached to a different loop")."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    global _loop
    if _loop is None or _loop.is_closed():
        app = QApplication.instance()
        assert isinstance(app, QApplication), "jobs need a QApplication"
        _loop = qasync.QEventLoop(app, already_running=True)
        asyncio.set_event_loop(_loop)
    return _loop


_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="job")
    return _pool


class Jobs(QObject):
    """The jobs of one screen (or dialog): a child of it, so it goes when the screen goes."""

    def __init__(self, owner: QObject) -> None:
        super().__init__(owner)
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._again: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {}
        self._closed = False
        # A plain callable, not this object's slot: a QWidget deletes its children (this one)
        # before it says it is destroyed, and Qt does not call a slot of a deleted receiver
        # (PySide says "Slot 'Jobs::' not found"); the jobs must be cancelled all the same.
        owner.destroyed.connect(lambda *_: self.cancel_all())

    def run(self, key: str, job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """Start `job` under `key`, cancelling the one running under the same key (superseded).

        Exceptions a job does not handle itself are logged, never shown as a traceback."""
        if self._closed:
            job.close()
            return None
        older = self._tasks.pop(key, None)
        if older is not None:
            older.cancel()
        task = event_loop().create_task(job, name=key)
        self._tasks[key] = task
        task.add_done_callback(functools.partial(self._finished, key))
        return task

    def run_again(self, key: str, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start `make()` under `key`, or, while one runs there, once more when it ends (asked
        any number of times meanwhile, once). For a refresh that must not be cancelled by the
        next one (a burst of triggers would never let one finish) yet was asked for a reason
        the one on its way may have missed, such as a worker that came online after it left."""
        if self.running(key):
            self._again[key] = make
            return
        self.run(key, make())

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def cancel(self, key: str) -> None:
        self._again.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        self._closed = True
        self._again.clear()
        for task in self._tasks.values():
            # When the application itself is torn down, qasync's timer object can go before
            # the screen that owns these jobs; cancelling then fails to schedule the wake-up
            # (RuntimeError "already deleted"). Nothing would run the task again anyway.
            with contextlib.suppress(RuntimeError):
                task.cancel()
        self._tasks.clear()

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        again = self._again.pop(key, None)
        if again is not None and not self._closed and key not in self._tasks:
            self.run(key, again())
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("job %s failed: %s: %s", key, type(error).__name__, error, exc_info=error)

    @staticmethod
    async def blocking(fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the job pool, awaited: the GUI thread goes on while it runs."""
        return await event_loop().run_in_executor(_shared_pool(), functools.partial(fn, *args))
