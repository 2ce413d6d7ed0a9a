"""A real `celery -A beat_short beat` for missed-run tests (the window's and `record`'s): the
apps' folder as its directory, its schedule file in the test's, its interval `every_s`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.test_beat import APPS
from tests.conftest import stop_with_this_process

EVERY_S = 6.0


class Beat:
    def __init__(self, broker: str, work: Path, every_s: float = EVERY_S) -> None:
        self.log = (work / "beat.log").open("ab")
        env = {**os.environ, "CELERY_BROKER": broker, "BEAT_EVERY_S": str(every_s)}
        env.pop("CELERY_BROKER_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "beat_short", "beat", "-l", "INFO",
             "-s", str(work / "beat-schedule"), "--pidfile", ""],
            cwd=APPS, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        stop_with_this_process(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[list[Beat]]:
    """The beat processes a test starts (append them), stopped at its end."""
    started: list[Beat] = []
    yield started
    for beat in started:
        beat.stop()
