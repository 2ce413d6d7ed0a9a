"""Local workers through the supervisor and its keeper: real processes on a real broker."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from desktop.core.app.config import read_effective_config
from desktop.core.app.panel_app import client_app
from desktop.core.local.local_worker import CRASHED, ONLINE, STOPPED
from desktop.core.local.supervisor import Supervisor, all_supervisors
from desktop.core.local.worker_spec import WorkerError, WorkerSpec, WorkerSpecError
from desktop.core.settings.profile_model import Endpoints, Profile, QueueSpec, TransportOverrides
from tests.conftest import stop_with_this_process
from tests.desk_cli import celery_desk
from tests.integration.worker_process import REPO_ROOT

pytestmark = pytest.mark.slow


def make_profile(broker: str, backend: str, prefix: str, **changes: Any) -> Profile:
    queues = [QueueSpec(prefix + name, 10) for name in ("queue1", "queue2", "tasks")]
    values: dict[str, Any] = {"workdir": str(REPO_ROOT), "queues": queues, **changes}
    return Profile(name="supervised", broker_url=broker, result_backend=backend, **values)


class Harness:
    """A supervisor on one profile, the panel's app to ping and send, and cleanup."""

    def __init__(self, directory: Path, profile: Profile, endpoints: Endpoints) -> None:
        self.supervisor = Supervisor(directory, profile)
        self.endpoints = endpoints
        self.profile = profile
        self.config = read_effective_config(profile, endpoints)
        self.app: Celery = client_app(self.config, endpoints)

    def start(self, spec: WorkerSpec, timeout: float = 30.0) -> Any:
        self.supervisor.start(spec, self.endpoints, self.config)
        started = self.supervisor.get(spec.name)
        assert started is not None and started.keeper_pid
        stop_with_this_process(started.keeper_pid)  # a killed test run leaves no worker
        return self.supervisor.wait_online(spec.name, self.app, timeout)

    def close(self) -> None:
        self.supervisor.stop_all(grace_s=5.0)
        self.app.close()


@pytest.fixture
def redis_harness(embedded_redis: Any, tmp_path: Path, prefix: str) -> Iterator[Harness]:
    profile = make_profile(embedded_redis.url(0), embedded_redis.url(1), prefix)
    harness = Harness(
        tmp_path / "workers", profile, Endpoints(profile.broker_url, profile.result_backend, "")
    )
    yield harness
    harness.close()


def read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line of a child's output, or b"" when none came in time (a test never hangs)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else b""


def _wait_state(supervisor: Supervisor, name: str, state: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker = supervisor.get(name)
        if worker is not None and worker.state == state:
            return worker
        time.sleep(0.05)
    raise AssertionError(f"{name} is {supervisor.get(name)} , not {state}")


def test_a_warm_stop_lets_the_running_task_finish(redis_harness: Harness, prefix: str) -> None:
    supervisor = redis_harness.supervisor
    worker = redis_harness.start(WorkerSpec("warm", [prefix + "tasks"], concurrency=1))
    assert worker.state == ONLINE and worker.pid
    cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes().decode(errors="replace")
    keeper_cmdline = Path(f"/proc/{worker.keeper_pid}/cmdline").read_bytes().decode()
    password = redis_harness.endpoints.broker_url.split(":")[2].split("@")[0]
    assert password and password not in cmdline and password not in keeper_cmdline
    assert password not in supervisor.record_path("warm").read_text()

    result = redis_harness.app.send_task(
        "workers.tasks.sleep", args=[5], queue=prefix + "tasks", priority=5
    )
    deadline = time.monotonic() + 20
    while result.state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.state == "STARTED"
    supervisor.stop("warm")
    assert _wait_state(supervisor, "warm", "stopping", 5).state == "stopping"
    stopped = supervisor.wait_stopped("warm", 30)
    assert stopped.state == STOPPED and stopped.exit_code == 0
    assert result.get(timeout=5) == 5
    assert any("Warm shutdown" in line for line in supervisor.log_tail("warm"))


def test_a_worker_killed_outside_the_panel_shows_as_crashed_with_its_last_lines(
    redis_harness: Harness, prefix: str
) -> None:
    supervisor = redis_harness.supervisor
    worker = redis_harness.start(WorkerSpec("victim", [prefix + "queue1"], pool="solo"))
    os.kill(worker.pid, signal.SIGKILL)
    crashed = _wait_state(supervisor, "victim", CRASHED)
    assert crashed.exit_code == -signal.SIGKILL
    assert crashed.detail.startswith("killed by SIGKILL") and "ready" in crashed.detail
    assert not crashed.running


def test_auto_restart_brings_a_crashed_worker_back_online(
    redis_harness: Harness, prefix: str
) -> None:
    supervisor = redis_harness.supervisor
    spec = WorkerSpec("phoenix", [prefix + "queue2"], pool="solo", auto_restart=True)
    first = redis_harness.start(spec)
    os.kill(first.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    again = supervisor.get("phoenix")
    while time.monotonic() < deadline:
        again = supervisor.get("phoenix")
        if again is not None and again.pid not in (None, first.pid) and again.restarts == 1:
            break
        time.sleep(0.1)
    assert again is not None and again.restarts == 1 and again.pid != first.pid
    assert supervisor.wait_online("phoenix", redis_harness.app, 30).state == ONLINE
    stopped = supervisor.stop_all(grace_s=20)
    assert [w.state for w in stopped] == [STOPPED]


def test_bad_settings_are_refused_before_anything_starts(
    redis_harness: Harness, prefix: str, tmp_path: Path
) -> None:
    supervisor = redis_harness.supervisor
    with pytest.raises(WorkerSpecError) as refused:
        supervisor.start(
            WorkerSpec("w", ["nowhere"], concurrency=0),
            redis_harness.endpoints,
            redis_harness.config,
        )
    assert set(refused.value.errors) == {"queues", "concurrency"}
    assert "nowhere" in refused.value.errors["queues"]
    missing = Supervisor(
        tmp_path / "other",
        make_profile(
            redis_harness.profile.broker_url, "", prefix, workdir=str(tmp_path / "missing")
        ),
    )
    with pytest.raises(WorkerSpecError, match="does not exist"):
        missing.start(
            WorkerSpec("w", [prefix + "tasks"]), redis_harness.endpoints, redis_harness.config
        )
    assert supervisor.workers() == [] and missing.workers() == []


def test_an_app_that_does_not_import_fails_with_its_own_error_output(
    embedded_redis: Any, tmp_path: Path, prefix: str
) -> None:
    profile = make_profile(
        embedded_redis.url(0), embedded_redis.url(1), prefix, app_module="no_such_app_module"
    )
    harness = Harness(tmp_path / "workers", profile, Endpoints(profile.broker_url, "", ""))
    try:
        with pytest.raises(WorkerError, match="no_such_app_module was not found") as failed:
            harness.start(WorkerSpec("broken", [prefix + "tasks"]))
        assert "exited before it came online (exit code 2)" in str(failed.value)
        (worker,) = harness.supervisor.workers()
        assert worker.state == CRASHED and not worker.running
    finally:
        harness.close()


OWNER = """
import sys, time
from desktop.core.app.config import read_effective_config
from desktop.core.settings.profile_model import Endpoints, Profile, QueueSpec
from desktop.core.local.supervisor import Supervisor
from desktop.core.local.worker_spec import WorkerSpec
broker, backend, prefix, directory = sys.argv[1:5]
profile = Profile(name="supervised", broker_url=broker, result_backend=backend,
                  queues=[QueueSpec(prefix + "tasks", 10)], workdir=sys.argv[5])
supervisor = Supervisor(__import__("pathlib").Path(directory), profile)
endpoints = Endpoints(broker, backend, "")
worker = supervisor.start(WorkerSpec("adopted", [prefix + "tasks"], pool="solo"),
                          endpoints, read_effective_config(profile, endpoints))
print(worker.keeper_pid, flush=True)
time.sleep(600)
"""


def test_workers_of_a_killed_panel_are_adopted_once(
    redis_harness: Harness, prefix: str, tmp_path: Path
) -> None:
    """The owner (a panel) dies by SIGKILL: its worker runs on, and the next one owns it."""
    directory = redis_harness.supervisor.directory
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OWNER,
            redis_harness.endpoints.broker_url,
            redis_harness.endpoints.result_backend,
            prefix,
            str(directory),
            str(REPO_ROOT),
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert owner.stdout is not None
    line = read_line(owner, 60)
    assert line, "the owner did not start its worker"
    keeper_pid = int(line)
    stop_with_this_process(keeper_pid)
    owner.kill()
    owner.wait()
    supervisor = redis_harness.supervisor  # the "next start": same directory, new object
    adopted = supervisor.wait_online("adopted", redis_harness.app, 30)
    assert [w.name for w in supervisor.workers()] == ["adopted"]
    assert adopted.keeper_pid == keeper_pid and adopted.state == ONLINE
    again = Supervisor(directory, redis_harness.profile)  # and a third: still one worker
    assert [w.pid for w in again.workers()] == [adopted.pid]
    with pytest.raises(WorkerSpecError, match="already runs"):
        again.start(
            WorkerSpec("adopted", [prefix + "tasks"]), redis_harness.endpoints, redis_harness.config
        )
    supervisor.stop("adopted")
    assert supervisor.wait_stopped("adopted", 20).state == STOPPED


def test_cli_start_list_logs_and_stop(embedded_redis: Any, tmp_path: Path, prefix: str) -> None:
    """The CLI's worker keeps running after the command returns; list/logs/stop find it."""
    config = tmp_path / "config"
    env = {**os.environ, "CELERY_DESK_CONFIG_DIR": str(config), "PYTHONPATH": str(REPO_ROOT)}
    add = [
        sys.executable,
        "-m",
        "desktop",
        "profile",
        "add",
        "cli",
        "--broker",
        "redis://127.0.0.1:1/0",
        "--workdir",
        str(REPO_ROOT),
    ]
    for name in ("queue1", "queue2", "tasks"):
        add += ["--queue", prefix + name]
    assert subprocess.run(add, env=env, capture_output=True, text=True).returncode == 0

    def desk(*args: str) -> subprocess.CompletedProcess[str]:
        return celery_desk(*args, "--profile", "cli", "--broker", broker, env=env, timeout=90)

    broker = embedded_redis.url(0)
    try:
        cli_round_trip(desk, prefix)
    finally:  # whatever failed, no worker of this test keeps running
        for supervisor in all_supervisors(config / "data" / "workers"):
            supervisor.stop_all(grace_s=5)


def cli_round_trip(desk: Any, prefix: str) -> None:
    started = desk("worker", "start", "--queue", prefix + "queue1", "--concurrency", "1")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().startswith(prefix + "queue1@")
    listed = json.loads(desk("worker", "list", "--json").stdout)
    assert [(w["queues"], w["state"]) for w in listed] == [([prefix + "queue1"], "online")]
    assert "ready" in desk("worker", "logs", prefix + "queue1").stdout
    refused = desk("worker", "start", "--queue", "nope", "--concurrency", "0")
    assert refused.returncode == 2 and "unknown queue(s) nope" in refused.stderr
    stopped = desk("worker", "stop", "--all", "--timeout", "30")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped (exit code 0)" in stopped.stdout
    assert json.loads(desk("worker", "list", "--json").stdout)[0]["state"] == "stopped"
    audited = json.loads(desk("audit", "--json").stdout)  # what the commands did, newest first
    assert [(e["action"], e["source"], e["outcome"]) for e in audited] == [
        ("worker stop", "cli", "ok"),
        ("worker start", "cli", "ok"),
    ]
    assert audited[1]["params"]["queues"] == [prefix + "queue1"]
    assert json.loads(audited[0]["reply"]) == {"state": "stopped", "exit": 0}


def test_a_worker_that_never_comes_online_is_stopped_not_left_starting(
    embedded_redis: Any, tmp_path: Path, prefix: str, unused_port: int
) -> None:
    """Nothing answers on the broker's port: Celery retries for ever; the supervisor ends it."""
    nowhere = f"redis://127.0.0.1:{unused_port}/0"
    profile = make_profile(nowhere, nowhere, prefix)
    harness = Harness(tmp_path / "workers", profile, Endpoints(nowhere, nowhere, ""))
    try:
        harness.supervisor.start(
            WorkerSpec("lost", [prefix + "tasks"]), harness.endpoints, harness.config
        )
        time.sleep(3.5)
        assert harness.supervisor.get("lost").state == "starting"
        adopter = Supervisor(harness.supervisor.directory, profile)  # another panel: not its own
        assert adopter.expire_starting(timeout_s=3) == []
        (expired,) = harness.supervisor.expire_starting(timeout_s=3)
        assert expired.name == "lost"
        assert harness.supervisor.wait_stopped("lost", 15).running is False
        assert not harness.supervisor.expire_starting(timeout_s=3)
    finally:
        harness.close()


def test_workers_get_the_apps_transport_options_unless_the_profile_overrides_one(
    tmp_path: Path,
) -> None:
    """`celery -A APP worker` as a person starts it: nothing added when the profile overrides
    nothing; with an override, the app's options with the override over them (ps shows them:
    no secret there)."""
    from tests.factories import app_config

    spec = WorkerSpec("w", ["tasks"])
    plain_profile = make_profile("redis://h/0", "", "")
    plain = app_config(broker_transport_options={"priority_steps": [0, 5]})
    argv = Supervisor(tmp_path, plain_profile).argv(spec, plain)
    assert "--" not in argv and not any("broker_transport_options" in a for a in argv)
    assert plain.redelivery_delay_s() == 3600 + 10 * 10  # kombu's own timings
    chosen = make_profile(
        "redis://h/0",
        "",
        "",
        transport=TransportOverrides(
            visibility_timeout=5, unacked_restore_interval=1, unacked_restore_throttle=1
        ),
    )
    config = app_config(broker_transport_options={"priority_steps": [0, 5]}, profile=chosen)
    argv = Supervisor(tmp_path, chosen).argv(spec, config)
    extra = argv[argv.index("--") + 1 :]
    assert extra == [
        "broker_transport_options=(json)"
        + json.dumps(
            {
                "priority_steps": [0, 5],
                "visibility_timeout": 5,
                "unacked_restore_interval": 1,
                "unacked_restore_throttle": 1,
            },
            separators=(",", ":"),
        )
    ]
    assert config.redelivery_delay_s() == 6


def test_an_override_is_refused_when_the_apps_options_cannot_go_on_a_command_line(
    tmp_path: Path,
) -> None:
    """With an override the worker's whole broker_transport_options go after `--`: a value that
    is not plain data would arrive as text, a password would show in `ps`. Refused, saying why."""
    from tests.factories import app_config

    spec = WorkerSpec("w", ["celery"])
    chosen = make_profile(
        "redis://h/0", "", "", transport=TransportOverrides(visibility_timeout=60)
    )
    for options, said in (
        ({"socket_keepalive_options": {4: 60}}, "socket_keepalive_options"),
        ({"sentinel_kwargs": {"password": "s3cret"}}, "password"),
    ):
        config = app_config(broker_transport_options=options, profile=chosen)
        with pytest.raises(WorkerSpecError) as refused:
            Supervisor(tmp_path, chosen).check(spec, config)
        assert said in refused.value.errors["transport"]
        assert "s3cret" not in str(refused.value)


def test_a_task_s_own_lines_are_found_in_its_local_worker_s_log(
    redis_harness: Harness, prefix: str
) -> None:
    """A failing task on a supervised worker: its received line, its error and the whole
    traceback, and none of another task's lines (task_logs.task_log_lines on the real log)."""
    from desktop.core.local.task_logs import local_log_of, task_log_lines

    running = redis_harness.start(WorkerSpec("logs", [prefix + "tasks"], concurrency=1))
    app = redis_harness.app
    failed = app.send_task("workers.tasks.fail", args=["logged boom"], queue=prefix + "tasks")
    other = app.send_task("workers.tasks.add", args=[1, 2], queue=prefix + "tasks")
    with pytest.raises(ValueError):
        failed.get(timeout=20)
    assert other.get(timeout=20) == 3
    log = local_log_of(redis_harness.supervisor.workers(), running.nodename)
    assert log == running.log_path

    def lines() -> list[str]:
        return task_log_lines(log, failed.id)

    deadline = time.monotonic() + 10
    while not any("raised unexpected" in line for line in lines()):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    found = lines()
    assert f"workers.tasks.fail[{failed.id}] received" in found[0]
    assert any("Traceback (most recent call last)" in line for line in found)
    assert any("ValueError: logged boom" in line for line in found)
    assert not any(other.id in line for line in found)
    assert task_log_lines(log, "no-such-task") == []
