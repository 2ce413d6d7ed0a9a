"""The profile's local `celery beat`, with real parts: the beat apps of `beat_apps/` on the
test's own Redis, beats started by the panel's supervisor and keeper (through `celery-desk
beat start|stop` and in this process), a worker started by hand running what beat sends, and
beats started by hand standing for "another beat elsewhere on the same broker".

What must hold: the command line is the person's (`celery -A APP beat`, the app's own
scheduler, no `-S`; Celery's schedule file in the panel's data directory, never in the
project); one beat per profile; a second one refused with its reason when it would not be safe
(one already kept here; a beat answering pings on the broker for a scheduler without a lock;
RedBeat's lock held, named with its TTL); stop ends the process. Every process is stopped by
its pid at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from desktop.core.app.config import read_effective_config
from desktop.core.base.processes import pid_alive
from desktop.core.beat.local_start import start_local_beat
from desktop.core.beat.reading import read_beat
from desktop.core.local.local_beat import BEAT, BeatRefused, BeatSupervisor
from desktop.core.local.local_worker import ONLINE, STOPPED
from desktop.core.monitor.events import receiver_app
from desktop.core.settings.profile_model import Endpoints, Profile
from tests.conformance.beat_parts import APPS, HandWorker
from tests.conformance.test_beat import _desk
from tests.conftest import RunningRedis, stop_with_this_process

pytestmark = [pytest.mark.slow]


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Every process a test started or learned the pid of, killed at teardown if still alive."""
    found: list[int] = []
    yield found
    for pid in found:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def static_worker(embedded_redis: RunningRedis, tmp_path: Path) -> Iterator[HandWorker]:
    """A worker started by hand for the static app on db 13, stopped at teardown."""
    worker = HandWorker("beat_static", embedded_redis.url(13), tmp_path, {})
    yield worker
    worker.stop()


def _hand_beat(module: str, broker: str, work: Path, env: dict[str, str] | None = None,
               *extra: str) -> subprocess.Popen[bytes]:  # fmt: skip
    """`celery -A MODULE beat` started by a person elsewhere (its own schedule file)."""
    full = {**os.environ, **(env or {}), "CELERY_BROKER": broker}
    full.pop("CELERY_BROKER_URL", None)
    argv = [sys.executable, "-m", "celery", "-A", module, "beat", "-l", "INFO",
            "--schedule", str(work / f"hand-{uuid.uuid4().hex[:6]}"), *extra]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=APPS, env=full, stdout=(work / "hand-beat.log").open("wb"),
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    stop_with_this_process(process.pid)
    return process


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_static_local_beat_by_cli(
    embedded_redis: RunningRedis, static_worker: HandWorker, pids: list[int], tmp_path: Path
) -> None:
    broker = embedded_redis.url(13)
    profile = ["--broker", broker, "--app", "beat_static", "--workdir", str(APPS)]
    worker = static_worker
    started = _desk(profile, "beat", "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("local beat: running (pid "), started.stdout
    pid = int(re.search(r"pid (\d+)", started.stdout).group(1))  # type: ignore[union-attr]
    records = list((Path(os.environ["CELERY_DESK_DATA_DIR"]) / "workers").glob("*/beat/beat.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    pids += [pid, record["keeper_pid"]]
    argv = record["argv"]
    # As a person runs it: the app's scheduler (no -S), Celery's schedule file in the panel's
    # data directory, and remote control so that the keeper (and other panels) can ping it.
    assert argv[argv.index("-A") :][:3] == ["-A", "beat_static", "beat"] and "-S" not in argv
    assert Path(argv[argv.index("--schedule") + 1]).parent == records[0].parent
    assert "--enable-remote-control" in argv and record["nodename"].startswith("celerybeat@")

    def beat_sent() -> dict[str, Any] | None:
        lines = worker.notes.read_text().splitlines() if worker.notes.exists() else []
        notes = [json.loads(line) for line in lines]
        return next((n for n in notes if n["label"] == "every-ten"), None)

    note = _until(beat_sent, 45, "the worker ran every-ten as the local beat sent it")
    assert note["celery_beat_task"] is True and note["routing_key"] == "beats"
    assert note["priority"] == 3  # the entry's options, as beat sends them

    # Killed, it is restarted by its keeper, as a local worker with auto-restart is.
    kept = BeatSupervisor(records[0].parent.parent, Profile(name="command-line"))
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Any:
        beat = kept.beat()
        return beat if beat and beat.pid not in (None, pid) and beat.restarts == 1 else None

    pid = _until(restarted, 30, "the keeper restarted the killed beat").pid
    pids.append(pid)
    _until(lambda: "beat: Starting..." in (records[0].parent / "beat.log").read_text(), 30,
           "the restarted beat started")  # fmt: skip
    again = _desk(profile, "beat", "start")
    assert again.returncode == 2
    assert "not started: a beat already runs for profile 'command-line' here (pid " in again.stderr
    assert f"{pid}" in again.stderr and pid_alive(pid)

    stopped = _desk(profile, "beat", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "local beat: stopped (exit code 0)"
    assert not pid_alive(pid)
    log = (records[0].parent / "beat.log").read_text()  # both runs: the keeper's one log
    assert "Scheduler: Sending due task every-ten (beat_tasks.note)" in log
    assert ": celery-desk] beat exited (killed by SIGKILL)" in log  # the keeper's notes
    assert ": celery-desk] beat exited (exit code 0)" in log
    assert not list(APPS.glob("celerybeat-schedule*"))  # never in the person's project
    assert _desk(profile, "beat", "stop").returncode == 1  # none runs now

    # A beat a person started elsewhere on this broker, answering pings: Celery's own
    # scheduler keeps no lock, so a second beat would send everything twice.
    hand = _hand_beat("beat_static", broker, tmp_path, None, "--enable-remote-control")
    pids.append(hand.pid)
    app = Celery("ask", broker=broker, set_as_current=False)
    _until(lambda: app.control.ping(timeout=0.5), 30, "the hand-started beat answered a ping")
    refused = _desk(profile, "beat", "start")
    _stop(hand)
    assert refused.returncode == 2
    assert "not started: a beat already answers on this broker (celerybeat@" in refused.stderr
    assert "a second beat would send every periodic task twice" in refused.stderr
    assert "PersistentScheduler" in refused.stderr


def test_redbeat_lock_refuses_then_the_supervisor_starts_it(
    embedded_redis: RunningRedis, pids: list[int], tmp_path: Path, monkeypatch: Any
) -> None:
    from redbeat.schedulers import get_redis

    broker = embedded_redis.url(14)
    prefix = f"deskbeat-{uuid.uuid4().hex[:6]}:"
    monkeypatch.setenv("REDBEAT_PREFIX", prefix)  # the app's redbeat_key_prefix, for every part
    hand = _hand_beat("beat_redbeat", broker, tmp_path, {"REDBEAT_PREFIX": prefix})
    pids.append(hand.pid)
    client = Celery("rb", broker=broker, set_as_current=False)
    client.conf.update(redbeat_redis_url=broker, redbeat_key_prefix=prefix)
    redis = get_redis(client)
    lock = f"{prefix}:lock"
    _until(lambda: redis.pttl(lock) > 0, 30, "the hand-started RedBeat beat took its lock")

    profile = Profile(name="rb", broker_url=broker, result_backend="", app_module="beat_redbeat",
                      workdir=str(APPS))  # fmt: skip
    endpoints = Endpoints(broker, "", "")
    config = read_effective_config(profile, endpoints)
    supervisor = BeatSupervisor(tmp_path / "workers" / "rb", profile)
    app = receiver_app(broker, config)
    try:
        with pytest.raises(BeatRefused) as refused:
            start_local_beat(supervisor, endpoints, config, read_beat(profile, endpoints), app)
        said = str(refused.value)
        assert said.startswith(f"RedBeat's lock {lock} is held (")
        assert re.search(r"\(\d+ s left on its TTL\): another beat runs", said), said
        assert supervisor.beat() is None  # nothing was started

        _stop(hand)  # RedBeat releases its lock on the way out
        assert redis.pttl(lock) == -2
        # A pidfile left by a killed beat, its pid a live process's by now (this one's):
        # Celery would refuse to start; no beat of the profile runs, so it is stale.
        supervisor.pidfile.parent.mkdir(parents=True, exist_ok=True)
        supervisor.pidfile.write_text(f"{os.getpid()}\n")
        start_local_beat(supervisor, endpoints, config, read_beat(profile, endpoints), app)
        record = json.loads(supervisor.record_path(BEAT).read_text())
        pids.append(record["keeper_pid"])
        running = supervisor.wait_online(BEAT, app, 60)
        assert running.state == ONLINE and running.pid is not None
        pids.append(running.pid)
        # The app's own scheduler, no schedule file of Celery's (RedBeat keeps it in Redis).
        assert "-S" not in record["argv"] and "--schedule" not in record["argv"]
        assert ". scheduler -> redbeat.schedulers.RedBeatScheduler" in running.log_path.read_text()
        _until(lambda: redis.pttl(lock) > 0, 30, "the local beat took RedBeat's lock")

        with pytest.raises(BeatRefused, match="a beat already runs for profile 'rb' here"):
            start_local_beat(supervisor, endpoints, config, read_beat(profile, endpoints), app)
        done = supervisor.stop_beat(30)
        assert done.state == STOPPED and not pid_alive(running.pid)
        assert redis.pttl(lock) == -2
    finally:
        app.close()
