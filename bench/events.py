"""Event throughput: a bare Celery receiver, the panel's pipeline and Flower, on one flood.

A publisher floods a private embedded Redis with synthetic task lifecycles (sent, received,
started, succeeded) through Celery's event dispatcher. Each consumer runs alone in its own
process (so its memory is its own), subscribes first, then drains the same kind of flood:

(a) a bare `app.events.Receiver` with a no-op handler: the reference;
(b) the panel: `Monitor` -> `ClusterState` -> `Journal` -> a Qt queued signal -> the tasks model
    under a `QTableView` shown offscreen, timing every model update on the GUI thread;
(c) Flower's `EventsState`, fed by `flower.events.Events` exactly as Flower feeds it (capture
    thread -> `io_loop.add_callback(state.event)` on a tornado IOLoop).

Redis drops a subscriber whose output buffer passes 32 MB, so events LOST count as much as
events/s. Prints figures and ratios from this run; asserts nothing (see docs/PERFORMANCE.md).
Usage: python bench/events.py [--tasks N] [--consumers bare,pipeline,flower] [--json]
  --consumers may add `headless` (the pipeline without Qt, as `celery-desk record` runs it);
  --unlimited-buffer lifts Redis's pub/sub limit (capacity, memory after every task);
  --rate N paces the publisher (a steady cluster instead of a flood);
  --drain freezes each consumer during the flood, then times its drain (its own capacity).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

URL_ENV = "CELERY_DESK_BENCH_BROKER"  # the URL carries a password: never on a command line
CONSUMERS = {
    "bare": "(a) bare Celery receiver",
    "pipeline": "(b) panel pipeline + Qt",
    "flower": "(c) Flower EventsState",
    "headless": "(b0) pipeline, no Qt",  # optional: Monitor + journal only (`record`)
}
LAG = 64  # tasks in flight: a lifecycle's four events interleave with other tasks' events
WORKERS = 4
FLOWER_MAX_TASKS = 100_000  # flower.options `max_tasks` default in Flower 2.x
FLOWER_MAX_WORKERS = 5_000  # flower.options `max_workers` default


# -- helpers shared by every process ---------------------------------------------------------
def memory_mb() -> dict[str, float]:
    """Resident and peak resident memory of this process, from /proc (Linux)."""
    figures = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                name = "rss_mb" if key == "VmRSS" else "peak_rss_mb"
                figures[name] = int(value.split()[0]) / 1024
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


# -- the publisher -----------------------------------------------------------------------------
_NAMES = (
    "reports.render_pdf",
    "mail.send_digest",
    "billing.charge_card",
    "etl.load_partition",
    "images.make_thumbnail",
    "search.reindex_document",
)


def _event(index: int, task_id: str, stage: int) -> tuple[int, str, dict[str, Any]]:
    """Stage 0-3 of one task's lifecycle, with the fields a client and a worker send (celery 5):
    (dispatcher index, event type, fields)."""
    worker = 1 + index % WORKERS
    if stage == 2:
        return worker, "task-started", {"uuid": task_id}
    if stage == 3:
        result = repr({"status": "ok", "rows": index % 500, "path": f"/srv/out/{task_id}.pdf"})
        runtime = 0.01 + (index % 97) / 100
        return worker, "task-succeeded", {"uuid": task_id, "result": result, "runtime": runtime}
    fields = {
        "uuid": task_id,
        "name": _NAMES[index % len(_NAMES)],
        "args": repr((index, f"customer-{index % 977}", {"rows": index % 500, "tags": ["a"]})),
        "kwargs": repr({"priority": "normal", "user": f"user-{index % 131}", "notify": True}),
        "root_id": task_id,
        "parent_id": None,
        "retries": 0,
        "eta": None,
        "expires": None,
    }
    if stage == 0:
        fields.update(queue="celery", exchange="", routing_key="celery")
        return 0, "task-sent", fields
    return worker, "task-received", fields


def publish(url: str, tasks: int, pipeline: int, rate: float = 0.0) -> dict[str, Any]:
    """Flood `tasks` lifecycles through Celery's dispatchers, pipelined with kombu's batch();
    with `rate`, no faster than that many events/s (a steady cluster rather than a flood)."""
    from celery import Celery

    app = Celery("bench-publisher", broker=url, set_as_current=False)
    ids = [str(uuid.uuid4()) for _ in range(tasks)]
    sent = 0
    with app.events.default_dispatcher(hostname="client@bench") as client:
        dispatchers = [client] + [
            app.events.Dispatcher(
                client.connection, hostname=f"celery@worker-{k}", channel=client.channel
            )
            for k in range(1, WORKERS + 1)
        ]
        producer = client.producer
        started = time.perf_counter()
        with producer.batch(pipeline):
            # Stage s of task i goes out at step i + s*LAG: four tasks' stages interleave.
            for step in range(tasks + 3 * LAG):
                for stage in range(4):
                    index = step - stage * LAG
                    if 0 <= index < tasks:
                        who, kind, fields = _event(index, ids[index], stage)
                        dispatchers[who].publish(kind, fields, producer)
                        sent += 1
                        if rate and not sent % pipeline:
                            ahead = started + sent / rate - time.perf_counter()
                            if ahead > 0:
                                time.sleep(ahead)
        elapsed = time.perf_counter() - started
    return {"published": sent, "elapsed_s": elapsed, "eps": sent / elapsed if elapsed else 0.0}


# -- (a) the bare receiver -------------------------------------------------------------------
def consume_bare(url: str, expected: int, quiet: float) -> dict[str, Any]:
    """Reference: JSON decode + a handler that only counts; reconnects at once when dropped."""
    from celery import Celery

    app = Celery("bench-bare", broker=url, set_as_current=False)
    control = Control()
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    reconnects = 0
    receiver: Any = None
    done = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += 1
        seen["last"] = now
        if seen["count"] >= expected:
            done.set()
            receiver.should_stop = True

    def watchdog() -> None:
        while not done.is_set():
            time.sleep(0.2)
            if control.quiet_for(seen["last"], quiet):
                done.set()
                if receiver is not None:
                    receiver.should_stop = True

    threading.Thread(target=watchdog, name="bench-watchdog", daemon=True).start()
    emit("READY", memory_mb())
    while not done.is_set():
        try:
            with app.connection_for_read() as connection:
                receiver = app.events.Receiver(connection, handlers={"*": on_event})
                receiver.capture(limit=None, timeout=None, wakeup=False)
        except Exception as exc:  # dropped by Redis (output buffer limit): count, go again
            if done.is_set():
                break
            reconnects += 1
            print(f"bare receiver dropped: {type(exc).__name__}: {exc}", file=sys.stderr)
    return {**_span(seen), "reconnects": reconnects, **memory_mb()}


def _span(seen: dict[str, Any]) -> dict[str, Any]:
    elapsed = seen["last"] - seen["first"] if seen["count"] > 1 else 0.0
    return {
        "received": seen["count"],
        "elapsed_s": elapsed,
        "eps": seen["count"] / elapsed if elapsed else 0.0,
    }


# -- (b) the panel's pipeline ------------------------------------------------------------------
def _fallback_model_class() -> type:
    """A minimal 8-column table model, used only when the panel's TasksModel cannot be imported."""
    from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

    columns = ("id", "name", "state", "worker", "args", "result", "sent", "runtime")

    class FallbackTasksModel(QAbstractTableModel):
        def __init__(self, journal: Any = None, parent: Any = None) -> None:
            super().__init__(parent)
            self._rows: list[Any] = []
            self._position: dict[str, int] = {}

        def rowCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008
            return 0 if parent.isValid() else len(self._rows)

        def columnCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008
            return 0 if parent.isValid() else len(columns)

        def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
            if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
                return None
            value = getattr(self._rows[index.row()], columns[index.column()])
            return "" if value is None else str(value)[:200]

        def apply_diff(self, diff: Any) -> None:
            # Newest rows on top: positions shift by the number inserted, no dict rebuild.
            offset = len(self._rows)
            changed = []
            known = [r for r in diff.tasks_added if r.id in self._position]
            for row in [*diff.tasks_changed, *known]:
                position = self._position.get(row.id)
                if position is not None:
                    self._rows[len(self._rows) - 1 - position] = row
                    changed.append(len(self._rows) - 1 - position)
            if changed:
                self.dataChanged.emit(
                    self.index(min(changed), 0), self.index(max(changed), len(columns) - 1)
                )
            fresh = [r for r in diff.tasks_added if r.id not in self._position]
            if fresh:
                self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
                for k, row in enumerate(fresh):
                    self._position[row.id] = offset + k
                self._rows[0:0] = reversed(fresh)
                self.endInsertRows()

    return FallbackTasksModel


def consume_pipeline(url: str, expected: int, quiet: float, scratch: Path) -> dict[str, Any]:
    """The panel as it runs: Monitor's threads feed a shown table on the GUI thread."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
    from PySide6.QtWidgets import QApplication, QTableView

    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.pipeline import Monitor
    from desktop.core.monitor.state import StateDiff

    app = QApplication([sys.argv[0]])
    gc_pauses = GcPauses()
    journal_path = scratch / "journal.sqlite3"
    journal = Journal(journal_path)
    model_used = "desktop.ui.tasks.model.TasksModel"
    try:
        from desktop.ui.tasks.model import TasksModel

        model = TasksModel(journal)
    except Exception as exc:  # the model is being written elsewhere: say so, measure anyway
        model_used = f"FALLBACK minimal model ({type(exc).__name__}: {exc})"
        print(f"TasksModel unavailable, using the fallback model: {exc}", file=sys.stderr)
        model = _fallback_model_class()(journal)
    view = QTableView()
    view.setModel(model)
    view.resize(1280, 800)
    view.show()
    app.processEvents()

    control = Control()
    lock = threading.Lock()
    progress = {"processed": 0, "emitted": 0, "first": 0.0, "last_batch": 0.0, "moved": 0.0}
    gui = {"applied": 0, "last": 0.0, "errors": 0, "error": "", "off_thread": 0}
    slot_ms: list[float] = []
    slot_cpu_ms: list[float] = []
    stalls_ms: list[float] = []
    backlog = {"max": 0}
    main_thread = threading.get_ident()

    class Bridge(QObject):
        """Carries each StateDiff from the batch thread to the GUI thread (queued signal)."""

        diff_ready = Signal(object)

        @Slot(object)
        def apply(self, diff: StateDiff) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                model.apply_diff(diff)
            except Exception as exc:
                gui["errors"] += 1
                gui["error"] = gui["error"] or f"{type(exc).__name__}: {exc}"
            finished = time.perf_counter()
            slot_ms.append((finished - started) * 1000)
            # CPU the GUI thread itself spent: wall minus this is waiting (for the GIL, mostly).
            slot_cpu_ms.append((time.thread_time() - cpu) * 1000)
            if threading.get_ident() != main_thread:
                gui["off_thread"] += 1
            gui["applied"] += 1
            gui["last"] = finished

    bridge = Bridge()
    bridge.diff_ready.connect(bridge.apply, Qt.ConnectionType.QueuedConnection)

    def on_diff(diff: StateDiff) -> None:
        with lock:
            progress["emitted"] += 1
        bridge.diff_ready.emit(diff)

    monitor = Monitor(url, "", journal, on_diff=on_diff)
    stream = monitor.stream
    pipeline_batch = stream.on_batch

    def on_batch(batch: list[dict[str, Any]]) -> None:
        pipeline_batch(batch)
        with lock:
            progress["processed"] += len(batch)
            progress["last_batch"] = time.perf_counter()

    stream.on_batch = on_batch

    def watch_stream() -> None:
        """First event time (1 ms resolution) and the deepest in-process backlog."""
        seen: tuple[int, ...] = ()
        while not finished.is_set():
            depth = stream.backlog
            if not progress["first"] and (depth or stream.stats.received):
                progress["first"] = time.perf_counter()
            backlog["max"] = max(backlog["max"], depth)
            now = (stream.stats.received, depth, progress["processed"], gui["applied"])
            if now != seen:
                seen, progress["moved"] = now, time.perf_counter()
            time.sleep(0.001 if not progress["first"] else 0.01)

    # Longest stretch the GUI event loop did not turn, whatever kept it busy (model updates,
    # the view's layout, painting): gaps between the ticks of a 5 ms precise timer.
    ticks = {"last": 0.0}

    def on_tick() -> None:
        # Only gaps that start once events flow (--drain freezes the process before that).
        now = time.perf_counter()
        if progress["first"] and ticks["last"] >= progress["first"]:
            stalls_ms.append((now - ticks["last"]) * 1000)
        ticks["last"] = now

    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.timeout.connect(on_tick)
    ticker.start(5)

    finished = threading.Event()

    def check() -> None:
        with lock:
            processed, emitted = progress["processed"], progress["emitted"]
        caught_up = gui["applied"] >= emitted
        # "Quiet" means nothing moved: not taken from Redis, not queued, not processed, not
        # shown. A batch stuck in the journal is not quiet (see docs/PERFORMANCE.md).
        if caught_up and (processed >= expected or control.quiet_for(progress["moved"], quiet)):
            finished.set()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(50)
    threading.Thread(target=watch_stream, name="bench-watch", daemon=True).start()
    monitor.start()
    emit("READY", memory_mb())
    app.exec()
    timer.stop()
    memory = memory_mb()
    stopped = monitor.stop()
    ticker.stop()
    rows_in_model = model.rowCount()
    journal.close()
    check_db = sqlite3.connect(journal_path)
    journal_tasks, journal_success = check_db.execute(
        "SELECT count(*), sum(state = 'SUCCESS') FROM tasks"
    ).fetchone()
    journal_events = check_db.execute("SELECT count(*) FROM events").fetchone()[0]
    check_db.close()
    last = gui["last"] or progress["last_batch"]
    elapsed = last - progress["first"] if progress["first"] else 0.0
    processed = progress["processed"]
    return {
        "received": processed,
        "elapsed_s": elapsed,
        "eps": processed / elapsed if elapsed else 0.0,
        "reconnects": stream.stats.reconnects,
        "batches": stream.stats.batches,
        "diffs_applied": gui["applied"],
        "gui_batch_ms_p50": percentile(slot_ms, 50),
        "gui_batch_ms_p99": percentile(slot_ms, 99),
        "gui_batch_ms_max": max(slot_ms, default=0.0),
        "gui_batch_cpu_ms_p50": percentile(slot_cpu_ms, 50),
        "gui_batch_cpu_ms_p99": percentile(slot_cpu_ms, 99),
        "gui_batch_cpu_ms_max": max(slot_cpu_ms, default=0.0),
        "gui_stall_ms_max": max(stalls_ms, default=0.0),
        "gui_stall_ms_p99": percentile(stalls_ms, 99),
        "gui_stalls_over_16ms": sum(1 for s in stalls_ms if s > 21),  # 16 ms past the tick
        "gui_errors": gui["errors"],
        "gui_first_error": gui["error"],
        "gui_off_thread": gui["off_thread"],
        "max_backlog_events": backlog["max"],
        "model": model_used,
        "model_rows": rows_in_model,
        "journal_tasks": journal_tasks,
        "journal_success": journal_success or 0,
        "journal_events": journal_events,
        "monitor_stopped": stopped,
        **gc_pauses.figures(),
        "malformed": monitor.state.malformed,
        **memory,
    }


# -- (c) Flower --------------------------------------------------------------------------------
def _log_progress(stream: Any, progress: dict[str, Any]) -> None:
    """Once a second to the consumer's log (stderr): taken from Redis, processed, queued."""
    started = time.perf_counter()

    def run() -> None:
        while True:
            time.sleep(1.0)
            print(
                f"t={time.perf_counter() - started:6.1f}s taken={stream.stats.received:>7} "
                f"processed={progress['processed']:>7} queued={stream.backlog:>7} "
                f"reconnects={stream.stats.reconnects}",
                file=sys.stderr,
                flush=True,
            )

    threading.Thread(target=run, name="bench-progress", daemon=True).start()


def consume_headless(url: str, expected: int, quiet: float, scratch: Path) -> dict[str, Any]:
    """The pipeline without Qt (what `celery-desk record` runs): tells Qt's share of (b)."""
    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.pipeline import Monitor

    journal = Journal(scratch / "journal.sqlite3")
    monitor = Monitor(url, "", journal)
    stream = monitor.stream
    pipeline_batch = stream.on_batch
    control = Control()
    progress = {"processed": 0, "first": 0.0, "last": 0.0, "moved": 0.0}

    def on_batch(batch: list[dict[str, Any]]) -> None:
        pipeline_batch(batch)
        progress["processed"] += len(batch)
        progress["last"] = time.perf_counter()

    stream.on_batch = on_batch
    monitor.start()
    emit("READY", memory_mb())
    _log_progress(stream, progress)
    backlog = 0
    seen: tuple[int, ...] = ()
    while not (progress["processed"] >= expected or control.quiet_for(progress["moved"], quiet)):
        if not progress["first"] and (stream.backlog or stream.stats.received):
            progress["first"] = time.perf_counter()
        backlog = max(backlog, stream.backlog)
        now = (stream.stats.received, stream.backlog, progress["processed"])
        if now != seen:
            seen, progress["moved"] = now, time.perf_counter()
        time.sleep(0.001 if not progress["first"] else 0.01)
    memory = memory_mb()
    monitor.stop()
    journal.close()
    elapsed = progress["last"] - progress["first"] if progress["first"] else 0.0
    return {
        "received": progress["processed"],
        "elapsed_s": elapsed,
        "eps": progress["processed"] / elapsed if elapsed else 0.0,
        "reconnects": stream.stats.reconnects,
        "max_backlog_events": backlog,
        **memory,
    }


def consume_flower(url: str, expected: int, quiet: float) -> dict[str, Any]:
    """Flower's own `Events` thread and `EventsState` on a tornado IOLoop, Flower's defaults."""
    from celery import Celery
    from flower.events import Events
    from tornado.ioloop import IOLoop, PeriodicCallback

    io_loop = IOLoop.current()
    capp = Celery("bench-flower", broker=url, set_as_current=False)
    events = Events(
        capp,
        io_loop,
        enable_events=True,  # Flower's default (--enable-events)
        max_tasks_in_memory=FLOWER_MAX_TASKS,
        max_workers_in_memory=FLOWER_MAX_WORKERS,
    )
    control = Control()
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    flower_event: Callable[[dict[str, Any]], None] = events.state.event

    def counted(event: dict[str, Any]) -> None:
        # Runs on the IOLoop, where Flower applies every event (on_event -> add_callback).
        flower_event(event)
        now = time.perf_counter()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += 1
        seen["last"] = now

    events.state.event = counted  # type: ignore[method-assign]
    taken = {"count": 0, "last": 0.0}
    flower_on_event: Callable[[dict[str, Any]], None] = events.on_event

    def taken_counted(event: dict[str, Any]) -> None:
        # Flower's capture thread: what it took from Redis, before the IOLoop applies it.
        taken["count"] += 1
        taken["last"] = time.perf_counter()
        flower_on_event(event)

    events.on_event = taken_counted  # type: ignore[method-assign]

    def check() -> None:
        moved = max(seen["last"], taken["last"])
        if seen["count"] >= expected or control.quiet_for(moved, quiet):
            io_loop.stop()

    checker = PeriodicCallback(check, 50)
    events.start()
    checker.start()
    emit("READY", memory_mb())
    io_loop.start()
    memory = memory_mb()
    state = events.state
    succeeded = sum(1 for _, task in state.tasks.items() if task.state == "SUCCESS")
    return {
        **_span(seen),
        "taken": taken["count"],
        "tasks_in_memory": len(state.tasks),
        "tasks_success_in_memory": succeeded,
        **memory,
    }


# -- the parent --------------------------------------------------------------------------------
class Child:
    """A bench subprocess whose stdout lines arrive on a queue (so waits can time out)."""

    def __init__(self, role: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.role = role
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--role", role, *args],
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


def _consumer_main(args: argparse.Namespace) -> int:
    url = os.environ[URL_ENV]
    expected = 4 * args.tasks
    scratch = Path(args.scratch)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval / 1000)
    if args.role == "publish":
        emit("RESULT", publish(url, args.tasks, args.pipeline, args.rate))
    elif args.role == "bare":
        emit("RESULT", consume_bare(url, expected, args.quiet))
    elif args.role == "pipeline":
        emit("RESULT", consume_pipeline(url, expected, args.quiet, scratch))
    elif args.role == "headless":
        emit("RESULT", consume_headless(url, expected, args.quiet, scratch))
    elif args.role == "flower":
        result = consume_flower(url, expected, args.quiet)
        emit("RESULT", result)
        os._exit(0)  # Flower's capture thread never returns; nothing else is left to flush
    return 0


def _ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom else 0.0


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Print the table and the ratios; return the JSON figures."""
    tasks = args.tasks
    any_result = next(iter(results.values()))
    print(
        f"flood: {tasks:,} tasks x 4 = {4 * tasks:,} events, ~{any_result['bytes_per_event']:.0f}"
        " bytes each on the wire (PUBLISH); one publisher process, kombu producer.batch("
        f"{args.pipeline}), " + (f"paced at {args.rate:,.0f} events/s" if args.rate else "flat out")
    )
    if args.drain:
        print(
            "drain mode: each consumer was frozen during the flood and drained Redis afterwards "
            "(pub ev/s is the flood's rate, events/s the consumer's own)"
        )
    header = (
        f"{'consumer':<27}{'pub ev/s':>9}{'received':>10}{'LOST':>9}{'events/s':>10}"
        f"{'elapsed':>9}{'RSS idle':>9}{'RSS end':>9}{'RSS peak':>9}{'drops':>6}{'Redis buf':>10}"
    )
    print(header)
    print("-" * len(header))
    for role, r in results.items():
        print(
            f"{CONSUMERS[role]:<27}{r['publisher_eps']:>9,.0f}{r['received']:>10,}"
            f"{r['lost']:>9,}{r['eps']:>10,.0f}{r['elapsed_s']:>8.1f}s"
            f"{r['rss_ready_mb']:>7.0f}MB{r['rss_mb']:>7.0f}MB{r['peak_rss_mb']:>7.0f}MB{r['redis_drops']:>6}"
            f"{r['redis_max_backlog_mb']:>8.1f}MB"
        )
    for role, r in results.items():
        if not args.drain and not r["lost"] and r["eps"] >= 0.97 * r["publisher_eps"]:
            print(
                f"{CONSUMERS[role]} kept up with the publisher: its events/s is the flood's "
                "rate, a lower bound of its capacity"
            )
    bare = results.get("bare", {}).get("eps", 0.0)
    pipe = results.get("pipeline", {})
    flower = results.get("flower", {})
    figures: dict[str, Any] = {
        "tasks": tasks,
        "redis_buffer_limit": "unlimited" if args.unlimited_buffer else "redis default",
        "rate": args.rate,
        "drain": args.drain,
        "bare_eps": round(bare, 1),
        "pipeline_eps": round(pipe.get("eps", 0.0), 1),
        "flower_eps": round(flower.get("eps", 0.0), 1),
        "gui_batch_ms_p99": round(pipe.get("gui_batch_ms_p99", 0.0), 2),
        "rss_mb_pipeline": round(pipe.get("rss_mb", 0.0), 1),
        "rss_mb_flower": round(flower.get("rss_mb", 0.0), 1),
    }
    for role, r in results.items():
        if r.get("reconnects"):
            print(f"{CONSUMERS[role]}: reconnected {r['reconnects']} times")
        figures[f"{role}_lost"] = r["lost"]
        figures[f"{role}_peak_rss_mb"] = round(r["peak_rss_mb"], 1)
        figures[f"{role}_publisher_eps"] = round(r["publisher_eps"], 1)
    if pipe:
        b_a, b_c = _ratio(pipe["eps"], bare), _ratio(pipe["eps"], flower.get("eps", 0.0))
        figures.update(ratio_b_a=round(b_a, 3), ratio_b_c=round(b_c, 3))
        print()
        if bare:
            print(f"b/a = {b_a:.2f}   (target >= 0.8: {_verdict(b_a >= 0.8)})")
        if flower:
            print(f"b/c = {b_c:.2f}   (target >= 3: {_verdict(b_c >= 3)})")
        p99 = pipe["gui_batch_ms_p99"]
        print(
            f"GUI thread per batch (model update slot, {pipe['diffs_applied']} batches): "
            f"p50 {pipe['gui_batch_ms_p50']:.1f} ms, p99 {p99:.1f} ms, "
            f"max {pipe['gui_batch_ms_max']:.1f} ms   (target p99 <= 16 ms: {_verdict(p99 <= 16)})"
        )
        print(
            f"  of which the GUI thread's own CPU: p50 {pipe['gui_batch_cpu_ms_p50']:.1f} ms, "
            f"p99 {pipe['gui_batch_cpu_ms_p99']:.1f} ms, max {pipe['gui_batch_cpu_ms_max']:.1f} ms"
            " (the rest is waiting for the GIL held by the event threads)"
        )
        print(
            f"GUI event loop (5 ms ticker; update + layout + paint + anything else): longest "
            f"gap {pipe['gui_stall_ms_max']:.1f} ms, p99 {pipe['gui_stall_ms_p99']:.1f} ms, "
            f"{pipe['gui_stalls_over_16ms']} gaps > 16 ms late; longest GC pause in that process "
            f"{pipe['gc_pause_ms_max']:.0f} ms ({pipe['gc_pauses']} collections)"
        )
        figures.update(
            gui_batch_ms_p50=round(pipe["gui_batch_ms_p50"], 2),
            gui_batch_ms_max=round(pipe["gui_batch_ms_max"], 2),
            gui_batch_cpu_ms_p99=round(pipe["gui_batch_cpu_ms_p99"], 2),
            gui_stall_ms_max=round(pipe["gui_stall_ms_max"], 2),
            model=pipe["model"],
        )
        print(f"tasks model: {pipe['model']}; rows in model at the end: {pipe['model_rows']:,}")
        print(
            f"journal: {pipe['journal_tasks']:,} tasks ({pipe['journal_success']:,} SUCCESS), "
            f"{pipe['journal_events']:,} events; deepest in-process backlog "
            f"{pipe['max_backlog_events']:,} events; reconnects {pipe['reconnects']}"
        )
        if pipe["gui_errors"] or pipe["gui_off_thread"]:
            print(
                f"!! model errors: {pipe['gui_errors']} ({pipe['gui_first_error']}); "
                f"slots off the GUI thread: {pipe['gui_off_thread']}"
            )
    if flower:
        print(
            f"Flower: max_tasks_in_memory={FLOWER_MAX_TASKS:,} (its default); taken from Redis "
            f"{flower['taken']:,} events; tasks in memory "
            f"{flower['tasks_in_memory']:,}, of them SUCCESS {flower['tasks_success_in_memory']:,}"
        )
    if pipe and flower:
        ok = pipe["rss_mb"] <= flower["rss_mb"] / 2
        seen = f"tasks seen: pipeline {pipe['journal_tasks']:,}, "
        seen += f"Flower {flower['tasks_in_memory']:,}"
        print(
            f"RSS at the end of {tasks:,} tasks ({seen}): pipeline {pipe['rss_mb']:.0f} MB, "
            f"Flower {flower['rss_mb']:.0f} MB   (target pipeline <= Flower/2: {_verdict(ok)})"
        )
        figures.update(
            pipeline_tasks_seen=pipe["journal_tasks"], flower_tasks_seen=flower["tasks_in_memory"]
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="task lifecycles to flood")
    parser.add_argument("--consumers", default="bare,pipeline,flower")
    parser.add_argument("--quiet", type=float, default=5.0, help="s without progress = lost")
    parser.add_argument("--pipeline", type=int, default=500, help="PUBLISHes per round trip")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="publish at most this many events/s (0: flood)"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="experiment: sys.setswitchinterval(ms / 1000) in the consumers (Python: 5 ms)",
    )
    parser.add_argument(
        "--unlimited-buffer",
        action="store_true",
        help="lift Redis's 32 MB pub/sub output-buffer limit: nobody is dropped, so events/s "
        "is each consumer's capacity and memory is after every task (default: Redis's limit)",
    )
    parser.add_argument(
        "--keep-scratch", action="store_true", help="keep the temp dir (logs, journals)"
    )
    parser.add_argument(
        "--drain",
        action="store_true",
        help="freeze each consumer (SIGSTOP) during the flood and let it drain Redis after: "
        "capacity without sharing the CPU with the publisher (implies --unlimited-buffer)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--role", default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.unlimited_buffer = args.unlimited_buffer or args.drain
    if args.role != "parent":
        return _consumer_main(args)

    import redis

    from desktop.core.broker.embedded import EmbeddedRedis
    from desktop.core.settings.secret_store import FileSecretStore

    roles = [r.strip() for r in args.consumers.split(",") if r.strip()]
    unknown = set(roles) - set(CONSUMERS)
    if unknown:
        parser.error(f"unknown consumers: {', '.join(sorted(unknown))}")
    scratch = Path(tempfile.mkdtemp(prefix="cd-bench-events-"))
    broker = EmbeddedRedis(scratch / "redis", FileSecretStore(scratch / "secrets.json"))
    results: dict[str, dict[str, Any]] = {}
    try:
        status = broker.start()
        url = broker.url()
        client = redis.Redis.from_url(url)
        print(f"private redis-server {status.version} on port {status.port} (pid {status.pid})")
        if args.unlimited_buffer:
            client.config_set("client-output-buffer-limit", "pubsub 0 0 0")
        limit = client.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
        print(f"client-output-buffer-limit: {limit}")
        for role in roles:
            print(f"running {CONSUMERS[role]} ...", flush=True)
            results[role] = run_one(role, url, args, scratch, client, broker.log_file)
        client.close()
    finally:
        broker.stop()
        if args.keep_scratch:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    figures = report(results, args)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
