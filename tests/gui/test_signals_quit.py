"""The real app as a process: SIGTERM/SIGINT quit cleanly, a kill -9 leaves a broker to adopt.

Each test starts `python -m desktop` offscreen on its own config and data dirs, waits for the
embedded redis-server it starts, signals the app and checks what is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import redis

from desktop.core.broker.embedded import EmbeddedStatus
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.support import pid_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 10.0


def _processes(program: str, cwd_under: Path) -> list[int]:
    """Live processes whose command line names `program` and whose cwd is under `cwd_under`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if program in cmdline and cwd.is_relative_to(cwd_under) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _servers_for(services: Services) -> list[int]:
    """Every live redis-server of this data dir (Redis chdirs to its `dir`, the data dir).

    The command line is no help: redis-server retitles itself "redis-server 127.0.0.1:PORT".
    """
    return _processes("redis-server", services.embedded.data_dir.resolve())


class App:
    """One `python -m desktop` process; its output goes to a file for the failure message."""

    def __init__(self, log: Path) -> None:
        env = dict(os.environ)  # the autouse fixture set the config and data dirs
        env["QT_QPA_PLATFORM"] = "offscreen"
        env["PYTHONUNBUFFERED"] = "1"
        self.log = log
        self.output = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"the app did not exit within {timeout:.0f} s; output:\n{self.text()}"
            ) from exc

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output.close()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Callable[[], App]]:
    """Start apps on demand; whatever is still running at the end is killed, broker too."""
    started: list[App] = []

    def start() -> App:
        app = App(tmp_path / f"app-{len(started)}.log")
        started.append(app)
        return app

    try:
        yield start
    finally:
        for app in started:
            app.stop()
        services = Services.open()
        services.embedded.stop()
        # Redis servers of this data dir, and app probes (own session) of projects in tmp_path.
        leftovers = _servers_for(services) + _processes("app_probe.py", tmp_path.resolve())
        for pid in leftovers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _wait_running(app: App, services: Services) -> EmbeddedStatus:
    status: list[EmbeddedStatus] = []

    def running() -> bool:
        if app.process.poll() is not None:
            raise AssertionError(f"the app exited early ({app.process.returncode}):\n{app.text()}")
        status[:] = [services.embedded.status()]
        return status[0].running

    wait_for(running, START_TIMEOUT_S, "the embedded broker of the app")
    assert status[0].pid is not None
    return status[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_quits_cleanly_and_stops_the_broker(
    apps: Callable[[], App], signum: signal.Signals
) -> None:
    services = Services.open()
    app = apps()
    status = _wait_running(app, services)
    pid = status.pid
    assert pid is not None and pid_alive(pid)
    assert _servers_for(services) == [pid]

    app.process.send_signal(signum)
    code = app.wait(EXIT_TIMEOUT_S)
    assert code == 0, f"exit code {code}; output:\n{app.text()}"
    wait_for(lambda: not pid_alive(pid), 5, f"redis-server {pid} to stop")
    assert _servers_for(services) == []
    assert services.embedded.status().running is False
    assert "Traceback" not in app.text()


def test_the_app_connects_and_listens_to_events_on_its_own_loop(apps: Callable[[], App]) -> None:
    """The real `python -m desktop`: the profile opens as a job on the loop the window runs
    (a job started before the loop ran once landed on a second loop: "attached to a different
    loop", the profile never connected, no event was ever heard), and the event monitor then
    subscribes to the broker's event channel."""
    services = Services.open()
    app = apps()
    _wait_running(app, services)
    client = redis.Redis.from_url(services.embedded.url(0), socket_timeout=5)
    try:

        def listening() -> bool:
            if app.process.poll() is not None:
                raise AssertionError(f"the app exited ({app.process.returncode}):\n{app.text()}")
            return int(client.execute_command("PUBSUB", "NUMPAT")) >= 1

        wait_for(listening, START_TIMEOUT_S + 15, "the app's event monitor to subscribe")
    finally:
        client.close()
    assert "job failed" not in app.text() and "different loop" not in app.text(), app.text()


def test_kill_9_leaves_a_broker_the_next_app_adopts_then_stops(
    apps: Callable[[], App],
) -> None:
    services = Services.open()
    first = apps()
    status = _wait_running(first, services)
    pid = status.pid
    assert pid is not None
    first.process.kill()
    assert first.wait(EXIT_TIMEOUT_S) == -signal.SIGKILL
    # The broker lives in its own session: it survives the app, for the next start to adopt.
    assert pid_alive(pid)
    assert services.embedded.status().running

    # One long-lived connection to watch for the second app's own connections.
    assert status.port is not None
    watcher = redis.Redis(
        host="127.0.0.1", port=status.port, password=services.embedded.password, socket_timeout=2
    )
    try:
        baseline = int(watcher.info("stats")["total_connections_received"])
        second = apps()
        # The second app checks the broker (reuse) and then pings it: two new connections.
        wait_for(
            lambda: int(watcher.info("stats")["total_connections_received"]) >= baseline + 2,
            START_TIMEOUT_S,
            "the second app to connect to the running broker",
        )
        assert second.process.poll() is None, second.text()
        again = services.embedded.status()
        assert again.running and again.pid == pid, "the second app started another broker"
        assert _servers_for(services) == [pid]
    finally:
        watcher.close()

    second.process.send_signal(signal.SIGTERM)
    code = second.wait(EXIT_TIMEOUT_S)
    assert code == 0, f"exit code {code}; output:\n{second.text()}"
    wait_for(lambda: not pid_alive(pid), 5, f"adopted redis-server {pid} to stop")
    assert _servers_for(services) == [], "an orphan redis-server is left"
    assert services.embedded.status().running is False


def test_quit_is_prompt_while_the_app_probe_hangs(apps: Callable[[], App], tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "hang_app.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    services = Services.open()
    services.profiles.save(Profile(name="hang", app_module="hang_app", workdir=str(workdir)))
    services.profiles.set_active("hang")
    app = apps()
    pid = _wait_running(app, services).pid
    assert pid is not None
    time.sleep(0.3)  # the probe child is importing hang_app by now
    app.process.send_signal(signal.SIGTERM)
    code = app.wait(EXIT_TIMEOUT_S)
    assert code == 0
    assert not pid_alive(pid)
