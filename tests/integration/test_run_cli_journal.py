"""`celery-desk run` when the journal fails around a send (issue 13 review), on the embedded
Redis: a journal that cannot be opened refuses the send (exit 2, nothing sent); one that is
locked once the broker took the messages says they WERE sent (exit 3), never a traceback; a
broker that stops answering mid-send ends the command with what went out already journaled.

Real faults: a journal file of random bytes or in a read-only directory, a second SQLite
connection holding the write lock, and a proxy in front of Redis that holds or swallows what
comes after the first task message (a broker that stops answering part way)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.integration.test_config_damage import _read_only_run
from tests.integration.test_run_cli import desk
from tests.integration.worker_process import REPO_ROOT

pytestmark = pytest.mark.slow


class RedisProxy:
    """TCP in front of Redis. `hold`: the first task message (LPUSH) waits until `release` is
    set. Otherwise that first message goes through, and nothing sent after it does (the
    broker stops answering part way). `cut`: once Redis answered that first message, the
    connection that sent it is closed at its next command and no new one is taken (the
    broker goes away part way: the send fails)."""

    def __init__(self, upstream: int, *, hold: bool, cut: bool = False) -> None:
        self.upstream = upstream
        self.hold = hold
        self.cut = cut
        self.cut_client: socket.socket | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        self.swallowing = False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if outbound and source is self.cut_client:  # answered: now it goes away
                    self.listener.close()
                    source.close()
                    sink.close()
                    return
                if outbound and self.swallowing:
                    continue
                if outbound and b"LPUSH" in chunk and not self.reached.is_set():
                    self.reached.set()
                    if self.hold:
                        self.release.wait(60)
                    else:
                        self.swallowing = True
                    if self.cut:
                        self.cut_client = source
                sink.sendall(chunk)

    def close(self) -> None:
        self.release.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def proxied(embedded_redis: Any, *, hold: bool, cut: bool = False) -> Iterator[RedisProxy]:
    proxy = RedisProxy(int(urlsplit(embedded_redis.url(0)).port or 0), hold=hold, cut=cut)
    try:
        yield proxy
    finally:
        proxy.close()


def _profile(broker_url: str, backend_url: str, prefix: str) -> Path:
    services = Services.open()
    profile = Profile(
        name="runner",
        broker_url=broker_url,
        result_backend=backend_url,
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(prefix + "tasks", 10)],
    )
    services.profiles.save(profile)  # made, or pointed at another broker
    return services.journal_path(profile)


def _canvas(tmp_path: Path, prefix: str, count: int = 3) -> str:
    add = {"type": "task", "task": "workers.tasks.add", "args": [1, 2],
           "options": {"queue": prefix + "tasks"}}  # fmt: skip
    root = {"type": "group", "children": [add] * count}
    path = tmp_path / "group.json"
    path.write_text(json.dumps({"format": "celery-desk/canvas", "version": 1, "root": root}))
    return str(path)


def _waiting_ids(embedded_redis: Any, queue: str) -> list[str]:
    """The ids of the task messages waiting in `queue` (each of its priority steps' lists)."""
    client = redis.Redis.from_url(embedded_redis.url(0))
    try:
        lists = [k for k in client.scan_iter(match=f"*{queue}*") if client.type(k) == b"list"]
        return [json.loads(m)["headers"]["id"] for k in lists for m in client.lrange(k, 0, -1)]
    finally:
        client.close()


def _journaled() -> list[str]:
    listed = desk("tasks", "--json", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    return [task["id"] for task in json.loads(listed.stdout)]


@pytest.mark.parametrize("damage", ["random bytes", "a directory", "read-only directory"])
def test_a_journal_that_cannot_be_written_refuses_the_send(
    embedded_redis: Any, prefix: str, tmp_path: Path, damage: str
) -> None:
    journal = _profile(embedded_redis.url(0), embedded_redis.url(1), prefix)
    journal.parent.mkdir(parents=True, exist_ok=True)
    run = ("run", _canvas(tmp_path, prefix), "--no-check")
    if damage == "random bytes":
        journal.write_bytes(os.urandom(8192))
        refused = desk(*run)
    elif damage == "a directory":
        journal.mkdir()
        refused = desk(*run)
    else:
        Journal(journal).close()  # a good journal, then its directory made read-only
        for leftover in journal.parent.glob(journal.name + "-*"):
            leftover.unlink()
        # A real read-only mount (root ignores a directory's mode), as a full disk's neighbour
        refused = _read_only_run(journal.parent, *run, "--profile", "runner")
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: not sent: "), refused.stderr
    assert str(journal) in lines[0]
    assert _waiting_ids(embedded_redis, prefix + "tasks") == []  # nothing was sent


def _run_with_the_journal_locked_once_sending(
    embedded_redis: Any, prefix: str, tmp_path: Path, *options: str, cut: bool = False
) -> tuple[subprocess.Popen[str], str, str, Path]:
    """`run` through the proxy; the journal is locked by another writer (past its 5 s busy
    timeout) once the first task message reached the broker."""
    with proxied(embedded_redis, hold=True, cut=cut) as proxy:
        broker = embedded_redis.url(0).replace(f":{proxy.upstream}/", f":{proxy.port}/")
        journal = _profile(broker, embedded_redis.url(1), prefix)
        running = subprocess.Popen(
            [sys.executable, "-m", "desktop", "run", _canvas(tmp_path, prefix), "--no-check",
             "--profile", "runner", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )  # fmt: skip
        try:
            assert proxy.reached.wait(60), "the run never sent its first task"
            blocker = sqlite3.connect(journal, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # held past the journal's 5 s busy timeout
            proxy.release.set()
            out, err = running.communicate(timeout=90)
            blocker.execute("ROLLBACK")
            blocker.close()
        finally:
            running.kill()
    return running, out, err, journal


@pytest.mark.parametrize("step_timeout", ["10", "3"])
def test_a_journal_locked_after_the_broker_took_the_tasks_says_they_were_sent(
    embedded_redis: Any, prefix: str, tmp_path: Path, step_timeout: str
) -> None:
    """Also with a step timeout shorter than SQLite's 5 s wait on a locked journal: the
    journal step is bound past that wait, and its expiry would say WERE sent too (exit 3)."""
    running, out, err, journal = _run_with_the_journal_locked_once_sending(
        embedded_redis, prefix, tmp_path, "--step-timeout", step_timeout
    )
    assert running.returncode == 3, err
    assert "Traceback" not in err, err
    assert "sent 3 task(s), 3 of them not journaled: database is locked" in err, err
    assert "WERE sent" in err and str(journal) in err
    waiting = _waiting_ids(embedded_redis, prefix + "tasks")
    assert len(waiting) == 3 and all(task_id in out for task_id in waiting)


def test_a_broker_that_stops_mid_send_leaves_what_went_out_journaled(
    embedded_redis: Any, prefix: str, tmp_path: Path
) -> None:
    with proxied(embedded_redis, hold=False) as proxy:
        broker = embedded_redis.url(0).replace(f":{proxy.upstream}/", f":{proxy.port}/")
        _profile(broker, embedded_redis.url(1), prefix)
        ended = desk("run", _canvas(tmp_path, prefix), "--no-check", "--step-timeout", "2")
    assert ended.returncode == 1, ended.stderr
    assert "did not answer within 2 s" in ended.stderr and "(sending)" in ended.stderr
    waiting = _waiting_ids(embedded_redis, prefix + "tasks")
    assert len(waiting) == 1  # the first message went out, then the broker stopped answering
    _profile(embedded_redis.url(0), embedded_redis.url(1), prefix)
    assert _journaled() == waiting


def test_a_send_that_fails_part_way_with_the_journal_locked_says_those_sent_were_sent(
    embedded_redis: Any, prefix: str, tmp_path: Path
) -> None:
    """The broker goes away after taking the first of three tasks, which the locked journal
    could not keep: exit 3 and "WERE sent" for that one, never exit 1 (which reads as "send
    again")."""
    running, _out, err, journal = _run_with_the_journal_locked_once_sending(
        embedded_redis, prefix, tmp_path, cut=True
    )
    assert running.returncode == 3, err
    assert "Traceback" not in err, err
    assert "1 of 3 task(s) sent, then " in err and "1 of them not journaled" in err, err
    assert "those 1 of 3 task(s) WERE sent: do not send them again" in err, err
    assert str(journal) in err
    assert len(_waiting_ids(embedded_redis, prefix + "tasks")) == 1
