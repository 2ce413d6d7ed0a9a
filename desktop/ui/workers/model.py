"""Workers seen on the broker, keyed by node name, updated from the same diffs as tasks."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop.core.base.clocks import DRIFT_WARNING_S, drifted
from desktop.core.monitor.state import StateDiff, WorkerRow
from desktop.ui.common.theme import WARNING_COLOUR

Index = QModelIndex | QPersistentModelIndex
HEARTBEAT_COLUMN = 6
# Celery workers beat every 2 s by default; silence this long means the worker is gone.
OFFLINE_AFTER_S = 15.0
COLUMNS = [
    "Worker", "Status", "Active", "Processed", "Load average", "Software", "Last heartbeat",
    "Pool", "Concurrency", "Queues",
]  # fmt: skip


class WorkersModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[WorkerRow] = []
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
                self.index(min(changed), 0), self.index(max(changed), len(COLUMNS) - 1)
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
        if worker.heartbeat is None:
            return worker.online
        return worker.online and (now or time.time()) - worker.heartbeat < OFFLINE_AFTER_S

    def drifted(self) -> list[WorkerRow]:
        """Workers whose clock is off from this computer's by more than Celery tolerates."""
        return [worker for worker in self._rows if drifted(worker.clock_offset)]

    def by_hostname(self, hostname: str) -> WorkerRow | None:
        position = self._position.get(hostname)
        return None if position is None else self._rows[position]

    def worker(self, row: int) -> WorkerRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

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

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        worker = self._rows[index.row()]
        column = index.column()
        online = self.online(worker)
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QColor("#2e9d57" if online else "#c8393b")
        off = worker.clock_offset if drifted(worker.clock_offset) else None
        if column == HEARTBEAT_COLUMN and off is not None:
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(WARNING_COLOUR)
            if role == Qt.ItemDataRole.ToolTipRole:
                return drift_explained(worker.hostname, off)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == 0:
            return worker.hostname
        if column == 1:
            return "online" if online else "offline"
        if column == 2:
            return "" if worker.active is None else str(worker.active)
        if column == 3:
            return "" if worker.processed is None else str(worker.processed)
        if column == 4:
            return ", ".join(f"{x:.2f}" for x in worker.loadavg) if worker.loadavg else ""
        if column == 5:
            return worker.software or ""
        if column == HEARTBEAT_COLUMN:
            ago = "" if worker.heartbeat is None else f"{time.time() - worker.heartbeat:.0f} s ago"
            return ago if off is None else f"{ago} · clock {clock_difference(off)}".lstrip(" ·")
        facts = self.facts.get(worker.hostname, {})
        if column == 7:
            return facts.get("pool") or ""
        if column == 8:
            value = facts.get("processes") or facts.get("concurrency")
            return "" if value is None else str(value)
        return ", ".join(facts.get("queues") or [])


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
