"""Workers seen on the broker, keyed by node name, updated from the same diffs as tasks."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex

from desktop.core.base.clocks import DRIFT_WARNING_S, drifted
from desktop.core.monitor.glance import concurrency_of
from desktop.core.monitor.state import StateDiff, WorkerRow, worker_online
from desktop.ui.common.states import state_colour, with_symbol
from desktop.ui.common.table_model import Column, TableModel
from desktop.ui.common.theme import colour

HEARTBEAT_COLUMN = 6


class WorkersModel(TableModel[WorkerRow]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([], parent)
        self.columns = [
            Column("Worker", lambda worker: worker.hostname),
            Column(
                "Status",
                lambda worker: with_symbol(self.state(worker)),
                colour=lambda worker: state_colour(self.state(worker)),
            ),
            Column("Active", lambda worker: worker.active),
            Column("Processed", lambda worker: worker.processed),
            Column("Load average", load_text),
            Column("Software", lambda worker: worker.software),
            Column("Last heartbeat", heartbeat_text, tip=drift_tip, colour=drift_colour),
            Column("Pool", lambda worker: self._facts(worker).get("pool") or ""),
            Column("Concurrency", self._concurrency),
            Column("Queues", lambda worker: ", ".join(self._facts(worker).get("queues") or [])),
        ]
        self._position: dict[str, int] = {}
        self.facts: dict[str, dict[str, Any]] = {}  # from `inspect`: pool, concurrency, queues

    def clear(self) -> None:
        self.beginResetModel()
        self._rows, self._position, self.facts = [], {}, {}
        self.endResetModel()

    def set_facts(self, facts: dict[str, dict[str, Any]]) -> None:
        """Inspect replies; a worker that answers but never sent an event still gets a row."""
        self.facts = facts
        missing = [
            WorkerRow(node, True, None, None, None, None, None)
            for node in facts
            if node not in self._position
        ]
        if missing:
            self.apply_diff(StateDiff(workers_changed=missing))
        if self._rows:
            self.dataChanged.emit(self.index(0, 7), self.index(len(self._rows) - 1, 9))

    def apply_diff(self, diff: StateDiff) -> None:
        fresh = []
        changed = []
        for worker in diff.workers_changed:
            position = self._position.get(worker.hostname)
            if position is None:
                fresh.append(worker)
            else:
                self._rows[position] = worker
                changed.append(position)
        if changed:
            self.dataChanged.emit(
                self.index(min(changed), 0), self.index(max(changed), len(self.columns) - 1)
            )
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            for worker in fresh:
                self._position[worker.hostname] = len(self._rows)
                self._rows.append(worker)
            self.endInsertRows()

    def refresh_liveness(self) -> None:
        """Heartbeats age without events: repaint the status column now and then."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 1), self.index(len(self._rows) - 1, 1))

    @staticmethod
    def online(worker: WorkerRow, now: float | None = None) -> bool:
        return worker_online(worker, now)  # state.py: one rule with the alerts

    def state(self, worker: WorkerRow) -> str:
        return "online" if self.online(worker) else "offline"

    def drifted(self) -> list[WorkerRow]:
        """Workers whose clock is off from this computer's by more than Celery tolerates."""
        return [worker for worker in self._rows if drifted(worker.clock_offset)]

    def by_hostname(self, hostname: str) -> WorkerRow | None:
        position = self._position.get(hostname)
        return None if position is None else self._rows[position]

    def worker(self, row: int) -> WorkerRow | None:
        return self.row(row)

    def _facts(self, worker: WorkerRow) -> dict[str, Any]:
        return self.facts.get(worker.hostname, {})

    def _concurrency(self, worker: WorkerRow) -> str:
        value = concurrency_of(self._facts(worker))
        return "" if value is None else str(value)


def load_text(worker: WorkerRow) -> str:
    return ", ".join(f"{x:.2f}" for x in worker.loadavg) if worker.loadavg else ""


def heartbeat_text(worker: WorkerRow) -> str:
    ago = "" if worker.heartbeat is None else f"{time.time() - worker.heartbeat:.0f} s ago"
    off = _drift(worker)
    return ago if off is None else f"{ago} · clock {clock_difference(off)}".lstrip(" ·")


def drift_tip(worker: WorkerRow) -> str:
    off = _drift(worker)
    return "" if off is None else drift_explained(worker.hostname, off)


def drift_colour(worker: WorkerRow) -> str:
    return "" if _drift(worker) is None else colour("warning")


def _drift(worker: WorkerRow) -> float | None:
    """The worker's clock offset when it is past what Celery tolerates, else None."""
    return worker.clock_offset if drifted(worker.clock_offset) else None


def clock_difference(offset: float, *, of: str = "") -> str:
    """A worker's clock against this computer's, from `WorkerRow.clock_offset`: "120 s
    behind", "3 s ahead" (with `of`: "3 s ahead of <of>")."""
    relation = "behind" if offset > 0 else "ahead of" if of else "ahead"
    return f"{abs(offset):.0f} s {relation}" + (f" {of}" if of else "")


def drift_explained(hostname: str, offset: float) -> str:
    difference = clock_difference(offset, of="this computer's")
    return (
        f"The clock of {hostname} is {difference} "
        f"(Celery warns past {DRIFT_WARNING_S} s). The panel dates its events by its own "
        "clock, corrected by the measured difference; set that machine's clock right (NTP) "
        "for exact times."
    )
