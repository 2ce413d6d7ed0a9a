"""The real parts of the periodic-task tests (test_beat*.py): the small projects under
`beat_apps/`, a worker and a `celery beat` started by hand as a person starts them, each in
its own session, logged to the test's directory, stopped by its pid (and when pytest dies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import stop_with_this_process

APPS = Path(__file__).resolve().parent / "beat_apps"


class HandWorker:
    """`celery -A APP worker` in the project's folder, as a person starts one."""

    def __init__(self, module: str, broker: str, work: Path, env: dict[str, str]) -> None:
        self.notes = work / "notes.jsonl"
        self.log = work / "worker.log"
        full = {**os.environ, **env, "CELERY_BROKER": broker, "NOTE_FILE": str(self.notes)}
        full.pop("CELERY_BROKER_URL", None)
        argv = [sys.executable, "-m", "celery", "-A", module, "worker", "-Q", "beats,celery",
                "-c", "1", "-P", "solo", "-l", "INFO", "-n", f"beat-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle", "--without-gossip"]  # fmt: skip
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=APPS, env=full, stdout=self.handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        stop_with_this_process(self.process.pid)

    def ran(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.notes.exists():
                for line in self.notes.read_text(encoding="utf-8").splitlines():
                    note = json.loads(line)
                    if note["id"] == task_id:
                        return dict(note)
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"{task_id} did not run: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.handle.close()


class BeatProcess:
    """`celery -A APP beat -S SCHEDULER`, as a person starts one, its schedule file, pid file
    and log in the test's directory."""

    def __init__(self, module: str, scheduler: str | None, work: Path, env: dict[str, str]) -> None:
        """`scheduler` None: the app's own `beat_scheduler`. A second one started in the same
        `work` takes up the first's schedule file (and appends to its log)."""
        self.log = work / "beat.log"
        full = {**os.environ, **env, "PYTHONPATH": str(APPS)}
        full.pop("CELERY_BROKER_URL", None)
        chosen = ["-S", scheduler] if scheduler else []
        argv = [sys.executable, "-m", "celery", "-A", module, "beat", *chosen,
                "--max-interval", "1", "-l", "INFO", "-s", str(work / "celerybeat-schedule"),
                "--pidfile", str(work / "beat.pid")]  # fmt: skip
        self.handle = self.log.open("ab")
        self.process = subprocess.Popen(
            argv, cwd=work, env=full, stdout=self.handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        stop_with_this_process(self.process.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.handle.close()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Any]:
    """Start workers by hand (`HandWorker`) in the test's directory; each stopped by its pid."""
    started: list[HandWorker] = []

    def start(module: str, broker: str, env: dict[str, str] | None = None) -> HandWorker:
        started.append(HandWorker(module, broker, tmp_path, env or {}))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def beat_factory(tmp_path: Path) -> Iterator[Any]:
    """Start `celery beat` processes (`BeatProcess`), each with its schedule file, pid file
    and log in a folder of the test's own; each stopped by its pid."""
    started: list[BeatProcess] = []

    def start(module: str, scheduler: str, env: dict[str, str]) -> BeatProcess:
        work = tmp_path / f"beat-{len(started)}"
        work.mkdir()
        started.append(BeatProcess(module, scheduler, work, env))
        return started[-1]

    yield start
    for beat in started:
        beat.stop()
