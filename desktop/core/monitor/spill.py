"""What the journal could not take yet (disk full, read-only, locked), kept in memory, bounded.

Rows merge per task id (a task's newer row holds all its older one knew), so rows are bounded
by tasks, not events; the event timeline is capped separately. When a cap is passed the oldest
is dropped and `lost_since` remembers from when: that window becomes a gap in the journal,
filled from the result backend once the journal takes writes again (monitor.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict, deque

from desktop.core.base.task_states import FINISHED_STATES
from desktop.core.monitor.state import EventRecord, TaskRow

MAX_SPILLED_TASKS = 100_000  # ~0.5 KB each: ~50 MB at worst
MAX_SPILLED_EVENTS = 200_000


class Spill:
    def __init__(
        self, max_tasks: int = MAX_SPILLED_TASKS, max_events: int = MAX_SPILLED_EVENTS
    ) -> None:
        self.max_tasks = max_tasks
        self.max_events = max_events
        self.rows: OrderedDict[str, TaskRow] = OrderedDict()
        self.events: deque[EventRecord] = deque()
        # Until when the journal held everything when it first refused (a drop's gap starts
        # there).
        self.since: float | None = None
        self.lost_since: float | None = None  # when the first thing was dropped, if any
        self.lost = 0  # rows and events dropped past the caps

    def __len__(self) -> int:
        return len(self.rows) + len(self.events)

    def add(
        self, rows: list[TaskRow], events: list[EventRecord], since: float | None = None
    ) -> None:
        """`since`: until when the journal held everything (where a gap starts, should
        what is held be dropped); now when not known."""
        held = self.rows
        for row in rows:
            old = held.pop(row.id, None)
            held[row.id] = row if old is None else merged(old, row)
        self.events.extend(events)
        if self.since is None and (held or self.events):
            self.since = time.time() if since is None else since
        while len(held) > self.max_tasks:
            held.popitem(last=False)
            self._dropped()
        while len(self.events) > self.max_events:
            self.events.popleft()
            self._dropped()

    def _dropped(self) -> None:
        self.lost += 1
        if self.lost_since is None:
            self.lost_since = self.since or time.time()

    def clear(self) -> None:
        self.rows.clear()
        self.events.clear()
        self.since = self.lost_since = None
        self.lost = 0


def merged(old: TaskRow, new: TaskRow) -> TaskRow:
    """`new` over `old` as the journal's upsert merges them: a value wins when present, and a
    finished state is never turned back into a running one."""
    changes = {
        f.name: getattr(old, f.name)
        for f in dataclasses.fields(TaskRow)
        if getattr(new, f.name) is None and getattr(old, f.name) is not None
    }
    if old.state in FINISHED_STATES and new.state not in FINISHED_STATES:
        changes["state"] = old.state
    return dataclasses.replace(new, **changes) if changes else new
