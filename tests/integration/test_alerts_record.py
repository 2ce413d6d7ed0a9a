"""`celery-desk record --alert-command`: the profile's rules checked headless against a real
Redis and real workers, the command run once per firing with the alert's JSON on stdin."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import workers.tasks  # noqa: F401  (registers the demo tasks on create_app)
from desktop.core.monitor.state import OFFLINE_AFTER_S
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.conftest import redis_server
from tests.desk_cli import celery_desk as cli
from tests.integration.worker_process import WorkerProcess
from workers import create_app

pytestmark = pytest.mark.slow
# Appends each alert it is given on stdin to a file, with when it was written.
APPEND = (
    "import json, sys, time; alert = json.load(sys.stdin); "
    "open(sys.argv[1], 'a').write(json.dumps({'written': time.time(), 'alert': alert}) + '\\n')"
)


@contextmanager
def _recording(profile: str, out: Path) -> Iterator[subprocess.Popen[str]]:
    """`record` with an --alert-command appending to `out`, subscribed before this yields."""
    command = shlex.join([sys.executable, "-c", APPEND, str(out)])
    recorder = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--profile", profile, "record",
         "--alert-command", command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    try:
        journal = Services.open().journal_path(Services.open().profiles.get(profile))
        deadline = time.monotonic() + 15
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # subscribed to events by now
        yield recorder
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(20)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(5)


def _alerts(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _profile(name: str, broker: Any) -> None:
    services = Services.open()
    services.profiles.save(Profile(name=name, broker_url=broker.url(0),
                                   result_backend=broker.url(1)))  # fmt: skip


def test_queue_latency_fires_once_within_two_seconds_of_being_true(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker:
        _profile("late", broker)
        added = cli("--profile", "late", "alerts", "add", "late", "--kind", "queue-latency",
                    "--threshold", "5", "--queue", "nobody-reads")  # fmt: skip
        assert added.returncode == 0, added.stderr
        out = tmp_path / "alerts.jsonl"
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        try:
            with _recording("late", out) as recorder:
                client.tasks["workers.tasks.t1"].apply_async(
                    args=[1, 2], kwargs={"message": ""}, queue="nobody-reads"
                )
                published = time.time()
                time.sleep(9.0)
                found = _alerts(out)
            stderr = recorder.stderr.read() if recorder.stderr else ""
        finally:
            client.close()
    assert len(found) == 1, (found, stderr)
    alert = found[0]["alert"]
    assert alert["rule"] == "late" and alert["kind"] == "queue-latency", alert
    assert alert["state"] == "firing" and alert["target"] == {"queue": "nobody-reads"}
    assert alert["value"] > 5 and alert["threshold"] == 5
    delay = found[0]["written"] - published
    assert 5.0 <= delay <= 7.0, (delay, alert)
    assert stderr.count("alert FIRING [late]") == 1, stderr


def test_worker_offline_fires_when_a_worker_is_sigkilled(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker:
        _profile("gone", broker)
        added = cli("--profile", "gone", "alerts", "add", "gone", "--kind", "worker-offline",
                    "--threshold", "2")  # fmt: skip
        assert added.returncode == 0, added.stderr
        out = tmp_path / "alerts.jsonl"
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        worker = WorkerProcess(
            queues=["tasks"],
            broker_url=broker.url(0),
            backend_url=broker.url(1),
            log_path=tmp_path / "worker.log",
        )
        try:
            with _recording("gone", out):
                worker.start()
                worker.wait_until_ready(client, timeout=60)
                time.sleep(3.0)  # a heartbeat or two reach the recorder
                assert _alerts(out) == []  # alive: nothing fired
                assert worker.proc is not None
                os.killpg(worker.proc.pid, signal.SIGKILL)  # no worker-offline event: silence
                killed = time.time()
                deadline = time.monotonic() + OFFLINE_AFTER_S + 2 + 8
                while not _alerts(out) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1.0)  # a second firing would be here by now
                found = _alerts(out)
        finally:
            worker.stop(timeout=10)
            client.close()
    assert len(found) == 1, found
    alert = found[0]["alert"]
    assert alert["kind"] == "worker-offline" and alert["target"] == {"worker": worker.nodename}
    assert alert["value"] > 2
    # offline once OFFLINE_AFTER_S passed since its last heartbeat (at most 2 s before the kill)
    assert OFFLINE_AFTER_S - 2 <= found[0]["written"] - killed <= OFFLINE_AFTER_S + 2 + 3


def test_a_failing_alert_command_is_said_and_recording_goes_on(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker:
        _profile("quiet", broker)
        added = cli("--profile", "quiet", "alerts", "add", "quiet", "--kind", "no-events",
                    "--threshold", "1")  # fmt: skip
        assert added.returncode == 0, added.stderr
        recorder = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", "quiet", "record",
             "--alert-command", "no-such-command-anywhere --flag"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            time.sleep(6.0)
            assert recorder.poll() is None, "record stopped"
        finally:
            recorder.send_signal(signal.SIGINT)
            _, stderr = recorder.communicate(timeout=20)
    assert "alert FIRING [quiet]" in stderr, stderr
    assert "alert command no-such-command-anywhere: could not be run" in stderr, stderr
    listed = cli("--profile", "quiet", "alerts", "log", "--json")
    assert [e["rule"] for e in json.loads(listed.stdout)] == ["quiet"]


def test_task_failures_by_a_query_fire_once_from_the_recorded_events(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker:
        _profile("fails", broker)
        added = cli("--profile", "fails", "alerts", "add", "fails", "--kind", "task-failures",
                    "--threshold", "1", "--minutes", "1",
                    "--task", "name:workers.tasks.fail queue:tasks")  # fmt: skip
        assert added.returncode == 0, added.stderr
        out = tmp_path / "alerts.jsonl"
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        worker = WorkerProcess(
            queues=["tasks"],
            broker_url=broker.url(0),
            backend_url=broker.url(1),
            log_path=tmp_path / "worker.log",
        )
        try:
            with _recording("fails", out):
                worker.start()
                worker.wait_until_ready(client, timeout=60)
                for count in range(3):
                    sent = client.tasks["workers.tasks.fail"].apply_async(queue="tasks")
                    with pytest.raises(ValueError):
                        sent.get(timeout=20)
                    time.sleep(1.5)  # the first failure alone is not more than 1
                    if count == 0:
                        assert _alerts(out) == []
                found = _alerts(out)
        finally:
            worker.stop(timeout=10)
            client.close()
    assert len(found) == 1, found
    alert = found[0]["alert"]
    assert alert["kind"] == "task-failures" and alert["value"] == 2, alert
    assert alert["target"] == {"task": "name:workers.tasks.fail queue:tasks"}
