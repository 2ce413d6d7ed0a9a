"""Test data builders (Qt-free, so unit tests can use them)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from desktop.core.state import TaskRow


def task_row(task_id: str, **values: Any) -> TaskRow:
    """A TaskRow: SUCCESS, updated at 0, every other field None unless the test names it."""
    row: dict[str, Any] = {f.name: None for f in fields(TaskRow)}
    row.update(id=task_id, state="SUCCESS", updated=0.0)
    row.update(values)
    return TaskRow(**row)
