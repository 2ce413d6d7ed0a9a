"""Run blocking work on a thread pool and get the outcome back on the GUI thread as a call."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Relay(QObject):
    # Emitted from a pool thread; Qt queues it to the thread the relay lives in (the GUI's).
    finished = Signal(object)


class Background(QObject):
    """`submit(fn, on_result, on_error)`: fn runs off the GUI thread, callbacks run on it."""

    def __init__(self, parent: QObject | None = None, workers: int = 4) -> None:
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="desk")
        self._relay = _Relay()
        self._relay.finished.connect(self._deliver)
        self._closed = False

    def submit(
        self,
        fn: Callable[[], T],
        on_result: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if self._closed:
            return
        future = self._pool.submit(fn)

        def done(f: concurrent.futures.Future[T]) -> None:
            if not self._closed:
                self._relay.finished.emit((f, on_result, on_error))

        future.add_done_callback(done)

    def _deliver(
        self,
        item: tuple[
            concurrent.futures.Future[Any],
            Callable[[Any], None],
            Callable[[BaseException], None] | None,
        ],
    ) -> None:
        # Any: the relay's signal carries any job's outcome; submit() matched fn to on_result.
        future, on_result, on_error = item
        if self._closed:  # shut down: whoever asked is going away, drop the answer
            return
        try:
            error = future.exception()
            if error is None:
                on_result(future.result())
            elif on_error is not None:
                on_error(error)
            else:
                log.error("background job failed: %s: %s", type(error).__name__, error)
        except RuntimeError as exc:
            if "already deleted" not in str(exc):
                raise
            # the widget the callback belongs to is already gone
            log.debug("dropped a background result: %s", exc)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
