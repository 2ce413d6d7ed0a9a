"""The Failures screen's tables: failure groups (with a sparkline of when each failed) and the
tasks of the chosen group.

The sparkline's heights are counted once per refresh (failures.occurrences, off the GUI
thread with the groups) and painted by a delegate: bars scaled to the group's own busiest
slice, so a rare cause still shows its shape beside a frequent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop.core.base.task_record import TaskRecord, queue_of
from desktop.core.monitor.failures import FailureGroup
from desktop.ui.common.states import STATE_SYMBOLS, state_colour, with_symbol
from desktop.ui.common.table_model import Column, TableModel
from desktop.ui.common.theme import colour

SPARK_BUCKETS = 24
SPARKLINE_ROLE = Qt.ItemDataRole.UserRole + 1


def when(at: float | None) -> str:
    if not at:
        return ""
    moment = datetime.fromtimestamp(at)
    today = datetime.now().date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M")


def listed(values: tuple[str, ...], most: int = 3) -> str:
    shown = ", ".join(values[:most])
    return shown + (f" +{len(values) - most}" if len(values) > most else "")


def by_name(line: GroupLine) -> str:
    return "\n".join(f"{name}: {count}" for name, count in line.group.by_name)


def all_of(line: GroupLine) -> str:
    return "\n".join(line.group.workers)


@dataclass(frozen=True)
class GroupLine:
    """A group as the table shows it: the group, its sparkline's heights, whether a person
    marked it resolved (shown only with "Show resolved"), and how many of it were retried."""

    group: FailureGroup
    spark: tuple[int, ...]
    resolved: bool = False


GROUP_COLUMNS: list[Column[GroupLine]] = [
    Column("Count", lambda line: line.group.count),
    Column(
        "Cause",
        lambda line: (
            f"{STATE_SYMBOLS['succeeded' if line.resolved else 'failed']} " + line.group.fingerprint
        ),
        tip=lambda line: (
            line.group.example_exception + ("\n(marked resolved)" if line.resolved else "")
        ),
        colour=lambda line: colour("muted") if line.resolved else state_colour("FAILURE"),
    ),
    Column("Trend", lambda line: ""),
    Column("Tasks", lambda line: listed(line.group.task_names), tip=lambda line: by_name(line)),
    Column("Last", lambda line: when(line.group.last)),
    Column("First", lambda line: when(line.group.first)),
    Column("Workers", lambda line: listed(line.group.workers), tip=lambda line: all_of(line)),
    Column("Queues", lambda line: listed(line.group.queues)),
]
CAUSE_COLUMN, TREND_COLUMN = 1, 2
# Widths at the default window size (1180 px): the cause takes what is left.
GROUP_WIDTHS = {0: 60, 2: 110, 3: 160, 4: 80, 5: 80, 6: 130, 7: 90}


class GroupsModel(TableModel[GroupLine]):
    """The groups, with each one's sparkline heights under SPARKLINE_ROLE."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(GROUP_COLUMNS, parent, text_tips=True)

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if role == SPARKLINE_ROLE:
            line = self.row(index.row())
            return line.spark if line is not None else None
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == TREND_COLUMN:
            line = self.row(index.row())
            return "failures over the period shown, oldest left" if line is not None else None
        return super().data(index, role)


class SparklineDelegate(QStyledItemDelegate):
    """Bars of a group's occurrences in its cell, in the theme's highlight colour."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        super().paint(painter, option, index)  # the row's background and selection
        heights = index.data(SPARKLINE_ROLE) or ()
        peak = max(heights, default=0)
        if not peak:
            return
        rect = option.rect.adjusted(4, 3, -4, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        colour = palette.highlightedText().color() if selected else palette.highlight().color()
        width = rect.width() / len(heights)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        for slot, count in enumerate(heights):
            if count:
                tall = max(1.0, rect.height() * count / peak)
                painter.drawRect(
                    QRectF(
                        rect.left() + slot * width,
                        rect.bottom() - tall + 1,
                        max(1.0, width - 1),
                        tall,
                    )
                )
        painter.restore()


@dataclass(frozen=True)
class MemberLine:
    """One task of the chosen group, and the tasks the panel sent to retry it."""

    row: TaskRecord
    retried_as: tuple[str, ...]


MEMBER_COLUMNS: list[Column[MemberLine]] = [
    Column("Task id", lambda line: line.row["id"]),
    Column("Name", lambda line: line.row["name"]),
    Column(
        "State",
        lambda line: with_symbol(line.row["state"]),
        colour=lambda line: state_colour(line.row["state"]),
    ),
    Column("Args", lambda line: line.row["args"]),
    Column("Kwargs", lambda line: line.row["kwargs"]),
    Column("Worker", lambda line: line.row["worker"]),
    Column("Queue", lambda line: queue_of(line.row)),
    Column("When", lambda line: when(line.row["finished"] or line.row["updated"])),
    Column(
        "Retried as",
        lambda line: listed(line.retried_as, 1),
        tip=lambda line: "\n".join(line.retried_as),
    ),
]


def members_model(parent: QObject | None = None) -> TableModel[MemberLine]:
    return TableModel(MEMBER_COLUMNS, parent, text_tips=True)
