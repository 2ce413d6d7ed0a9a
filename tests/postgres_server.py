"""A PostgreSQL server of the tests' own: `initdb` into a temporary directory, `pg_ctl start`
on a free port of 127.0.0.1 (binaries of Debian's postgresql package), stopped at the end.

Never the machine's own server (5432): the port is chosen free, the socket sits in the data
directory. initdb refuses to run as root; as root the server runs as the `postgres` user the
package creates, in a directory handed to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

SUPERUSER = "desk"
START_TIMEOUT_S = 30


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        directory = Path(initdb).parent
        version = re.search(r"/postgresql/(\d+)", initdb)
        if (directory / "pg_ctl").exists() and version:
            found.append((int(version.group(1)), directory))
    return max(found)[1] if found else None


def why_no_server() -> str | None:
    """Why the tests cannot start a server here, or None when they can."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        return f"psycopg 3 with its pool is not installed ({exc})"
    if postgres_bin() is None:
        return "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user for initdb to run as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One running server; `url(db)` carries the superuser's password (tests only)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        assert self.bin is not None
        self.root = Path(tempfile.mkdtemp(prefix="celery-desk-pg-"))
        self.data = self.root / "data"
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        self.pid: int | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._run_as = {"user": account.pw_uid, "group": account.pw_gid}

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True, text=True, timeout=START_TIMEOUT_S, cwd=self.root,
            **self._run_as,
        )  # fmt: skip

    def _init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._run_as:
            os.chown(pwfile, self._run_as["user"], self._run_as["group"])
        made = self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        if made.returncode:
            raise RuntimeError(f"initdb failed: {made.stderr}")

    def start(self) -> None:
        """initdb the first time, then start (again, after a stop, on the same port)."""
        if not (self.data / "PG_VERSION").exists():
            self._init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "-t", str(START_TIMEOUT_S), "start",
        )  # fmt: skip
        if started.returncode:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def halt(self) -> None:
        """Stop the server (fast: clients cut off), keeping its data to start again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if self.pid is not None:
            self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new database of a unique name; returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
