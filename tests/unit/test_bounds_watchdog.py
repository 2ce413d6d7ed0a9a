"""The command watchdog (issue 13 review): a step with its own bound and way out (the journal
written after a send, which ends with exit 3 since the tasks went out) has them, and the step
around it gets its own back."""

from __future__ import annotations

import threading
import time

from desktop.core.base.bounds import Watchdog


def test_a_step_of_its_own_expires_its_own_way_and_the_outer_step_gets_its_bound_back() -> None:
    said: list[tuple[str, str]] = []
    expired = threading.Event()

    def outer_expired(message: str) -> None:
        said.append(("outer", message))
        expired.set()

    def journal_expired(message: str) -> None:
        said.append(("journal", message))

    dog = Watchdog(0.6, outer_expired)
    with dog.waiting_on("the broker (sending)"):
        with dog.waiting_on("the journal", 0.2, journal_expired):
            time.sleep(0.5)  # past the journal's own bound, within the outer one
        assert said == [("journal", "the journal did not answer within 0.2 s")]
        assert expired.wait(3)
    assert said[1:] == [("outer", "the broker (sending) did not answer within 0.6 s")]


def test_a_step_back_within_its_bound_is_never_said() -> None:
    said: list[str] = []
    dog = Watchdog(0.3, said.append)
    for _ in range(3):
        with dog.waiting_on("the journal", 0.3):
            time.sleep(0.05)
        dog.progress()
    time.sleep(0.5)
    assert said == []
