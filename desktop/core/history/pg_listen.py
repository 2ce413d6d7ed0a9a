"""A panel kept live by the recorders: LISTEN on the shared history's channel.

A thread with its own connection (LISTEN holds it: no pool's connection can serve reads while
it waits) hands each batch's task ids to `on_batch`, or None when the batch said "reload" or
when notifications may have been missed (at the first LISTEN: a batch stored after whoever
listens read the history and before this LISTEN; after a cut or failed tries: whatever was
stored meanwhile was said to nobody). It says its state
through `on_state` (LISTENING, or CUT and why, the password masked), and comes back after a
cut with growing waits (BACKOFF_S).
A silent connection is checked every CHECK_S (a server gone without closing its socket would
leave the thread waiting for ever otherwise).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from desktop.core.history.pg_connect import said_masked
from desktop.core.history.pg_presence import CHANNEL, ids_of
from desktop.core.settings import urls

log = logging.getLogger(__name__)

LISTENING = "listening"
CUT = "cut"
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # the waits before each new try, then the last again
CHECK_S = 5.0
CONNECT_TIMEOUT_S = 5
_POLL_S = 0.25  # how soon a stop is noticed


class HistoryListener:
    """Listens until `stop()`. Callbacks run on the listener's thread: `on_batch` may read
    (it is never the GUI thread) and the notifications heard meanwhile wait in the
    connection."""

    def __init__(
        self,
        url: str,
        on_batch: Callable[[list[str] | None], None],
        on_state: Callable[[str, str], None] = lambda _state, _why: None,
        *,
        backoff: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self._url = url
        self.shown = urls.mask(url)
        self._on_batch = on_batch
        self._on_state = on_state
        self._backoff = backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-listener", daemon=True)
        self.state = CUT
        self.why = "not started"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _say(self, state: str, why: str) -> None:
        self.state, self.why = state, why
        try:
            self._on_state(state, why)
        except Exception:
            log.exception("the history listener's state could not be said")

    def _run(self) -> None:
        tries = 0
        # What was stored before this LISTEN was said to nobody: before the first one (the
        # screens read the history first, then the listener listens: a batch between is
        # never named), or while cut, so the first batch handed on once listening is a reload.
        missed = True
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:
                self._cut(exc, tries)
                tries += 1
                missed = True
                continue
            tries = 0
            try:
                self._say(LISTENING, f"listening to {self.shown}")
                if missed:
                    self._hand(None)
                    missed = False
                self._listen(conn)
            except Exception as exc:
                if not self._stop.is_set():
                    self._cut(exc, tries)
                    tries += 1
                    missed = True
            finally:
                conn.close()

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="celery-desk listener",
        )
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _listen(self, conn: Any) -> None:
        checked = time.monotonic()
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=_POLL_S):
                self._hand(ids_of(notify.payload))
                if self._stop.is_set():
                    return
            if time.monotonic() - checked >= CHECK_S:
                conn.execute("SELECT 1")  # a dead connection raises here
                checked = time.monotonic()

    def _hand(self, ids: list[str] | None) -> None:
        try:
            self._on_batch(ids)
        except Exception:
            log.exception("a batch heard from the history could not be handed on")

    def _cut(self, exc: BaseException, tries: int) -> None:
        why = said_masked(exc, self._url)
        self._say(CUT, f"not listening to {self.shown}: {why}")
        self._stop.wait(self._backoff[min(tries, len(self._backoff) - 1)])
