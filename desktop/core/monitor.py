"""The live-monitoring pipeline: event stream -> cluster state -> journal -> listeners.

Everything here runs on the event stream's batch thread, never the GUI's. The same pipeline
backs the window and the headless `celery-desk record`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from kombu.exceptions import ContentDisallowed, DecodeError

from desktop.core import urls
from desktop.core.effective_config import EffectiveConfig
from desktop.core.events import CONNECTED, EventStream, receiver_app
from desktop.core.journal import FINAL_STATES, Journal
from desktop.core.panel_app import panel_app
from desktop.core.state import ClusterState, StateDiff

log = logging.getLogger(__name__)
DEFAULT_RETENTION_TASKS = 1_000_000  # the journal keeps at least this many by default
PRUNE_EVERY_S = 60.0
# Events can be lost while connected too: a worker that dies after its pool finished a task
# (seen: Celery's "Unrecoverable error" on a broker outage) never sends task-succeeded, but the
# pool stored the result. Tasks no event touched for this long are asked about again.
RECONCILE_STALE_EVERY_S = 30.0


def backend_app(backend_url: str, config: EffectiveConfig | None = None) -> Celery:
    """Reads results as JSON only: pickled content is refused by kombu, never unpickled. The
    app's result_backend_transport_options (a key prefix, say) say where its results are."""
    app = panel_app("memory://", backend_url)
    options = config.setting("result_backend_transport_options") if config else None
    if isinstance(options, dict) and options:
        app.conf.result_backend_transport_options = options
    return app


def reconcile(
    journal: Journal,
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
                meta = app.backend.get_task_meta(task_id)
            except (ContentDisallowed, DecodeError) as exc:
                # Pickle (or anything not JSON): say so on the row, never unpickle it.
                note = f"not decoded: the backend's value is not JSON ({type(exc).__name__}); "
                if journal.note_result(task_id, note + "the panel never unpickles"):
                    corrected += 1
                continue
            except Exception as exc:  # unreachable, or a key of another kind: leave it
                log.info("reconcile %s skipped: %s", task_id, type(exc).__name__)
                continue
            if isinstance(meta.get("priority"), int):  # a backend that keeps it (not Celery's)
                journal.learn_priorities({task_id: meta["priority"]})
            state = str(meta.get("status") or "")
            if state in FINAL_STATES:
                result = meta.get("result")
                shown = repr(result) if state == "FAILURE" else _json_text(result)
                journal.set_final(task_id, state, shown, _finished_at(meta.get("date_done")))
                corrected += 1
    finally:
        app.close()
    return corrected


def _finished_at(date_done: Any) -> float:
    """A result's `date_done` as epoch seconds. JSON backends store ISO text in the app's
    time zone with its offset (`app.now().isoformat()`); text without an offset is UTC, as
    Celery wrote it before 4.0. Only when there is none is "now" the best there is."""
    done: datetime | None = date_done if isinstance(date_done, datetime) else None
    if isinstance(date_done, str):
        try:
            done = datetime.fromisoformat(date_done)
        except ValueError:
            done = None
    if done is None:
        return time.time()
    return (done if done.tzinfo else done.replace(tzinfo=UTC)).timestamp()


def _json_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class Monitor:
    def __init__(
        self,
        broker_url: str,
        backend_url: str,
        journal: Journal,
        *,
        config: EffectiveConfig | None = None,
        on_diff: Callable[[StateDiff], None] | None = None,
        on_status: Callable[[str, str], None] = lambda state, message: None,
        on_reconciled: Callable[[int], None] = lambda count: None,
        max_tasks_in_memory: int = 10_000,
        batch_interval: float = 0.1,
        retention_tasks: int = DEFAULT_RETENTION_TASKS,
        retention_age_s: float | None = None,
        reconcile_every_s: float = RECONCILE_STALE_EVERY_S,
    ) -> None:
        self.journal = journal
        self.backend_url = backend_url
        self.config = config
        self.state = ClusterState(max_tasks_in_memory)
        self.on_diff = on_diff
        self.on_status = on_status
        self.on_reconciled = on_reconciled
        self.reconciled = 0
        self.retention_tasks = retention_tasks
        self.retention_age_s = retention_age_s
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        self._reconciler: threading.Thread | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self.reconcile_every_s = reconcile_every_s
        self.stream = EventStream(
            receiver_app(broker_url, config),
            self._on_batch,
            self._on_stream_status,
            batch_interval=batch_interval,
        )

    def start(self) -> None:
        self.stream.start()
        if self.backend_url and self._reconciler is None:
            self._reconciler = threading.Thread(
                target=self._reconcile_loop, name="events-reconcile", daemon=True
            )
            self._reconciler.start()

    def stop(self, timeout: float = 5.0) -> bool:
        self._stopping.set()
        self._connected.set()  # wakes the reconciler, which then sees it is stopping
        stopped = self.stream.stop(timeout)
        if self._reconciler is not None:
            self._reconciler.join(timeout)
        self.stream.app.close()  # its producer pool holds a broker connection (enable_events)
        return stopped

    def _on_stream_status(self, state: str, message: str) -> None:
        self.on_status(state, message)
        if state == CONNECTED:
            # After a start or a reconnect: what ended while we were not listening? On its own
            # thread: the receiver must subscribe at once, or it misses events meanwhile.
            self._connected.set()

    def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            just_connected = self._connected.wait(self.reconcile_every_s)
            if self._stopping.is_set():
                return
            if self.stream.state != CONNECTED:
                continue
            self._connected.clear()
            stale = None if just_connected else time.time() - self.reconcile_every_s
            try:
                corrected = reconcile(
                    self.journal,
                    self.backend_url,
                    5000 if just_connected else 1000,
                    stale,
                    self.config,
                )
            except Exception as exc:
                log.info("reconciliation failed: %s", exc)
                continue
            self.reconciled += corrected
            if corrected:
                self.on_reconciled(corrected)

    def _on_batch(self, batch: list[dict[str, Any]]) -> None:
        diff = self.state.apply(batch)
        # The stored rows are read back for a listener (the window); `record` has none.
        self.journal.write_diff(diff, read_back=self.on_diff is not None)
        if self.on_diff is not None:
            self.on_diff(diff)
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S
            self.journal.prune(self.retention_tasks, self.retention_age_s)
