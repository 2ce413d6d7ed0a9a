"""Local workers of the active profile: the supervisor's view plus live counters from events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex

from desktop.core.local.local_worker import (
    CRASHED,
    ONLINE,
    STOPPED,
    STOPPING,
    UNRESPONSIVE,
    LocalWorker,
)
from desktop.core.monitor.state import WorkerRow
from desktop.ui.common.panel_parts import duration
from desktop.ui.common.states import STATE_SYMBOLS, state_colour
from desktop.ui.common.table_model import Column, TableModel


def pool_text(worker: LocalWorker) -> str:
    spec = worker.spec
    if spec.autoscale_max is not None:
        size = f"autoscale {spec.autoscale_min}-{spec.autoscale_max}"
    else:
        size = f"x{spec.concurrency}" if spec.concurrency else "x cpus"
    extras = []
    if spec.prefetch_multiplier is not None:
        extras.append(f"prefetch {spec.prefetch_multiplier}")
    if spec.acks_late:
        extras.append("acks_late")
    if spec.fair:
        extras.append("fair")
    return " ".join([spec.pool, size, *([", ".join(extras)] if extras else [])])


class LocalWorkersModel(TableModel[LocalWorker]):
    def __init__(
        self, counters: Callable[[str], WorkerRow | None] | None = None, parent: Any = None
    ) -> None:
        super().__init__([], parent)
        self.columns = [
            Column("Worker", lambda worker: worker.nodename),
            Column(
                "State",
                lambda worker: (
                    f"{STATE_SYMBOLS[worker.state]} {self.state_text(worker, time.time())}"
                ),
                colour=lambda worker: state_colour(worker.state),
            ),
            Column("Uptime", lambda worker: duration(worker.uptime_s(time.time()))),
            Column("PID", lambda worker: worker.pid or ""),
            Column("Queues", lambda worker: ", ".join(worker.spec.queues)),
            Column("Pool", pool_text),
            Column("Active", lambda worker: self._live(worker, "active")),
            Column("Processed", lambda worker: self._live(worker, "processed")),
            Column(
                "Detail",
                lambda worker: worker.detail.splitlines()[0][:160] if worker.detail else "",
                tip=lambda worker: worker.detail,
            ),
        ]
        self._counters = counters or (lambda _node: None)

    def set_workers(self, workers: list[LocalWorker]) -> None:
        """Rows keep their place: new ones are inserted, gone ones removed, the rest repainted."""
        wanted = {w.name: w for w in workers}
        for row in range(len(self._rows) - 1, -1, -1):
            if self._rows[row].name not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        present = {w.name: i for i, w in enumerate(self._rows)}
        for name, worker in wanted.items():
            if name in present:
                self._rows[present[name]] = worker
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(self.columns) - 1)
            )
        fresh = [w for name, w in wanted.items() if name not in present]
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()

    def worker(self, row: int) -> LocalWorker | None:
        return self.row(row)

    def row_of(self, name: str) -> int | None:
        return next((i for i, w in enumerate(self._rows) if w.name == name), None)

    def workers(self) -> list[LocalWorker]:
        return self.rows()

    def state_text(self, worker: LocalWorker, now: float) -> str:
        if worker.next_restart is not None:
            return f"crashed, restarting in {max(0, worker.next_restart - now):.0f} s"
        if worker.state in (STOPPED, CRASHED, STOPPING):
            return f"{worker.state} {duration(now - worker.since)} ago"
        if worker.state == UNRESPONSIVE:
            return f"unresponsive for {duration(now - worker.since)}"
        return worker.state

    def _live(self, worker: LocalWorker, counter: str) -> int | None:
        """What events last said of a running worker (active, processed)."""
        live = self._counters(worker.nodename) if worker.state == ONLINE else None
        value: int | None = None if live is None else getattr(live, counter)
        return value
