"""The Tasks table's columns and what a cell says: one home for the model, the details pane
and the header (model.py is the paging and live-row model around them)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtGui import QColor

from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.journal_schema import INDEXED_SORTS
from desktop.ui.common.states import state_colour, with_symbol
from desktop.ui.common.theme import is_dark

CELL_LIMIT = 200  # characters shown in a cell; the detail pane shows the whole value

COLUMNS: list[tuple[str, str]] = [
    ("id", "Task id"),
    ("name", "Name"),
    ("state", "State"),
    ("queue", "Queue"),
    ("priority", "Priority"),
    ("worker", "Worker"),
    ("args", "Args"),
    ("kwargs", "Kwargs"),
    ("result", "Result / exception"),
    ("sent", "Sent"),
    ("received", "Received"),
    ("started", "Started"),
    ("runtime", "Runtime"),
    ("retries", "Retries"),
    ("parent_id", "Parent"),
    ("root_id", "Root"),
]
# What the table shows until the person picks others (its header's context menu): what a
# person scans a list of tasks by, fitting 1280 px beside the views; the rest one click away.
DEFAULT_COLUMNS = ("id", "name", "state", "queue", "priority", "worker", "args", "result",
                   "started", "runtime")  # fmt: skip
# Columns with no index (long text): sorting them in SQL scans a million rows, so their header
# sorts only the rows loaded so far, and says so.
PAGE_SORTED = frozenset(key for key, _title in COLUMNS if key not in INDEXED_SORTS)
PAGE_SORT_MARK = " *"  # short, so the column keeps its width; the tooltip says why
PAGE_SORT_TIP = "* Sorts only the rows loaded so far: this column has no index to sort them all."


def format_time(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return time.strftime("%H:%M:%S", time.localtime(value)) + f".{int(value * 1000) % 1000:03d}"


def shorten(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"


def display(row: TaskRecord, key: str) -> str:
    value = row.get(key)
    if key in ("sent", "received", "started"):
        return format_time(value)
    if key == "runtime":
        return f"{value:.3f} s" if isinstance(value, int | float) else ""
    if key == "result":
        return shorten(row.get("exception") or value)
    if key == "queue":
        return shorten(value or row.get("routing_key"))
    if key == "state":  # "✓ SUCCESS": never the colour alone
        return with_symbol(str(value)) if value else ""
    return shorten(value)


def cell_texts(row: TaskRecord) -> tuple[str, ...]:
    """What each column's cell says for this row."""
    return tuple(display(row, key) for key, _title in COLUMNS)


_STATE_QCOLOURS: dict[tuple[bool, str], QColor] = {}


def state_qcolour(state: str) -> QColor:
    """The state's colour in the theme shown, made once per theme and state: a paint asks
    for it in every visible row (ui/common/states.py is the one home of the colour)."""
    key = (is_dark(), state)
    known = _STATE_QCOLOURS.get(key)
    if known is None:
        known = _STATE_QCOLOURS[key] = QColor(state_colour(state))
    return known
