"""Local workers of the active profile: the supervisor's view plus live counters from events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop.core.local.supervisor import (
    CRASHED,
    ONLINE,
    STARTING,
    STOPPED,
    STOPPING,
    UNRESPONSIVE,
    LocalWorker,
)
from desktop.core.monitor.state import WorkerRow

Index = QModelIndex | QPersistentModelIndex
COLUMNS = [
    "Worker", "State", "Uptime", "PID", "Queues", "Pool", "Active", "Processed", "Detail",
]  # fmt: skip
STATE_COLOURS = {
    STARTING: "#d49a1c",
    ONLINE: "#2e9d57",
    STOPPING: "#d49a1c",
    STOPPED: "#6b7280",
    CRASHED: "#c8393b",
    UNRESPONSIVE: "#c8393b",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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


class LocalWorkersModel(QAbstractTableModel):
    def __init__(
        self, counters: Callable[[str], WorkerRow | None] | None = None, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._rows: list[LocalWorker] = []
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
                self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1)
            )
        fresh = [w for name, w in wanted.items() if name not in present]
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()

    def worker(self, row: int) -> LocalWorker | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, name: str) -> int | None:
        return next((i for i, w in enumerate(self._rows) if w.name == name), None)

    def workers(self) -> list[LocalWorker]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def state_text(self, worker: LocalWorker, now: float) -> str:
        if worker.next_restart is not None:
            return f"crashed, restarting in {max(0, worker.next_restart - now):.0f} s"
        if worker.state in (STOPPED, CRASHED, STOPPING):
            return f"{worker.state} {duration(now - worker.since)} ago"
        if worker.state == UNRESPONSIVE:
            return f"unresponsive for {duration(now - worker.since)}"
        return worker.state

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        worker = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QColor(STATE_COLOURS.get(worker.state, "#6b7280"))
        if role == Qt.ItemDataRole.ToolTipRole and column == 8:
            return worker.detail or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        now = time.time()
        live = self._counters(worker.nodename) if worker.state == ONLINE else None
        values = [
            worker.nodename,
            self.state_text(worker, now),
            duration(worker.uptime_s(now)),
            str(worker.pid or ""),
            ", ".join(worker.spec.queues),
            pool_text(worker),
            "" if live is None or live.active is None else str(live.active),
            "" if live is None or live.processed is None else str(live.processed),
            worker.detail.splitlines()[0][:160] if worker.detail else "",
        ]
        return values[column]
