"""The lines of a local worker's log that belong to one task.

Celery's worker log names the task id in the lines about it: "Task NAME[ID] received" (the
main process), the task logger's "NAME[ID]: message", "Task NAME[ID] succeeded in …" or
"raised unexpected: …" with its traceback (the pool process that ran it). What the task printed
carries no id (stdout redirected as "WARNING/ForkPoolWorker-1] text"): the lines of the process
that ran it, between the task's first and last line, are the task's too.

A record is a line starting with Celery's "[YYYY-MM-DD HH:MM:SS,mmm: LEVEL/Process]" prefix and
the lines after it that do not (a traceback). Only the last MAX_BYTES of a log are read, and
at most MAX_LINES are returned, so a huge log costs a bounded read (callers run it off the GUI
thread). Qt-free: the Tasks screen's detail pane and `celery-desk tasks ID --logs` share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.local.local_worker import LocalWorker

MAX_BYTES = 32 * 1024 * 1024
MAX_LINES = 2000
_PREFIX = re.compile(r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/(?P<process>[^\]]+)\]")
_MAIN = "MainProcess"


@dataclass
class _Record:
    at: str  # Celery's own timestamp text: sorts as it reads
    process: str
    lines: list[str] = field(default_factory=list)


def _records(lines: Iterable[str]) -> Iterator[_Record]:
    current: _Record | None = None
    for line in lines:
        found = _PREFIX.match(line)
        if found:
            if current is not None:
                yield current
            current = _Record(found["at"], found["process"], [line])
        elif current is not None:
            current.lines.append(line)
    if current is not None:
        yield current


def _tail(path: Path, max_bytes: int) -> list[str]:
    with path.open("rb") as log:
        log.seek(0, 2)
        size = log.tell()
        log.seek(max(0, size - max_bytes))
        data = log.read()
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    return lines[1:] if size > max_bytes else lines  # the first may be cut


def task_log_lines(
    path: Path, task_id: str, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES
) -> list[str]:
    """The task's lines of the log at `path` (empty when it says nothing of the task)."""
    try:
        records = list(_records(_tail(path, max_bytes)))
    except OSError:
        return []
    marked = [i for i, r in enumerate(records) if any(task_id in line for line in r.lines)]
    if not marked:
        return []
    first, last = marked[0], marked[-1]
    runners = {records[i].process for i in marked} - {_MAIN}
    chosen = set(marked)
    for i in range(first, last + 1):  # what the process that ran it wrote meanwhile
        if records[i].process in runners or (not runners and records[i].process == _MAIN):
            chosen.add(i)
    lines = [line for i in sorted(chosen) for line in records[i].lines]
    return lines[:max_lines] + (
        [f"… {len(lines) - max_lines} more lines"] if len(lines) > max_lines else []
    )


def local_log_of(workers: Iterable[LocalWorker], nodename: str | None) -> Path | None:
    """The log of the local worker that ran a task (by its node name), if it is one."""
    if not nodename:
        return None
    return next((w.log_path for w in workers if w.nodename == nodename), None)
