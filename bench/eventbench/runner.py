"""The parent's side: one consumer process and one publisher process per run, on the run's
broker (brokers.py), with the consumer's backlog in the broker and the broker's drops watched."""

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
from pathlib import Path
from typing import Any

from .brokers import BacklogWatch, wait_listeners
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


def run_one(role: str, args: argparse.Namespace, scratch: Path, side: Any) -> dict[str, Any]:
    """One consumer alone against one flood on `side` (brokers.py); returns its figures plus
    the flood's."""
    url = side.url
    expected = 4 * args.tasks
    env = {**os.environ, URL_ENV: url, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    workdir = scratch / role
    workdir.mkdir()
    if not wait_listeners(side, lambda n: n == 0, 15):
        raise RuntimeError("a previous subscriber is still connected")
    before = side.stats()
    common = ["--tasks", str(args.tasks), "--quiet", str(args.quiet), "--scratch", str(workdir)]
    common += ["--switch-interval", str(args.switch_interval)]
    consumer = Child(role, common, env, workdir / "consumer.log")
    children = [consumer]
    try:
        ready = consumer.wait_for("READY", 120)
        if not wait_listeners(side, lambda n: n >= 1, 60):
            raise RuntimeError(f"{role} never subscribed: {consumer.tail()}")
        time.sleep(0.3)  # let a wake-up broadcast or two pass before the flood
        if args.drain:  # subscribed, then frozen: the whole flood waits in Redis for it
            consumer.proc.send_signal(signal.SIGSTOP)
        watch = BacklogWatch(side.backlog, 0.05 if side.name == "redis" else 0.5)
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
        most = watch.stop()
        after = side.stats()
        for child in children:
            child.proc.wait(30)
    finally:
        for child in children:
            child.stop()
    result.update(
        role=role,
        expected=expected,
        lost=expected - int(result["received"]),
        broker_drops=after["drops"] - before["drops"],
        broker_max_backlog=most,
        rss_ready_mb=ready.get("rss_mb", 0.0),
        cpu_us_per_event=(result.get("cpu_s", 0.0) - ready.get("cpu_s", 0.0))
        * 1e6
        / max(1, int(result["received"])),
        publisher_eps=flood["eps"],
        publisher_s=flood["elapsed_s"],
        bytes_per_event=(after["net_in"] - before["net_in"]) / max(1, flood["published"]),
    )
    return result
