"""A wedged local worker is called unresponsive and, with auto-restart, killed and restarted;
a failed start leaves no process behind (issue 13, defects 4 and 12).

The wedge is real: every process of the worker is stopped with SIGSTOP while Redis stays up,
so it neither answers pings nor sends heartbeats, as when kombu blocked for good.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.local.local_worker import ONLINE, UNRESPONSIVE
from desktop.core.local.supervisor import Supervisor
from desktop.core.local.worker_keeper import Watch, ping
from desktop.core.local.worker_spec import WorkerError, WorkerSpec
from desktop.core.settings.profile_model import Endpoints
from tests.integration.test_supervisor import Harness, make_profile

pytestmark = pytest.mark.slow
QUICK = Watch(every_s=0.5, reply_s=0.5, unresponsive_after_s=3.0, kill_grace_s=1.0)
BOUND_S = QUICK.unresponsive_after_s + 2 * QUICK.every_s + QUICK.reply_s + 5.0


@pytest.fixture
def harness(embedded_redis: Any, tmp_path: Path, prefix: str) -> Iterator[Harness]:
    profile = make_profile(embedded_redis.url(0), embedded_redis.url(1), prefix)
    made = Harness(
        tmp_path / "workers", profile, Endpoints(profile.broker_url, profile.result_backend, "")
    )
    made.supervisor.watch = QUICK
    yield made
    made.close()


@contextlib.contextmanager
def stopped_group(pid: int) -> Iterator[None]:
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)


def wait_for(supervisor: Supervisor, name: str, test: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    worker = supervisor.get(name)
    while time.monotonic() < deadline:
        worker = supervisor.get(name)
        if worker is not None and test(worker):
            return worker
        time.sleep(0.05)
    raise AssertionError(f"not so within {timeout} s: {worker}")


def answered_by_keeper(worker: Any) -> bool:
    """The keeper's own ping went through once (its grace starts from there)."""
    return worker.state == ONLINE


def test_a_stopped_worker_is_unresponsive_then_killed_and_restarted(
    harness: Harness, prefix: str
) -> None:
    spec = WorkerSpec(
        name=f"wedge{uuid.uuid4().hex[:6]}", queues=[prefix + "tasks"], concurrency=1,
        auto_restart=True,
    )  # fmt: skip
    first = harness.start(spec)
    harness.supervisor._online.clear()  # from here on, only what the keeper learns counts
    wait_for(harness.supervisor, spec.name, answered_by_keeper, BOUND_S)
    assert first.pid is not None
    started = time.monotonic()
    with stopped_group(first.pid):
        wedged = wait_for(harness.supervisor, spec.name, lambda w: w.state == UNRESPONSIVE, BOUND_S)
        took = time.monotonic() - started
        assert wedged.pid == first.pid
        assert "no answer to pings" in wedged.detail
        assert wedged.running
        restarted = wait_for(
            harness.supervisor, spec.name, lambda w: w.pid not in (None, first.pid), 30.0
        )
    assert took < BOUND_S
    assert restarted.restarts == 1
    assert "SIGKILL" in "\n".join(harness.supervisor.log_tail(spec.name, 50))
    deadline = time.monotonic() + 30.0
    while spec.nodename not in ping(harness.app, [spec.nodename], 1.0):
        assert time.monotonic() < deadline, "the restarted worker never answered a ping"


def test_without_auto_restart_it_is_shown_unresponsive_until_it_answers_again(
    harness: Harness, prefix: str
) -> None:
    spec = WorkerSpec(name=f"still{uuid.uuid4().hex[:6]}", queues=[prefix + "tasks"],
                      concurrency=1)  # fmt: skip
    first = harness.start(spec)
    harness.supervisor._online.clear()
    wait_for(harness.supervisor, spec.name, answered_by_keeper, BOUND_S)
    assert first.pid is not None
    with stopped_group(first.pid):
        wedged = wait_for(harness.supervisor, spec.name, lambda w: w.state == UNRESPONSIVE, BOUND_S)
        time.sleep(QUICK.kill_grace_s + 1.0)
        assert harness.supervisor.get(spec.name).pid == first.pid  # type: ignore[union-attr]
    assert "no answer to pings" in wedged.detail
    back = wait_for(harness.supervisor, spec.name, lambda w: w.state == ONLINE, BOUND_S)
    assert back.pid == first.pid


def test_a_fresh_worker_still_starting_is_not_called_unresponsive(
    harness: Harness, prefix: str
) -> None:
    """Stopped before it ever answered: starting (the start's own timeout decides), never
    unresponsive."""
    spec = WorkerSpec(name=f"fresh{uuid.uuid4().hex[:6]}", queues=[prefix + "tasks"],
                      concurrency=1, auto_restart=True)  # fmt: skip
    harness.supervisor.start(spec, harness.endpoints, harness.config)
    worker = wait_for(harness.supervisor, spec.name, lambda w: w.pid is not None, 10.0)
    with stopped_group(worker.pid):
        time.sleep(QUICK.unresponsive_after_s + 3 * QUICK.every_s)
        assert harness.supervisor.get(spec.name).state != UNRESPONSIVE  # type: ignore[union-attr]


LEAKY_APP = """
import os
import subprocess
import sys

if "worker" in sys.argv:  # only in the worker, not in the panel's probe of the app
    subprocess.Popen(["sleep", "300"], env={**os.environ, "LEAK_MARK": "%s"})
raise RuntimeError("this app fails at import, after spawning a child")
"""


def processes_marked(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if f"LEAK_MARK={mark}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def test_a_failed_start_leaves_no_process_the_app_spawned(
    harness: Harness, prefix: str, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    app_dir = tmp_path / "leaky"
    app_dir.mkdir()
    (app_dir / "leaky_app.py").write_text(LEAKY_APP % mark)
    from dataclasses import replace

    harness.supervisor.profile = replace(
        harness.profile, app_module="leaky_app", workdir=str(app_dir)
    )
    spec = WorkerSpec(name=f"leaky{uuid.uuid4().hex[:6]}", queues=[prefix + "tasks"])
    harness.supervisor.start(spec, harness.endpoints, harness.config)
    with pytest.raises(WorkerError, match="exited before it came online"):
        harness.supervisor.wait_online(spec.name, harness.app, 60.0)
    deadline = time.monotonic() + 5.0
    while processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = processes_marked(mark)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"the app's child outlived the failed start: {left}"
