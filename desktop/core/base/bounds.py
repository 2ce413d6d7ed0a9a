"""The panel's own bounds on waiting for something outside it: a broker, a backend, a keyring.

A broker paused with SIGSTOP, a TCP black hole or a server trickling one byte a second never
closes the connection, so a socket timeout alone does not end the wait (each recv gets its
byte in time, and client libraries retry a timeout several times). Two tools here:

- `within`: run one call on a daemon thread and stop waiting for it after N seconds. A daemon
  thread, not a ThreadPoolExecutor: the interpreter joins an executor's threads at exit, so a
  command that had given up still never ended.
- `Watchdog`: a command-line command names the step it waits on; when one step overstays its
  bound the process says which and exits 1 (whatever the step was stuck in cannot be cut short
  from Python, and nothing after it could help); a step may have its own bound and its own
  way out (the journal written after a send: the tasks went out, so that is said, exit 3).

These bounds are the panel's, on its own connections; they never reach the person's app, what
the panel sends, or the workers it starts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

PANEL_SOCKET_TIMEOUT_S = 5.0  # one connect or read on the panel's own broker/backend connections
COMMAND_STEP_S = 10.0  # each step of a command that waits on a broker (--timeout default)
KEYRING_TIMEOUT_S = 5.0  # one call into the system keyring


class NoAnswer(TimeoutError):
    """`what` did not answer within `seconds`."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not answer within {seconds:g} s")
        self.what = what
        self.seconds = seconds


def within(seconds: float, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, or NoAnswer once `seconds` pass; its exceptions are re-raised.

    The call goes on in the background when given up (nothing can stop it); it holds no lock
    of the caller's."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=call, name=f"bounded: {what}"[:60], daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise NoAnswer(what, seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def exit_now(message: str, code: int = 1) -> None:
    os.write(sys.stderr.fileno(), f"error: {message}\n".encode())
    os._exit(code)


class Watchdog:
    """A command's guard: `with dog.waiting_on(what):` arms a bound of `seconds` for that step;
    `dog.progress()` restarts it (a canvas sent node by node, a wait polled round by round).
    When a step overstays, `on_expiry` gets "WHAT did not answer within N s" (by default that
    goes to stderr and the process exits 1); a step given its own `seconds` and `on_expiry`
    has those instead."""

    def __init__(self, seconds: float, on_expiry: Callable[[str], None] = exit_now) -> None:
        self.seconds = seconds
        self.on_expiry = on_expiry
        self._what = ""
        self._bound = seconds
        self._expired = on_expiry
        self._deadline: float | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def waiting_on(
        self,
        what: str,
        seconds: float | None = None,
        on_expiry: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Steps nest: a step inside another (the journal written while a canvas is sent) is
        named while it lasts, with its own bound and way out if given, and the outer one gets
        a full bound again after it."""
        with self._changed:
            outer = (self._what, self._bound, self._expired) if self._deadline is not None else None
            self._what, self._bound = what, self.seconds if seconds is None else seconds
            self._expired = on_expiry or self.on_expiry
            self._deadline = time.monotonic() + self._bound
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                if outer is None:
                    self._deadline = None
                else:
                    self._what, self._bound, self._expired = outer
                    self._deadline = time.monotonic() + self._bound
                self._changed.notify()

    def progress(self) -> None:
        with self._changed:
            if self._deadline is not None:
                self._deadline = time.monotonic() + self._bound

    def _watch(self) -> None:
        with self._changed:
            while True:
                if self._deadline is None:
                    self._changed.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                self._deadline = None
                self._expired(str(NoAnswer(self._what, self._bound)))
