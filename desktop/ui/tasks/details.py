"""The Tasks screen's detail pane: what it says of one task, and the one read it needs."""

from __future__ import annotations

import html
import json
from typing import Any

from desktop.core.base.task_record import TaskRecord, queue_of
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal_reader import stored_value
from desktop.ui.tasks.cells import format_time


def pretty(text: str | None) -> str:
    """JSON or a Python literal (Celery's argsrepr) indented; anything else as it is."""
    if text is None:
        return ""
    value = stored_value(text)
    return text if value is text else json.dumps(value, indent=2, ensure_ascii=False)


def detail_html(
    row: TaskRecord,
    kids: list[str] | None,
    events: list[dict[str, Any]] | None,
    logs: list[str] | None = None,
) -> str:
    """`kids` and `events` are None while they are being read; `logs` are the lines of the
    local worker's log that belong to the task (None: not a local worker's, or not read)."""

    def link(task_id: str | None) -> str:
        if not task_id:
            return "—"
        return f"<a href='task:{html.escape(task_id)}'>{html.escape(task_id)}</a>"

    def block(title: str, text: str | None) -> str:
        if not text:
            return ""
        # Wrapped: a traceback's long lines put the details behind a sideways scroll bar.
        return f"<h4>{title}</h4><pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"

    timeline = "".join(
        f"<tr><td>{format_time(e['timestamp'])}</td><td>{html.escape(e['type'])}</td></tr>"
        for e in events or ()
    )
    children = "…" if kids is None else ", ".join(link(k) for k in kids) or "—"
    facts = [
        ("Task", html.escape(str(row["name"] or "?"))),
        ("State", html.escape(str(row["state"]))),
        ("Worker", html.escape(str(row["worker"] or "—"))),
        ("Queue", html.escape(str(queue_of(row) or "—"))),
        ("Priority", html.escape(str(row["priority"] if row["priority"] is not None else "—"))),
        ("Retries", html.escape(str(row["retries"] or 0))),
        ("Parent", link(row["parent_id"])),
        ("Root", link(row["root_id"])),
        ("Children", children),
    ]
    table = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in facts)
    return (
        f"<h3>{html.escape(row['id'])}</h3><table cellspacing=4>{table}</table>"
        + block("Args", pretty(row["args"]))
        + block("Kwargs", pretty(row["kwargs"]))
        + block("Result", pretty(row["result"]))
        + block("Exception", row["exception"])
        + block("Traceback", row["traceback"])
        + (f"<h4>Timeline</h4><table cellspacing=4>{timeline}</table>" if timeline else "")
        + block("Log (the local worker's lines for this task)", "\n".join(logs or ()))
    )


def read_details(
    reader: HistoryReader, task_id: str
) -> tuple[TaskRecord | None, list[str], list[dict[str, Any]]]:
    """A task's row, children and timeline, in one trip off the GUI thread."""
    row = reader.get(task_id)
    if row is None:
        return None, [], []
    return row, reader.children(task_id), reader.timeline(task_id)
