"""What every bench process shares: the consumers' names, the parent/child line protocol,
memory and GC figures, percentiles."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

URL_ENV = "CELERY_DESK_BENCH_BROKER"  # the URL carries a password: never on a command line
HISTORY_ENV = "CELERY_DESK_BENCH_HISTORY"  # (b0)'s journal: a PostgreSQL database of the run's
AMQP_CLIENT_ENV = "CELERY_DESK_BENCH_AMQP_CLIENT"  # the pipeline's RabbitMQ reader: pika, kombu
CONSUMERS = {
    "bare": "(a) bare Celery receiver",
    "pipeline": "(b) panel pipeline + Qt",
    "flower": "(c) Flower EventsState",
    "headless": "(b0) pipeline, no Qt",  # optional: Monitor + journal only (`record`)
    "pika": "(p) pika floor, no ack",  # optional, RabbitMQ: read and decode, nothing else
}


FLOWER_MAX_TASKS = 100_000  # flower.options `max_tasks` default in Flower 2.x
FLOWER_MAX_WORKERS = 5_000  # flower.options `max_workers` default


def memory_mb() -> dict[str, float]:
    """Resident and peak resident memory of this process, from /proc (Linux), and its CPU
    time so far (the CPU an event costs holds on a loaded machine, where events/s does not)."""
    figures = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                name = "rss_mb" if key == "VmRSS" else "peak_rss_mb"
                figures[name] = int(value.split()[0]) / 1024
    figures["cpu_s"] = cpu_seconds()
    return figures


class GcPauses:
    """Cyclic-GC pauses in this process: a full collection holds the GIL, stalling every thread."""

    def __init__(self) -> None:
        import gc

        self.pauses_ms: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self.pauses_ms.append((time.perf_counter() - self._started) * 1000)

    def figures(self) -> dict[str, float]:
        longest = max(self.pauses_ms, default=0.0)
        return {"gc_pause_ms_max": longest, "gc_pauses": len(self.pauses_ms)}


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (every thread)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def emit(tag: str, payload: dict[str, Any] | None = None) -> None:
    """One line to the parent on stdout: a tag, then optional JSON."""
    line = tag if payload is None else f"{tag} {json.dumps(payload)}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Control:
    """What a consumer learns from the parent on stdin: the flood is over."""

    def __init__(self) -> None:
        self.published_at: float | None = None
        thread = threading.Thread(target=self._read, name="bench-control", daemon=True)
        thread.start()

    def _read(self) -> None:
        for line in sys.stdin:
            if line.startswith("published"):
                self.published_at = time.perf_counter()

    def quiet_for(self, last_progress: float, quiet: float) -> bool:
        """The flood ended and nothing moved for `quiet` seconds: what is missing is lost."""
        if self.published_at is None:
            return False
        return time.perf_counter() - max(last_progress, self.published_at) > quiet
