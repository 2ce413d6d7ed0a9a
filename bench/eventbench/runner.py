"""The parent's side: one consumer process and one publisher process per run, on the private
Redis, with the subscriber's output buffer and Redis's drops watched."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import URL_ENV

# Children run the same command as the parent, with a hidden --role.
SCRIPT = Path(__file__).resolve().parent.parent / "events.py"


class Child:
    """A bench subprocess whose stdout lines arrive on a queue (so waits can time out)."""

    def __init__(self, role: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.role = role
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--role", role, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, tag: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.role}: no {tag} within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.role} exited ({self.proc.wait()}): {self.tail()}")
            if line.startswith(tag):
                body = line[len(tag) :].strip()
                return json.loads(body) if body else {}

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def tail(self, lines: int = 8) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace").strip().splitlines()
            return " | ".join(text[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case --drain left it frozen
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()


class RedisWatch:
    """Samples the subscriber's output buffer in Redis (the backlog that gets it dropped)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.max_omem = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(Exception):
                for entry in self.client.client_list(_type="pubsub"):
                    self.max_omem = max(self.max_omem, int(entry.get("omem", 0)))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        return self.max_omem


def _redis_stats(client: Any, log: Path) -> dict[str, int]:
    """Bytes received so far, and subscribers dropped so far (from the server's log: Redis 7.0
    has no counter for output-buffer disconnections)."""
    info = client.info("stats")
    try:
        drops = log.read_text(errors="replace").count("overcoming of output buffer limits")
    except OSError:
        drops = 0
    return {"drops": drops, "net_in": int(info.get("total_net_input_bytes", 0))}


def _wait_numpat(client: Any, wanted: Callable[[int], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted(int(client.pubsub_numpat())):
            return True
        time.sleep(0.02)
    return False


def run_one(
    role: str, url: str, args: argparse.Namespace, scratch: Path, client: Any, log: Path
) -> dict[str, Any]:
    """One consumer alone against one flood; returns its figures plus the flood's."""
    expected = 4 * args.tasks
    env = {**os.environ, URL_ENV: url, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    workdir = scratch / role
    workdir.mkdir()
    if not _wait_numpat(client, lambda n: n == 0, 15):
        raise RuntimeError("a previous subscriber is still connected")
    before = _redis_stats(client, log)
    common = ["--tasks", str(args.tasks), "--quiet", str(args.quiet), "--scratch", str(workdir)]
    common += ["--switch-interval", str(args.switch_interval)]
    consumer = Child(role, common, env, workdir / "consumer.log")
    children = [consumer]
    try:
        ready = consumer.wait_for("READY", 120)
        if not _wait_numpat(client, lambda n: n >= 1, 60):
            raise RuntimeError(f"{role} never subscribed: {consumer.tail()}")
        time.sleep(0.3)  # let a wake-up broadcast or two pass before the flood
        if args.drain:  # subscribed, then frozen: the whole flood waits in Redis for it
            consumer.proc.send_signal(signal.SIGSTOP)
        watch = RedisWatch(client)
        publisher = Child(
            "publish",
            [*common, "--pipeline", str(args.pipeline), "--rate", str(args.rate)],
            env,
            workdir / "pub.log",
        )
        children.append(publisher)
        pace = 4 * args.tasks / args.rate if args.rate else args.tasks / 500
        flood = publisher.wait_for("RESULT", 60 + pace)
        if args.drain:
            consumer.proc.send_signal(signal.SIGCONT)
        consumer.tell(f"published {flood['published']}")
        result = consumer.wait_for("RESULT", 120 + args.tasks / 250 + args.quiet)
        max_omem = watch.stop()
        after = _redis_stats(client, log)
        for child in children:
            child.proc.wait(30)
    finally:
        for child in children:
            child.stop()
    result.update(
        role=role,
        expected=expected,
        lost=expected - int(result["received"]),
        redis_drops=after["drops"] - before["drops"],
        redis_max_backlog_mb=max_omem / 2**20,
        rss_ready_mb=ready.get("rss_mb", 0.0),
        publisher_eps=flood["eps"],
        publisher_s=flood["elapsed_s"],
        bytes_per_event=(after["net_in"] - before["net_in"]) / max(1, flood["published"]),
    )
    return result
