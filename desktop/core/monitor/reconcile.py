"""Reconciliation with the result backend: what events did not say (sent while the panel was
away, lost with a worker that died after its pool finished), asked of the backend the app
stores results in. `reconcile` asks about the tasks the journal still thinks unfinished;
`fill_gap` scans the backend for what finished in a window the journal did not hear. Both run
on the Monitor's reconciler thread, and `reconcile` for `celery-desk record --once`. Results
are read as JSON only (`backend_app`): pickled content is never unpickled.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import panel_app
from desktop.core.app.results import UNDECODABLE, read_result
from desktop.core.monitor.backend_scan import done_at, scan_results
from desktop.core.monitor.journal_writer import JournalWriter
from desktop.core.settings import urls

log = logging.getLogger(__name__)


def backend_app(backend_url: str, config: EffectiveConfig | None = None) -> Celery:
    """Reads results as JSON only: pickled content is refused by kombu, never unpickled. The
    app's result_backend_transport_options (a key prefix, say) say where its results are."""
    app = panel_app("memory://", backend_url)
    options = config.setting("result_backend_transport_options") if config else None
    if isinstance(options, dict) and options:
        app.conf.result_backend_transport_options = options
    return app


def reconcile(
    journal: JournalWriter,
    backend_url: str,
    limit: int = 5000,
    updated_before: float | None = None,
    config: EffectiveConfig | None = None,
) -> int:
    """Ask the result backend about tasks the journal still thinks unfinished.

    Events sent while the panel was away are gone (Redis pub/sub keeps nothing); the result
    backend still knows how those tasks ended. Returns how many rows were corrected.
    """
    if not urls.scheme_of(backend_url) or backend_url.startswith("rpc"):
        return 0
    app = backend_app(backend_url, config)
    corrected = 0
    try:
        for task_id in journal.unfinished_ids(limit, updated_before):
            try:
                read = read_result(app, task_id)
            except UNDECODABLE as exc:
                # Pickle (or anything not JSON): say so on the row, never unpickle it.
                note = f"not decoded: the backend's value is not JSON ({type(exc).__name__}); "
                if journal.note_result(task_id, note + "the panel never unpickles"):
                    corrected += 1
                continue
            except Exception as exc:  # unreachable, or a key of another kind: leave it
                log.info("reconcile %s skipped: %s", task_id, type(exc).__name__)
                continue
            if read.priority is not None:  # a backend that keeps it (not Celery's)
                journal.learn_priorities({task_id: read.priority})
            if read.finished:
                result = read.value
                shown = repr(result) if read.state == "FAILURE" else _json_text(result)
                journal.set_final(task_id, read.state, shown, _finished_at(read.date_done))
                corrected += 1
    finally:
        app.close()
    return corrected


def _finished_at(date_done: Any) -> float:
    """A result's `date_done` as epoch seconds; only when there is none is "now" the best."""
    done = done_at(date_done)
    return time.time() if done is None else done


def fill_gap(
    journal: JournalWriter, app: Celery, gap_id: int, start: float, end: float
) -> tuple[int, str | None]:
    """Scan the result backend for what finished in a gap and store it; the gap row says how
    many tasks it gave, or why this backend cannot be scanned. Returns the rows changed, and
    that reason when it cannot."""
    scan = scan_results(app, start, end)
    if not scan.possible:
        journal.close_gap(gap_id, "cannot", 0, scan.note)
        return 0, scan.note
    changed = journal.store_backend_results(scan.results)
    note = f"{scan.scanned} results scanned, {len(scan.results)} in the window"
    if scan.undecodable:
        note += f", {scan.undecodable} not JSON (never unpickled)"
    journal.close_gap(gap_id, "filled", changed, note)
    return changed, None


def _json_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
