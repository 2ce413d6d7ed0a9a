"""Every result a result backend holds for a window of time: how a gap in the journal is filled.

Events sent while the recorder was not listening are gone (Redis pub/sub keeps nothing), and
the journal cannot ask the backend about tasks it never heard of by id. So the backend's own
keys are scanned: on Redis, `SCAN` over the app's `celery-task-meta-*` keys (with its
`global_keyprefix`), read in pages with `MGET`, decoded as JSON only (a pickled value is
counted, never unpickled). With `result_extended` a result also says the task's name, args,
kwargs, queue and worker. Other backends cannot be scanned by the panel; `BackendScan.note`
says so, and the gap stays marked as not filled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from desktop.core.monitor.state import sqlite_int
from desktop.core.settings import urls

SCAN_PAGE = 1000  # keys per SCAN step and per MGET
# Clocks of the workers (date_done) and of the panel (the gap's ends) may differ a little.
WINDOW_SLACK_S = 60.0
_GLOB_SPECIAL = re.compile(rb"([\\*?\[\]])")


@dataclass
class BackendResult:
    """One stored result, as the journal keeps a task (args/kwargs/result as JSON text)."""

    task_id: str
    state: str
    finished: float
    name: str | None = None
    args: str | None = None
    kwargs: str | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    queue: str | None = None
    worker: str | None = None
    retries: int | None = None
    parent_id: str | None = None
    root_id: str | None = None


@dataclass
class BackendScan:
    results: list[BackendResult] = field(default_factory=list)
    undecodable: int = 0  # values that are not JSON (pickle, say): never unpickled
    scanned: int = 0
    note: str | None = None  # set when this backend cannot be scanned: why

    @property
    def possible(self) -> bool:
        return self.note is None


def scan_results(app: Celery, start: float, end: float) -> BackendScan:
    """The results whose `date_done` is within [start, end] (widened by `WINDOW_SLACK_S`)."""
    url = str(app.conf.result_backend or "")
    scheme = urls.scheme_of(url)
    if scheme in ("redis", "rediss", "sentinel", "valkey", "valkeys"):
        return _scan_redis(app, start - WINDOW_SLACK_S, end + WINDOW_SLACK_S)
    if scheme.startswith("rpc") or scheme.startswith("amqp"):
        why = "an rpc:// backend sends results to the caller only; nothing to scan"
    elif scheme.startswith("db+"):
        why = "a database backend's table is not scanned by the panel (only Redis is)"
    else:
        why = f"results in a {scheme or 'missing'} backend cannot be scanned by the panel"
    return BackendScan(note=why)


def _scan_redis(app: Celery, start: float, end: float) -> BackendScan:
    backend = app.backend
    client = backend.client
    prefix: bytes = backend.task_keyprefix  # with the app's global_keyprefix, as bytes
    scan = BackendScan()
    for keys in _pages(client.scan_iter(match=_GLOB_SPECIAL.sub(rb"\\\1", prefix) + b"*",
                                        count=SCAN_PAGE)):  # fmt: skip
        for value in client.mget(keys):
            if value is None:  # expired between SCAN and MGET
                continue
            scan.scanned += 1
            meta = _json_meta(value)
            if meta is None:
                scan.undecodable += 1
                continue
            done = done_at(meta.get("date_done"))
            if done is not None and start <= done <= end:
                found = _as_result(meta, done)
                if found is not None:
                    scan.results.append(found)
    return scan


def done_at(date_done: Any) -> float | None:
    """A result's `date_done` as epoch seconds, or None. JSON backends store ISO text in the
    app's time zone with its offset (`app.now().isoformat()`); text without an offset is UTC,
    as Celery wrote it before 4.0."""
    done: datetime | None = date_done if isinstance(date_done, datetime) else None
    if isinstance(date_done, str):
        try:
            done = datetime.fromisoformat(date_done)
        except ValueError:
            done = None
    if done is None:
        return None
    return (done if done.tzinfo else done.replace(tzinfo=UTC)).timestamp()


def _pages(keys: Iterator[Any]) -> Iterator[list[Any]]:
    page: list[Any] = []
    for key in keys:
        page.append(key)
        if len(page) >= SCAN_PAGE:
            yield page
            page = []
    if page:
        yield page


def _json_meta(value: bytes | str) -> dict[str, Any] | None:
    try:
        meta = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return meta if isinstance(meta, dict) else None


def _as_result(meta: dict[str, Any], done: float) -> BackendResult | None:
    task_id, state = meta.get("task_id"), meta.get("status")
    if not isinstance(task_id, str) or not isinstance(state, str):
        return None
    result = meta.get("result")
    failed = state == "FAILURE" and isinstance(result, dict)
    retries = meta.get("retries")
    return BackendResult(
        task_id=task_id,
        state=state,
        finished=done,
        name=_text(meta.get("name")),
        args=_json_text(meta.get("args")),
        kwargs=_json_text(meta.get("kwargs")),
        result=None if failed else _json_text(result),
        exception=_exception(result) if isinstance(result, dict) and failed else None,
        traceback=_text(meta.get("traceback")),
        queue=_text(meta.get("queue")),
        worker=_text(meta.get("worker")),
        retries=sqlite_int(retries),
        parent_id=_text(meta.get("parent_id")),
        root_id=_text(meta.get("root_id")),
    )


def _exception(result: dict[str, Any]) -> str:
    """Celery's JSON form of an exception ({"exc_type", "exc_message"}) as its events say it."""
    kind = result.get("exc_type") or "Exception"
    message = result.get("exc_message")
    shown = ", ".join(map(repr, message)) if isinstance(message, list) else repr(message)
    return f"{kind}({shown})"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None
