"""Failures grouped by cause: one line for a thousand "bad input N" instead of a thousand rows.

A failure's cause is its exception text with what changes from one task to the next (numbers,
ids, paths, addresses) replaced by placeholders: its `fingerprint`. Tasks whose fingerprints
are equal failed the same way, whatever the task name; each group still says which task
names, workers and queues it spans (`by_name` counts a group per task name).

Qt-free: the CLI (`celery-desk failures`) and, later, the Failures screen share it. The rows
come from a reader's `failed_rows` (failed_rows.py, either engine), which reads only the
columns a group needs; the grouping is done here, in Python (a few thousand distinct texts at
most, each normalised once).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from desktop.core.base.task_record import queue_of
from desktop.core.monitor.failed_rows import FAILED_STATES, failed_rows_of
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.task_query import Condition

NO_EXCEPTION = "(no exception text)"
# Only the start of a text is fingerprinted: a megabyte of exception text from a hostile or
# broken task costs no more than this, and two texts that agree this far are one cause.
FINGERPRINT_INPUT_CHARS = 2000

# The exception's type as the journal starts its text: "ValueError('...')", "OSError: ...",
# "mod.sub.Error(...)" or a bare "KeyError".
_TYPE = re.compile(r"[A-Za-z_][\w.]*(?=\(|:(?!:)|\s*$)")
_HEX = "[0-9a-fA-F]"
# What varies between two failures of the same cause, tried in this order at each position
# (the first that matches wins: a URL before the path inside it, a UUID before its hex runs).
_VARIABLE = re.compile(
    "|".join(
        f"(?P<{name}>{pattern})"
        for name, pattern in (
            ("url", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+"),
            ("uuid", rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"),
            ("ipv4", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?!\w|\.\d)"),
            (
                "ipv6",
                rf"\[(?:{_HEX}{{0,4}}:){{2,7}}{_HEX}{{0,4}}\](?::\d{{1,5}})?"
                rf"|(?<![\w:])(?:(?:{_HEX}{{1,4}}:){{7}}{_HEX}{{1,4}}"
                rf"|(?:{_HEX}{{1,4}}:){{0,6}}(?:{_HEX}{{1,4}})?::(?:{_HEX}{{1,4}}:){{0,6}}"
                rf"{_HEX}{{1,4}})(?![\w:])",
            ),
            ("winpath", r"(?<!\w)[A-Za-z]:(?:\\{1,2}[^\s'\"\\<>]+)+\\*"),
            ("path", r"(?<![\w.:/<>~])(?:~|\.{1,2})?(?:/[^\s'\"/:,;()\[\]{}<>]+)+/?"),
            ("hexnum", rf"(?<![\w.])0[xX]{_HEX}+(?!\w)"),
            ("hexid", rf"(?<!\w)(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F]){_HEX}{{8,}}(?!\w)"),
            ("quotedid", r"(?<=['\"])(?=\w*\d\w*\d)(?=\w*[A-Za-z])\w{8,}(?=['\"])"),
            ("number", r"(?<!\w)\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?!\w)"),
        )
    )
)
_PLACEHOLDER = {
    "url": "<url>",
    "uuid": "<uuid>",
    "ipv4": "<addr>",
    "ipv6": "<addr>",
    "winpath": "<path>",
    "path": "<path>",
    "hexnum": "<n>",
    "hexid": "<hex>",
    "quotedid": "<id>",
    "number": "<n>",
}


def exception_type(exception: str | None) -> str:
    """The type an exception text starts with ("ValueError" of "ValueError('x')", "OSError" of
    "OSError: [Errno 28] ..."), or "" when it starts with none."""
    found = _TYPE.match((exception or "").strip())
    return found.group() if found else ""


def _normalised(message: str) -> str:
    replaced = _VARIABLE.sub(lambda m: _PLACEHOLDER[m.lastgroup or "number"], message)
    return " ".join(replaced.split())


def fingerprint(exception: str | None) -> str:
    """The cause of a failure: its exception text with what differs between two failures of
    one cause replaced, so that equal fingerprints group together.

    The type is kept as written; in the message, UUIDs become <uuid>, hex ids of 8 or more
    characters (with a digit and a letter) <hex>, IPv4 and IPv6 addresses (with a port)
    <addr>, URLs <url>, file paths (/a/b, ./a, ~/a, C:\\a) <path>, a quoted word of 8 or
    more letters and digits with at least two digits (an id: 'user_1234') <id>, and numbers
    (ints, floats, 0x..) <n>; runs of whitespace become one space. A number inside a word
    ("item42", "Http404") is part of the word and kept.

        >>> fingerprint("ValueError('bad input 42')")
        "ValueError('bad input <n>')"
        >>> fingerprint("ConnectionError('Error 111 connecting to 10.0.0.5:6379. Refused.')")
        "ConnectionError('Error <n> connecting to <addr>. Refused.')"
        >>> fingerprint("KeyError('user-8f14e45f-ceea-467f-a0e6-1c2b3d4e5f60')")
        "KeyError('user-<uuid>')"
        >>> fingerprint("FileNotFoundError(2, 'No such file or directory')")
        "FileNotFoundError(<n>, 'No such file or directory')"
        >>> fingerprint("OSError: [Errno 28] No space left on device: '/var/tmp/x/1234.tmp'")
        "OSError: [Errno <n>] No space left on device: '<path>'"
        >>> fingerprint(None)
        '(no exception text)'

    Pure and deterministic; never raises (any text gives a fingerprint). Only the first
    FINGERPRINT_INPUT_CHARS characters are read. A fingerprint is its own fingerprint: the
    placeholders hold no digit, slash or address, and the fixed point is reached here
    (a replacement can free a neighbour: "1.2.3" reads "<n>.<n>" only after a second pass).
    """
    text = " ".join((exception or "")[:FINGERPRINT_INPUT_CHARS].split())
    if not text:
        return NO_EXCEPTION
    kind = exception_type(text)
    message = text[len(kind) :]
    for _ in range(4):  # a second pass is rarely needed, a third never seen
        again = _normalised(message)
        if again == message:
            break
        message = again
    return (kind + message).strip() or NO_EXCEPTION


@dataclass(frozen=True)
class FailureGroup:
    """The failures of one cause (one fingerprint), newest first."""

    fingerprint: str
    exception_type: str
    example_exception: str  # the newest failure's own text
    count: int
    first: float  # when the oldest failed (finished, else last updated), UNIX seconds
    last: float
    task_names: tuple[str, ...]  # sorted
    workers: tuple[str, ...]  # sorted
    queues: tuple[str, ...]  # sorted
    example_id: str  # the newest failure's task id
    ids: tuple[str, ...]  # every task of the group, newest first
    by_name: tuple[tuple[str, int], ...]  # failures per task name, most first
    times: tuple[float, ...] = ()  # when each failed, in the order of `ids` (a sparkline's)


def failure_groups(
    source: HistoryReader | sqlite3.Connection,
    since: float | None = None,
    states: Sequence[str] = ("FAILURE",),
    search: Condition | None = None,
    newest: int | None = None,
) -> list[FailureGroup]:
    """The journal's failures since `since` (UNIX seconds; None: all), grouped by cause, the
    most frequent first (then the most recent). `states` are among FAILED_STATES: FAILURE
    alone by default; RETRY and REVOKED only when asked; `search` (the query language's
    `parse`) keeps only the failures it finds; `newest` groups only that many of the most
    recent (each costs a normalisation of its message: ~80 us, 2 s for 26,000). A task's time
    is when it finished, else when the journal last updated it."""
    rows = (
        failed_rows_of(source, since, states, search, newest)
        if isinstance(source, sqlite3.Connection)
        else source.failed_rows(since, states, search, newest)
    )
    return group_failures(rows)


def group_failures(rows: Iterable[Mapping[str, Any]]) -> list[FailureGroup]:
    """Rows with id, name, worker, queue, routing_key, exception and `at` (the failure's
    time) grouped by fingerprint; see `failure_groups`."""
    members: dict[str, list[Mapping[str, Any]]] = {}
    prints: dict[str | None, str] = {}  # one normalisation per distinct text
    for row in rows:
        text = row.get("exception")
        if text not in prints:
            prints[text] = fingerprint(text)
        members.setdefault(prints[text], []).append(row)
    groups = [_group(key, found) for key, found in members.items()]
    groups.sort(key=lambda g: (-g.count, -g.last, g.fingerprint))
    return groups


def _group(key: str, rows: list[Mapping[str, Any]]) -> FailureGroup:
    ordered = sorted(rows, key=lambda r: (_at(r), str(r["id"])), reverse=True)
    newest = ordered[0]
    names = Counter(str(r["name"]) for r in ordered if r.get("name"))
    queues = {queue_of(r) for r in ordered}
    return FailureGroup(
        fingerprint=key,
        exception_type=exception_type(newest.get("exception")),
        example_exception=str(newest.get("exception") or ""),
        count=len(ordered),
        first=_at(ordered[-1]),
        last=_at(newest),
        task_names=tuple(sorted(names)),
        workers=tuple(sorted({str(r["worker"]) for r in ordered if r.get("worker")})),
        queues=tuple(sorted(q for q in queues if q)),
        example_id=str(newest["id"]),
        ids=tuple(str(r["id"]) for r in ordered),
        by_name=tuple(sorted(names.items(), key=lambda item: (-item[1], item[0]))),
        times=tuple(_at(r) for r in ordered),
    )


def unresolved(
    groups: Iterable[FailureGroup], resolved: Mapping[str, float]
) -> tuple[list[FailureGroup], list[FailureGroup]]:
    """(shown, hidden): a group marked resolved (a reader's `resolved_failures`) is hidden
    until it fails again after the moment it was resolved."""
    shown: list[FailureGroup] = []
    hidden: list[FailureGroup] = []
    for group in groups:
        at = resolved.get(group.fingerprint)
        (hidden if at is not None and group.last <= at else shown).append(group)
    return shown, hidden


def occurrences(times: Iterable[float], start: float, end: float, buckets: int) -> list[int]:
    """How many of `times` fall in each of `buckets` equal slices of [start, end] (the last
    slice holds `end`): a sparkline's heights. Times outside are not counted."""
    counts = [0] * max(1, buckets)
    span = end - start
    for at in times:
        if start <= at <= end:
            slot = int((at - start) / span * len(counts)) if span > 0 else len(counts) - 1
            counts[min(slot, len(counts) - 1)] += 1
    return counts


REPORT_IDS = 50  # task ids listed in a report; the rest are counted


def markdown_report(group: FailureGroup, example: Mapping[str, Any] | None = None) -> str:
    """A group as a person pastes it in a ticket or a chat: the cause, how often and when,
    which tasks, workers and queues, one example with its arguments and traceback, and the
    task ids (the first REPORT_IDS)."""

    def when(at: float) -> str:
        return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    names = ", ".join(f"`{name}` ({count})" for name, count in group.by_name)
    plural = "s" if group.count != 1 else ""
    lines = [
        f"### {group.count} failure{plural}: `{_code(group.fingerprint)}`",
        "",
        f"- **First seen:** {when(group.first)}",
        f"- **Last seen:** {when(group.last)}",
        f"- **Tasks:** {names or '(name not known)'}",
        f"- **Workers:** {', '.join(group.workers) or '(not known)'}",
        f"- **Queues:** {', '.join(group.queues) or '(not known)'}",
        "",
        f"**Example** `{group.example_id}`: `{_code(group.example_exception)}`",
    ]
    if example is not None:
        lines.append(f"- args: `{_code(str(example.get('args') or '()'))}`")
        lines.append(f"- kwargs: `{_code(str(example.get('kwargs') or '{}'))}`")
        traceback = str(example.get("traceback") or "").strip()
        if traceback:  # a fence inside would end the block early
            lines += ["", "```", traceback.replace("```", "'''"), "```"]
    shown = group.ids[:REPORT_IDS]
    lines += ["", "**Task ids:**", "", *(f"- `{task_id}`" for task_id in shown)]
    if group.count > len(shown):
        lines.append(f"- … and {group.count - len(shown)} more")
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """Text inside a Markdown code span: one line, no backtick to end it early."""
    return " ".join(text.split()).replace("`", "'")


def _at(row: Mapping[str, Any]) -> float:
    at = row.get("at")
    return float(at) if at is not None else 0.0


__all__ = [
    "FAILED_STATES",
    "NO_EXCEPTION",
    "FailureGroup",
    "exception_type",
    "failure_groups",
    "fingerprint",
    "group_failures",
    "markdown_report",
    "occurrences",
    "unresolved",
]
