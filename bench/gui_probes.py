"""What bench/gui_journal.py measures the window with, per phase (idle, search, sort, details):
the longest gap of a 1 ms timer and the GUI thread's CPU in it (`Gaps`), Python's garbage
collections (`GcPauses`, always on: a callback per collection), the slowest Qt events
(`SlowEvents`, with --explain) and where the GUI thread's Python time goes (`PhaseProfile`,
with --profile [PHASE]).
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class Gaps:
    """The longest time between ticks of a 1 ms timer, per phase (`longest`, wall clock), and
    the most CPU the GUI thread spent between two ticks (`busiest`: its own work, whatever
    else the machine runs; a gap much longer than it is the thread waiting for a CPU or for
    Python's GIL, not working)."""

    last_tick = 0.0

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.longest = self.busiest = 0.0
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.longest = max(self.longest, (now - self._last) * 1000)
        self.busiest = max(self.busiest, (cpu - self._cpu) * 1000)
        self._last, self._cpu = now, cpu
        Gaps.last_tick = now

    def reset(self) -> None:
        self.longest = self.busiest = 0.0
        self._last, self._cpu = time.perf_counter(), time.thread_time()


class SlowEvents:
    """With --explain: the slowest events Qt delivered in each phase (what they were and to
    which widget), by timing QApplication.notify. It costs a Python call per event, so the
    gaps measured with it are a little longer; it says where a gap comes from."""

    def __init__(self) -> None:
        self.phase = ""
        self.slowest: dict[str, list[tuple[float, str]]] = {}

    def record(self, receiver: object, event: object, took_ms: float) -> None:
        if took_ms < 8 or not self.phase:
            return
        try:
            what = f"{type(receiver).__name__} {event.type().name}"  # type: ignore[attr-defined]
            parent = receiver.parent()  # type: ignore[attr-defined]
            if parent is not None:
                what += f" in {type(parent).__name__}"
        except (AttributeError, RuntimeError):
            what = type(receiver).__name__
        kept = self.slowest.setdefault(self.phase, [])
        kept.append((took_ms, what))
        kept.sort(reverse=True)
        del kept[5:]


def explaining_application(slow: SlowEvents) -> type:
    from PySide6.QtWidgets import QApplication

    class Explaining(QApplication):
        def notify(self, receiver, event):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return super().notify(receiver, event)
            finally:
                slow.record(receiver, event, (time.perf_counter() - started) * 1000)

    return Explaining


@dataclass
class PhaseCollections:
    """One phase's garbage collections: how many, the longest (wall clock, and the CPU of the
    thread collecting: a collection holds the GIL, so every thread's Python waits for it), and
    the same for the full ones (generation 2) alone, and how many ran on the GUI thread."""

    count: int = 0
    on_gui: int = 0
    longest_ms: float = 0.0
    longest_cpu_ms: float = 0.0
    full: int = 0
    full_longest_ms: float = 0.0
    full_cpu_ms: float = 0.0
    pauses: list[tuple[float, float, int, str]] = field(default_factory=list)


class GcPauses:
    """Every garbage collection of the process, timed from gc.callbacks, per phase."""

    def __init__(self) -> None:
        self.phase = ""
        self.phases: dict[str, PhaseCollections] = {}
        self._gui = threading.get_ident()
        self._started: dict[int, tuple[float, float]] = {}
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        key = threading.get_ident()
        if phase == "start":
            self._started[key] = (time.perf_counter(), time.thread_time())
            return
        if key not in self._started or not self.phase:
            self._started.pop(key, None)
            return
        wall, cpu = self._started.pop(key)
        took, took_cpu = (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000
        seen = self.phases.setdefault(self.phase, PhaseCollections())
        seen.count += 1
        seen.on_gui += key == self._gui
        seen.longest_ms = max(seen.longest_ms, took)
        seen.longest_cpu_ms = max(seen.longest_cpu_ms, took_cpu)
        if info["generation"] == 2:
            seen.full += 1
            seen.full_longest_ms = max(seen.full_longest_ms, took)
            seen.full_cpu_ms = max(seen.full_cpu_ms, took_cpu)
        thread = "GUI" if key == self._gui else threading.current_thread().name
        seen.pauses.append((took, took_cpu, info["generation"], thread))

    def of(self, phase: str) -> PhaseCollections:
        return self.phases.get(phase, PhaseCollections())

    def report(self) -> str:
        every = [p for seen in self.phases.values() for p in seen.pauses]
        longest = sorted(every, reverse=True)[:5]
        shown = ", ".join(
            f"{ms:.1f} ms ({cpu:.1f} ms CPU; generation {gen}, thread {thread})"
            for ms, cpu, gen, thread in longest
        )
        return f"garbage collections: {len(every)}, longest {shown}"


class PhaseProfile:
    """With --profile [PHASE]: cProfile of the GUI thread's Python (cProfile follows the thread
    it starts on) during one phase, or all of them; printed by own time, then cumulative."""

    def __init__(self, wanted: str | None) -> None:
        self.wanted = wanted
        self._profile: Any = None

    def start(self, phase: str) -> None:
        wanted = phase == self.wanted or (self.wanted == "all" and phase not in ("", "window_open"))
        if not wanted or self._profile is not None:
            return
        import cProfile

        self._profile = cProfile.Profile()
        self._profile.enable()

    def stop(self, phase: str, *, last: bool = False) -> None:
        if self._profile is None or (self.wanted == "all" and not last):
            return
        import pstats

        self._profile.disable()
        print(f"-- the GUI thread's Python while {phase if self.wanted != 'all' else 'in use'}")
        stats = pstats.Stats(self._profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
        self._profile = None


class ModelCounters:
    """What the tasks model did per phase, counted (they hold on a busy machine, where the
    clock does not): pages read (on job threads), resets, and the cells a view asked for
    (`multiData`, one call a cell painted); and the GUI thread's CPU in the phase."""

    def __init__(self) -> None:
        from desktop.ui.tasks.model import TasksModel

        self.phase = ""
        self.counts: dict[str, dict[str, float]] = {}
        self._cpu = time.thread_time()
        for method, key in (
            ("_page", "pages"),
            ("multiData", "cells"),
            ("endResetModel", "resets"),
        ):
            self._count(TasksModel, method, key)

    def _count(self, cls: type, method: str, key: str) -> None:
        original = cls.__dict__.get(method, getattr(cls, method))
        static = isinstance(original, staticmethod)
        function = original.__func__ if static else original
        counters = self

        def counted(*args: Any, **kwargs: Any) -> Any:
            if counters.phase:
                seen = counters.counts.setdefault(counters.phase, {})
                seen[key] = seen.get(key, 0) + 1
            return function(*args, **kwargs)

        setattr(cls, method, staticmethod(counted) if static else counted)

    def enter(self, phase: str) -> None:
        now = time.thread_time()
        if self.phase:
            seen = self.counts.setdefault(self.phase, {})
            seen["gui_cpu_s"] = seen.get("gui_cpu_s", 0.0) + now - self._cpu
        self.phase, self._cpu = phase, now

    def of(self, phase: str) -> dict[str, float]:
        return self.counts.get(phase, {})


class Probes:
    """The probes of one run, told which phase the window is in (measured under its name)."""

    def __init__(self, gaps: Gaps, slow: SlowEvents, profile: PhaseProfile) -> None:
        self.gaps, self.slow, self.profile = gaps, slow, profile
        self.collections = GcPauses()
        self.model = ModelCounters()
        self.current = ""

    def enter(self, phase: str) -> None:
        if self.current:
            self.profile.stop(self.current)
        self.current = self.slow.phase = self.collections.phase = phase
        self.model.enter(phase)
        self.profile.start(phase)
        self.gaps.reset()

    def leave(self) -> None:
        if self.current:
            self.profile.stop(self.current, last=True)
        self.model.enter("")
        self.current = self.slow.phase = self.collections.phase = ""
