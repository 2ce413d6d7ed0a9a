"""(b) The panel's pipeline as it runs: Monitor's threads feed the real tasks model under a
shown `QTableView` (offscreen), every model update on the GUI thread timed."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .common import AMQP_CLIENT_ENV, Control, GcPauses, emit, memory_mb, percentile


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


def consume_pipeline(
    url: str, expected: int, quiet: float, scratch: Path, switch_set: bool = False
) -> dict[str, Any]:
    """The panel as it runs: Monitor's threads feed a shown table on the GUI thread.
    `switch_set`: --switch-interval chose the GIL's switch interval, not the app's rule."""
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
    monitor.stream.amqp_client = os.environ.get(AMQP_CLIENT_ENV, "pika")
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
    from desktop.app import hand_the_gil_over_sooner, keep_collections_short

    keep_collections_short()  # as the app does once its window is shown (gc.freeze)
    if not switch_set:
        hand_the_gil_over_sooner()  # as the app does (GIL_SWITCH_S)
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
