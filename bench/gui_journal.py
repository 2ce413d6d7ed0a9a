"""The window's event loop on a big journal: the longest gap while idle, searching, sorting by
each column and opening details, with the Tasks screen shown; and a deep page read by keyset
against the same page read by OFFSET, in the same run.

A QTimer firing every millisecond records the time between its ticks: any work the GUI thread
does (a journal read it waits on, a model reset, painting) shows as a gap. Target: 16 ms.
Per phase it also prints the GUI thread's CPU in its longest gap, and Python's longest garbage
collection (wall clock and CPU, and the full ones: a collection holds the GIL, so it pauses the
window's Python whichever thread runs it); per sort, counts that hold on a busy machine (pages
read, resets, cells painted, the GUI thread's CPU). Prints figures and asserts nothing
(docs/PERFORMANCE.md); the probes are in bench/gui_probes.py.

Usage: python bench/gui_journal.py JOURNAL [--tasks 1000000] [--seconds 10] [--json]
           [--gc] [--explain] [--profile [idle|search|sort|details|all]] [--switch-ms MS]
JOURNAL is built when missing (or smaller than --tasks) and reused after. The window's session
opens it as its profile's journal (it may migrate it): give it a copy of a journal other
benches use.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CELERY_DESK_SECRETS"] = "file"

from gui_probes import Gaps, PhaseProfile, Probes, SlowEvents, explaining_application  # noqa: E402

from desktop.core.monitor.state import EventRecord, TaskRow  # noqa: E402

NAMES = [f"workers.tasks.{n}" for n in ("add", "mul", "fail", "sleep", "fetch", "resize")] + [
    f"shop.orders.{n}" for n in ("charge", "refund", "ship", "notify", "invoice", "audit")
]
QUEUES = ["celery", "tasks", "orders", "media", "low", "high"]
WORKERS = [f"celery@worker-{n}" for n in range(8)]
# Mostly finished, some failed, a few still running or waiting, as a busy cluster's history.
STATES = ["SUCCESS"] * 85 + ["FAILURE"] * 8 + ["RETRY", "REVOKED", "STARTED"] * 2 + ["PENDING"]
BATCH = 5000
PHASES = ("window_open", "idle", "search", "sort", "details")


def _rows(start: int, count: int, base: float, rng: random.Random) -> tuple[list, list]:  # type: ignore[type-arg]
    rows, events = [], []
    roots: list[str] = []
    for i in range(start, start + count):
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        state = rng.choice(STATES)
        name = rng.choice(NAMES)
        queue = rng.choice(QUEUES)
        sent = base + i * 0.05 if rng.random() < 0.7 else None  # task-sent is often off
        received = base + i * 0.05 + 0.01
        started = received + 0.005 if state not in ("PENDING",) else None
        runtime = round(rng.expovariate(5.0), 4) if state in ("SUCCESS", "FAILURE") else None
        finished = started + runtime if started is not None and runtime is not None else None
        failed = state == "FAILURE"
        chained = roots and rng.random() < 0.1
        root = rng.choice(roots) if chained else None
        if rng.random() < 0.02:
            roots.append(task_id)
            roots = roots[-50:]
        rows.append(
            TaskRow(
                id=task_id,
                name=name,
                state=state,
                worker=rng.choice(WORKERS) if state != "PENDING" else None,
                routing_key=queue,
                exchange="",
                args=f"({i}, {rng.randint(0, 10**6)}, 'order-{i % 9973}')",
                kwargs=f"{{'attempt': {rng.randint(1, 3)}, 'region': 'eu-{i % 5}'}}",
                result=None if failed else repr({"ok": True, "value": i * 2}),
                exception=f"ValueError('bad input {i}')" if failed else None,
                traceback=(
                    'Traceback (most recent call last):\n  File "tasks.py", line 42, in run\n'
                    f"ValueError: bad input {i}\n"
                )
                if failed
                else None,
                sent=sent,
                received=received,
                started=started,
                finished=finished,
                runtime=runtime,
                retries=rng.choice([0] * 9 + [1]),
                parent_id=root,
                root_id=root,
                eta=None,
                expires=None,
                updated=finished or started or received,
            )
        )
        fields = json.dumps({"hostname": rows[-1].worker})
        events.append(EventRecord(task_id, "task-received", received, fields))
        if started is not None:
            events.append(EventRecord(task_id, "task-started", started, fields))
        if finished is not None:
            kind = "task-failed" if failed else "task-succeeded"
            events.append(EventRecord(task_id, kind, finished, fields))
    return rows, events


def build(path: Path, tasks: int) -> float:
    """The journal at `path` holding at least `tasks` tasks (what it holds is kept). A new one
    is filled in bulk with its indexes made after (through the recorder's batches, each row
    updating a dozen indexes, a million tasks take most of an hour); a smaller one is topped
    up through `Journal.write`."""
    from dataclasses import astuple

    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.journal_schema import SCHEMA

    started = time.perf_counter()
    rng = random.Random(tasks)
    base = time.time() - tasks * 0.05
    if not path.exists():
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        tables = [s for s in SCHEMA.split(";") if "CREATE TABLE" in s]
        db.executescript(";".join(tables) + ";")
        columns = [f.name for f in fields(TaskRow)]
        insert_task = (
            f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        db.execute("BEGIN")
        for start in range(0, tasks, BATCH):
            rows, events = _rows(start, min(BATCH, tasks - start), base, rng)
            db.executemany(insert_task, [astuple(r) for r in rows])
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [astuple(e) for e in events])
            if (start // BATCH) % 20 == 0:
                print(f"  built {start + len(rows):,} of {tasks:,}", file=sys.stderr)
        db.execute("COMMIT")
        db.close()
        print("  indexing", file=sys.stderr)
    journal = Journal(path)  # makes the indexes a new file lacks, in WAL from here on
    for start in range(journal.count(), tasks, BATCH):
        rows, events = _rows(start, min(BATCH, tasks - start), base, rng)
        journal.write(rows, events)
    journal.index_text()  # as the monitor's thread does: the rows written are noted till then
    journal.close()
    return time.perf_counter() - started


def run_for(seconds: float, steps: list[tuple[float, Callable[[], object]]] = ()) -> None:  # type: ignore[assignment]
    """The Qt event loop for `seconds`, doing each step at its time. Precise timers: Qt's
    default for a wait of seconds is a coarse one (5% slack), which fires steps due 100 ms
    apart in one turn of the loop and measures several person's clicks as one gap."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    loop = QEventLoop()
    timers = []
    for at, step in steps:
        timer = QTimer()
        timer.setSingleShot(True)
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(step)
        timer.start(int(at * 1000))
        timers.append(timer)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(done: Callable[[], bool], timeout: float = 120.0) -> float:
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the window did not get there")
        run_for(0.02)
    return time.perf_counter() - started


def page_figures(path: Path) -> dict[str, float]:
    """A page at 990,000 rows deep (or 99% of a smaller journal): OFFSET vs keyset."""
    from desktop.core.monitor.journal_reader import JournalReader
    from desktop.core.monitor.task_query import TaskQuery

    reader = JournalReader(path)
    total = reader.count()
    depth = min(990_000, int(total * 0.99))
    query = TaskQuery(order_by="received")
    (last,) = reader.page(query, depth - 1, 1)  # the row before the page, read once, untimed
    after = query.key(last)
    timings: dict[str, list[float]] = {"offset": [], "keyset": []}
    for _ in range(3):
        t0 = time.perf_counter()
        by_offset = reader.page(query, depth, 500)
        timings["offset"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        by_keyset = reader.page(query, 0, 500, after=after)
        timings["keyset"].append((time.perf_counter() - t0) * 1000)
    assert [r["id"] for r in by_offset] == [r["id"] for r in by_keyset], "pages differ"
    reader.close()
    offset_ms, keyset_ms = min(timings["offset"]), min(timings["keyset"])
    return {
        "page_depth": depth,
        "offset_page_ms": offset_ms,
        "keyset_page_ms": keyset_ms,
        "offset_over_keyset": offset_ms / keyset_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("journal", type=Path)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print each phase's slowest events")
    parser.add_argument("--gc", action="store_true", help="print the longest garbage collections")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="all",
        choices=(*PHASES[1:], "all"),
        help="print where the GUI thread's Python time goes: in one phase, or all in use",
    )
    parser.add_argument(
        "--switch-ms", type=float, help="a GIL switch interval to try (default: the app's)"
    )
    args = parser.parse_args()
    journal_path: Path = args.journal.resolve()

    build_s = build(journal_path, args.tasks)
    figures: dict[str, float] = {"tasks": args.tasks, "build_s": build_s}
    figures.update(page_figures(journal_path))

    scratch = Path(tempfile.mkdtemp(prefix="cd-gui-journal-"))
    os.environ["CELERY_DESK_CONFIG_DIR"] = str(scratch / "config")
    os.environ["CELERY_DESK_DATA_DIR"] = str(scratch / "data")

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window, hand_the_gil_over_sooner, keep_collections_short
    from desktop.core.services import Services
    from desktop.ui.tasks.cells import COLUMNS

    slow_events = SlowEvents()
    app = (explaining_application(slow_events) if args.explain else QApplication)(sys.argv)
    services = Services.open()
    profile = services.profiles.get(services.profiles.active_name())
    link = services.journal_path(profile)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(journal_path)  # the window's profile keeps its history in that file
    probes = Probes(Gaps(), slow_events, PhaseProfile(args.profile))
    gaps = probes.gaps
    probes.enter("window_open")  # its first gap: the window built and shown
    session, window = build_window(services)
    window.show()
    keep_collections_short(session)  # as the app does once its window is shown
    hand_the_gil_over_sooner()  # as the app does (GIL_SWITCH_S)
    if args.switch_ms is not None:  # an experiment's own
        sys.setswitchinterval(args.switch_ms / 1000)
    t0 = time.perf_counter()
    session.start()
    window.tabs.setCurrentWidget(window.tasks)
    wait_until(lambda: session.journal is not None)
    tasks = window.tasks
    wait_until(lambda: tasks.model.rowCount() > 0 and not tasks.model.loading)
    figures["journal_open_to_rows_s"] = time.perf_counter() - t0
    # Opening ends when the window has connected and read the person's app (the palette,
    # the queues and the settings line fill from it) and has painted what that changed.
    wait_until(lambda: session.state == "connected" and session.app_config is not None)
    run_for(1.0)
    figures["window_open_gap_ms"] = gaps.longest
    figures["window_open_busy_ms"] = gaps.busiest

    seconds = args.seconds
    probes.enter("idle")
    run_for(seconds)
    # What a full collection walks once the window is open: every object tracked, not frozen.
    figures["gc_tracked_after_open"] = len(gc.get_objects())
    figures["gc_frozen"] = gc.get_freeze_count()
    figures["idle_gap_ms"] = gaps.longest
    figures["idle_busy_ms"] = gaps.busiest

    probes.enter("search")
    words = ["order-42", "bad input 77", "eu-3", "charge", "'value': 1234", "zz-not-there"]
    step = seconds / len(words)
    run_for(
        seconds,
        [(i * step, lambda w=word: tasks.search.setText(w)) for i, word in enumerate(words)],  # type: ignore[misc]
    )
    wait_until(lambda: not tasks.model.loading)
    figures["search_gap_ms"] = gaps.longest
    figures["search_busy_ms"] = gaps.busiest
    probes.enter("")  # back to every task, unmeasured
    tasks.search.setText("")
    wait_until(lambda: not tasks.model.loading)

    probes.enter("sort")
    header = tasks.table.horizontalHeader()
    sort_gaps: dict[str, float] = {}
    sort_busy: dict[str, float] = {}
    for column, (key, _title) in enumerate(COLUMNS):
        for order in (Qt.SortOrder.DescendingOrder, Qt.SortOrder.AscendingOrder):
            gaps.reset()
            started = time.perf_counter()
            header.setSortIndicator(column, order)
            wait_until(lambda: not tasks.model.loading)
            tasks.table.scrollToBottom()  # the next page, by keyset
            run_for(0.05)
            wait_until(lambda: not tasks.model.loading)
            direction = "desc" if order == Qt.SortOrder.DescendingOrder else "asc"
            sort_gaps[f"{key} {direction}"] = gaps.longest
            sort_busy[f"{key} {direction}"] = gaps.busiest
            figures[f"sort_{key}_{direction}_s"] = time.perf_counter() - started
    probes.enter("")
    header.setSortIndicator(9, Qt.SortOrder.DescendingOrder)
    wait_until(lambda: not tasks.model.loading)
    figures["sort_gap_ms"] = max(sort_gaps.values())
    figures["sort_busy_ms"] = max(sort_busy.values())
    worst_sort = max(sort_gaps, key=lambda k: sort_gaps[k])

    probes.enter("details")
    rows = min(tasks.model.rowCount(), 200)
    picks = max(1, int(seconds / 0.1))
    run_for(
        seconds,
        [(i * 0.1, lambda r=i % rows: tasks.table.selectRow(r)) for i in range(picks)],  # type: ignore[misc]
    )
    figures["details_gap_ms"] = gaps.longest
    figures["details_busy_ms"] = gaps.busiest
    probes.leave()
    for phase in PHASES:
        seen = probes.collections.of(phase)
        figures[f"{phase}_gc_ms"] = seen.longest_ms
        figures[f"{phase}_gc_cpu_ms"] = seen.longest_cpu_ms
        figures[f"{phase}_gc_full_ms"] = seen.full_longest_ms
        figures[f"{phase}_gc_full_count"] = seen.full
        figures[f"{phase}_gc_count"] = seen.count
    sorts = 2 * len(COLUMNS)
    for key, value in probes.model.of("sort").items():
        figures[f"per_sort_{key}"] = value / sorts

    # The floor no read can lower: the table painting its visible rows, with nothing read.
    paints = []
    for _ in range(7):
        t0 = time.perf_counter()
        tasks.table.viewport().repaint()
        paints.append((time.perf_counter() - t0) * 1000)
    figures["table_repaint_ms"] = sorted(paints)[len(paints) // 2]

    window.close_without_asking()
    session.shutdown()
    del app
    # The target is for a window in use (idle, searching, sorting, opening details); opening
    # it (first show, connecting, reading the app) is reported beside it.
    in_use = PHASES[1:]
    worst = max(figures[f"{p}_gap_ms"] for p in in_use)
    worst_busy = max(figures[f"{p}_busy_ms"] for p in in_use)
    worst_gc = max(figures[f"{p}_gc_ms"] for p in in_use)
    print(f"journal: {journal_path} ({args.tasks:,} tasks; built/topped up in {build_s:.1f} s)")
    print(f"window open -> first rows: {figures['journal_open_to_rows_s']:.2f} s")
    print(f"{'per phase, ms: longest event-loop gap, GUI thread CPU in it,':52}   gap  busy"
          "    gc  full gc (count)")  # fmt: skip
    print("  the longest garbage collection, the longest full one")
    for phase, title in zip(
        PHASES,
        ("opening the window", f"idle ({seconds:.0f} s)", "searching (6 searches)",
         f"sorting (each column both ways + next page; worst gap {worst_sort})",
         "opening details (a row every 0.1 s)"),
        strict=True,
    ):  # fmt: skip
        print(f"  {title:50} {figures[f'{phase}_gap_ms']:5.1f} {figures[f'{phase}_busy_ms']:5.1f}"
              f" {figures[f'{phase}_gc_ms']:5.1f} {figures[f'{phase}_gc_full_ms']:5.1f}"
              f" ({figures[f'{phase}_gc_full_count']})")  # fmt: skip
    print(f"  {'longest in use, all but opening (target 16 ms)':50} {worst:5.1f} {worst_busy:5.1f}"
          f" {worst_gc:5.1f}")  # fmt: skip
    print(
        f"one repaint of the tasks table, nothing read (median): "
        f"{figures['table_repaint_ms']:.1f} ms"
    )
    print(
        f"page at {int(figures['page_depth']):,}: OFFSET {figures['offset_page_ms']:.1f} ms, "
        f"keyset {figures['keyset_page_ms']:.2f} ms "
        f"({figures['offset_over_keyset']:.0f}x)"
    )
    slow = sorted((v, k) for k, v in figures.items() if k.startswith("sort_") and k.endswith("_s"))[
        -3:
    ]
    print(
        "slowest sorts to rows (off the GUI thread): "
        + ", ".join(f"{k[5:-2]} {v:.2f} s" for v, k in reversed(slow))
    )
    print(
        f"garbage collector after idling: {int(figures['gc_tracked_after_open']):,} objects "
        f"tracked, {int(figures['gc_frozen']):,} frozen; longest collection's CPU (ms): "
        + ", ".join(f"{p} {figures[f'{p}_gc_cpu_ms']:.1f}" for p in PHASES)
    )
    per_sort = {k[9:]: v for k, v in figures.items() if k.startswith("per_sort_")}
    print(
        f"per sort (of {sorts}, each + next page): pages read {per_sort.get('pages', 0):.2f}, "
        f"resets {per_sort.get('resets', 0):.2f}, cells painted {per_sort.get('cells', 0):.0f}, "
        f"GUI thread CPU {per_sort.get('gui_cpu_s', 0) * 1000:.1f} ms"
    )
    if args.gc:
        print(probes.collections.report())
    for phase, events in slow_events.slowest.items():
        print(f"slowest events while {phase}: " + "; ".join(f"{w} {t:.0f} ms" for t, w in events))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
