"""A real `celery -A beat_short beat` for missed-run tests (the window's and `record`'s): the
apps' folder as its directory, its schedule file in the test's, its interval `every_s`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.beat_parts import BeatProcess

EVERY_S = 6.0


class Beat(BeatProcess):
    """`celery -A beat_short beat` with the app's own scheduler, every `every_s`."""

    def __init__(self, broker: str, work: Path, every_s: float = EVERY_S) -> None:
        env = {"CELERY_BROKER": broker, "BEAT_EVERY_S": str(every_s)}
        super().__init__("beat_short", None, work, env)


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[list[Beat]]:
    """The beat processes a test starts (append them), stopped at its end."""
    started: list[Beat] = []
    yield started
    for beat in started:
        beat.stop()
