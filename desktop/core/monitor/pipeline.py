"""The live-monitoring pipeline: event stream -> cluster state -> journal -> listeners.

Everything here runs on the event stream's batch thread, never the GUI's. The same pipeline
backs the window and the headless `celery-desk record`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.events import CONNECTED, SILENT, EventStream, receiver_app
from desktop.core.monitor.journal_schema import Gap, JournalUnwritable
from desktop.core.monitor.journal_writer import JournalWriter
from desktop.core.monitor.reconcile import backend_app, fill_gap, reconcile
from desktop.core.monitor.spill import Spill
from desktop.core.monitor.state import ClusterState, EventRecord, StateDiff, TaskRow
from desktop.core.monitor.write_behind import DRAIN_AT_STOP_S, WriteBehind, Written
from desktop.core.settings import urls
from desktop.core.settings.profile_model import (
    DEFAULT_FAILURE_RETENTION_DAYS,
    DEFAULT_FAILURE_RETENTION_TASKS,
)

log = logging.getLogger(__name__)
DEFAULT_RETENTION_TASKS = 1_000_000  # the journal keeps at least this many by default
PRUNE_EVERY_S = 60.0
# How often the text index takes the rows noted since (a task's whole life is often shorter:
# it is then indexed once, finished).
TEXT_INDEX_EVERY_S = 1.0
# Events can be lost while connected too: a worker that dies after its pool finished a task
# (seen: Celery's "Unrecoverable error" on a broker outage) never sends task-succeeded, but the
# pool stored the result. Tasks no event touched for this long are asked about again.
RECONCILE_STALE_EVERY_S = 30.0
# A gap whose fill failed is tried again after 30 s, 60 s, 120 s, ... up to this.
GAP_RETRY_MAX_S = 600.0
# While the journal refuses writes, what it could not take is retried this often.
JOURNAL_RETRY_S = 1.0
JOURNAL_OK, JOURNAL_FAILING, JOURNAL_GAP = "ok", "failing", "gap"
JOURNAL_WAITING = "waiting"  # the window waits for a journal another connection has locked


class Monitor:
    """Events -> state on the stream's thread, -> journal on the writer's (write_behind.py);
    reconciliation (reconcile.py), gap filling, journal retries, retention and the text index
    each on a thread of their own.

    The journal may refuse writes (disk full, read-only, locked, damaged): what it could not
    take waits in a bounded `Spill` and is retried every `JOURNAL_RETRY_S`, and `on_journal`
    says at once that the journal is failing, then that it is written again. Any window the
    journal did not hear (the recorder was not running or disconnected, or the spill
    overflowed) is recorded as a gap and filled from the result backend (`fill_gap`).
    """

    def __init__(
        self,
        broker_url: str,
        backend_url: str,
        journal: JournalWriter,
        *,
        config: EffectiveConfig | None = None,
        on_diff: Callable[[StateDiff], None] | None = None,
        on_status: Callable[[str, str], None] = lambda state, message: None,
        on_reconciled: Callable[[int], None] = lambda count: None,
        on_journal: Callable[[str, str], None] = lambda state, message: None,
        max_tasks_in_memory: int = 10_000,
        batch_interval: float = 0.1,
        retention_tasks: int = DEFAULT_RETENTION_TASKS,
        retention_age_s: float | None = None,
        failure_retention_tasks: int = DEFAULT_FAILURE_RETENTION_TASKS,
        failure_retention_age_s: float | None = DEFAULT_FAILURE_RETENTION_DAYS * 86400.0,
        reconcile_every_s: float = RECONCILE_STALE_EVERY_S,
        spill: Spill | None = None,
    ) -> None:
        self.journal = journal
        self.backend_url = backend_url
        self.config = config
        self.state = ClusterState(max_tasks_in_memory)
        self.on_diff = on_diff
        self.on_status = on_status
        self.on_reconciled = on_reconciled
        self.on_journal = on_journal
        self.reconciled = 0
        self.retention_tasks = retention_tasks
        self.retention_age_s = retention_age_s
        # Failed tasks are kept by their own rule, past the task limit (Journal.prune).
        self.failure_retention_tasks = failure_retention_tasks
        self.failure_retention_age_s = failure_retention_age_s
        self._reconciler: threading.Thread | None = None
        self._retention: threading.Thread | None = None
        self._text_indexer: threading.Thread | None = None
        # Batches on their way to the journal, written on a thread of their own once started.
        self._writes = WriteBehind(self._write)
        self._keeper: threading.Thread | None = None
        # Wakes the reconciler (a connect, gaps to fill, stopping); `_fresh_connect` says a
        # connect did, so every unfinished task is asked about, not only the stale ones.
        self._wake = threading.Event()
        self._fresh_connect = False
        self._stopping = threading.Event()
        self.reconcile_every_s = reconcile_every_s
        self.spill = spill if spill is not None else Spill()
        self.journal_state = JOURNAL_OK
        self.journal_error = ""
        self.journal_failing_since: float | None = None
        self.journal_damaged = False  # the file is not a sound database: no retry will help
        self._write_lock = threading.Lock()
        # Until when the journal is known to hold everything: a gap starts there.
        self._heard_until: float | None = None
        self._stream_state = ""
        # Gaps found while the journal refused even their row: recorded at the next chance.
        self._gaps: list[tuple[float, float, str]] = []
        self._gaps_lock = threading.Lock()
        self._gaps_said_unfilled: set[int] = set()  # said once, retried quietly
        self._gap_tries: dict[int, int] = {}  # failed fills per gap: the retry backs off
        self._gap_retry_at: dict[int, float] = {}
        self.stream = EventStream(
            receiver_app(broker_url, config),
            self._on_batch,
            self._on_stream_status,
            batch_interval=batch_interval,
        )

    @property
    def skipped(self) -> int:
        """Events and values skipped alone: not decodable, malformed, or not storable."""
        return self.stream.stats.undecodable + self.state.malformed + self.journal.refused

    def start(self) -> None:
        try:
            self._heard_until = self.journal.last_write()
        except Exception as exc:
            log.info("journal's last write time not read: %s", exc)
        self._writes.start()
        self.stream.start()
        if self._reconciler is None:
            self._reconciler = threading.Thread(
                target=self._reconcile_loop, name="events-reconcile", daemon=True
            )
            self._reconciler.start()
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._keep_journal, name="journal-retry", daemon=True
            )
            self._keeper.start()
        if self._retention is None:
            self._retention = threading.Thread(
                target=self._retention_loop, name="journal-retention", daemon=True
            )
            self._retention.start()
        if self._text_indexer is None:
            self._text_indexer = threading.Thread(
                target=self._text_loop, name="journal-text", daemon=True
            )
            self._text_indexer.start()

    def stop(self, timeout: float = 5.0) -> bool:
        self._stopping.set()
        self._wake.set()  # wakes the reconciler, which then sees it is stopping
        stopped = self.stream.stop(timeout)
        # What the stream handed on before it stopped is written before the journal closes
        # (a few seconds at most: the queue is bounded to that; write_behind.py).
        stopped = self._writes.close(max(timeout, DRAIN_AT_STOP_S)) and stopped
        for thread in (self._reconciler, self._keeper, self._retention, self._text_indexer):
            if thread is not None:
                thread.join(timeout)
        with self._write_lock:
            if len(self.spill):  # a last try; what stays is after the journal's last write,
                self._flush_spill()  # so the next start's gap covers it
        self.stream.app.close()  # its producer pool holds a broker connection (enable_events)
        return stopped

    def _on_stream_status(self, state: str, message: str) -> None:
        resumed = state == CONNECTED and self._stream_state == SILENT
        self._stream_state = state
        if state == CONNECTED and not resumed:
            # After a start or a reconnect: from the journal's last write to now nothing was
            # heard. Filled on the reconciler's thread: the receiver must subscribe at once.
            # (A broker that was only silent kept the subscription: nothing was missed.)
            if self._heard_until is not None:
                self._add_gap(self._heard_until, time.time(), "not listening (start or reconnect)")
            self._heard_until = time.time()
        self.on_status(state, message)
        if state == CONNECTED:
            self._fresh_connect = True
            self._wake.set()

    def _add_gap(self, start: float, end: float, reason: str) -> None:
        """Record the gap in the journal at once, before any batch after it is written: a gap
        only in memory would be lost with the process. Filling it is the reconciler's job."""
        with self._gaps_lock:
            self._gaps.append((start, end, reason))
        self._record_gaps()

    def _record_gaps(self) -> None:
        """Gaps not yet in the journal get their row ("open" until filled); those the journal
        refuses stay in memory for the next try."""
        with self._gaps_lock:
            waiting, self._gaps = self._gaps, []
            for index, (start, end, reason) in enumerate(waiting):
                try:
                    self.journal.open_gap(start, end, reason)
                except Exception as exc:  # the journal cannot take it yet: try again later
                    log.info("gap not recorded yet: %s", exc)
                    self._gaps = waiting[index:]
                    return

    # -- the journal: writes, the spill, retries ---------------------------------------------
    def _store(self, rows: list[TaskRow], events: list[EventRecord], taken_at: float) -> bool:
        """Write a batch, or keep it in the spill; True when the journal holds it."""
        with self._write_lock:
            if len(self.spill):
                # Already failing: only kept. Rebuilding and retrying up to the whole spill
                # on every batch (10 a second) is `_keep_journal`'s job, once a second.
                self.spill.add(rows, events, since=self._heard_until)
                return False
            try:
                # What was heard by the time this batch was taken is kept (in the journal
                # too, as its last write): not the end of a write that may have waited on a
                # busy journal, or behind other batches, while the stream went on.
                self.journal.write(rows, events, heard_until=taken_at)
                self._heard_until = taken_at
                return True
            except Exception as exc:  # kept, never dropped: a bug's write is retried too
                failure = exc if isinstance(exc, JournalUnwritable) else None
                if failure is None:
                    log.exception("journal write failed; kept in memory to retry")
                    failure = JournalUnwritable(f"{type(exc).__name__}: {exc}")
                self.spill.add(rows, events, since=self._heard_until)
                self._journal_failed(failure)
                return False

    def _flush_spill(self) -> bool:
        spill = self.spill
        try:
            self.journal.write(list(spill.rows.values()), list(spill.events))
        except JournalUnwritable as exc:
            self._journal_failed(exc)
            return False
        held, lost, lost_since = len(spill), spill.lost, spill.lost_since
        spill.clear()
        if self.stream.state == CONNECTED:
            # Only while listening: during a reconnect the next gap starts where hearing
            # stopped, not at this write.
            self._heard_until = self._heard_now()
        message = f"journal written again: {held} rows and events kept in memory are stored"
        if lost_since is not None:
            message += f"; {lost} dropped past the memory bound are filled from the backend"
            self._add_gap(lost_since, time.time(), "journal unwritable, memory bound passed")
        self._record_gaps()  # any the journal refused while failing
        self._wake.set()  # the reconciler fills open gaps now (it waits for the broker)
        self.journal_state, self.journal_error, self.journal_failing_since = JOURNAL_OK, "", None
        self._tell_journal(JOURNAL_OK, message)
        return True

    def _journal_failed(self, exc: JournalUnwritable) -> None:
        first = self.journal_state != JOURNAL_FAILING
        self.journal_state, self.journal_error = JOURNAL_FAILING, str(exc)
        self.journal_damaged = self.journal_damaged or exc.damaged
        if first:
            self.journal_failing_since = time.time()
            self._tell_journal(
                JOURNAL_FAILING,
                f"journal {self.journal.path} cannot be written: {exc}; events are kept in "
                f"memory (up to {self.spill.max_tasks} tasks) and retried",
            )

    def _tell_journal(self, state: str, message: str) -> None:
        (log.warning if state == JOURNAL_FAILING else log.info)("%s", message)
        try:
            self.on_journal(state, message)
        except Exception:  # a listener's bug must not stop the writes
            log.exception("journal status listener failed")

    def _keep_journal(self) -> None:
        while not self._stopping.wait(JOURNAL_RETRY_S):
            with self._write_lock:
                if len(self.spill):
                    self._flush_spill()
                elif self.stream.state == CONNECTED:
                    self._heard_until = self._heard_now()  # listening, and nothing waits

    def _retention_loop(self) -> None:
        """The retention prune every PRUNE_EVERY_S, on its own thread: never on the one that
        receives events (a prune at a million tasks takes seconds in all, in chunks that each
        hold the journal's lock about as long as a batch write)."""
        while not self._stopping.wait(PRUNE_EVERY_S):
            try:
                self.journal.prune(
                    self.retention_tasks,
                    self.retention_age_s,
                    failures_kept=self.failure_retention_tasks,
                    failures_max_age_s=self.failure_retention_age_s,
                    should_stop=self._stopping.is_set,
                )
            except Exception as exc:
                log.info("journal not pruned: %s", exc)

    def _text_loop(self) -> None:
        """The journal's text index brought up to date every TEXT_INDEX_EVERY_S, on its own
        thread (Journal.index_text): the receiving thread's writes only note the rows."""
        while not self._stopping.wait(TEXT_INDEX_EVERY_S):
            try:
                self.journal.index_text(should_stop=self._stopping.is_set)
            except Exception as exc:
                log.info("journal's text index not brought up to date: %s", exc)

    def _heard_now(self) -> float:
        """Until when the journal holds everything while nothing waits: the last thing the
        stream heard (a dead TCP path still looks connected for a few seconds), and never
        later than now."""
        return min(time.time(), max(self.stream.heard_at, self._heard_until or 0.0))

    # -- reconciliation with the result backend ------------------------------------------------
    def _reconcile_loop(self) -> None:
        app = backend_app(self.backend_url, self.config) if self._can_reconcile() else None
        try:
            self._reconcile_until_stopped(app)
        finally:
            if app is not None:
                app.close()

    def _can_reconcile(self) -> bool:
        return bool(self.backend_url and urls.scheme_of(self.backend_url))

    def _reconcile_until_stopped(self, app: Celery | None) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.reconcile_every_s)
            self._wake.clear()  # whatever woke it is handled now, or at the next connect
            if self._stopping.is_set():
                return
            if self.stream.state != CONNECTED:
                continue  # the next connect wakes it: never a busy loop meanwhile
            just_connected, self._fresh_connect = self._fresh_connect, False
            self._fill_gaps(app)
            if app is None:
                continue
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

    def _fill_gaps(self, app: Celery | None) -> None:
        """Every gap the journal has "open" (this run's, or one an earlier run could not
        fill): run on every connect and every reconcile, so a failed fill is tried again."""
        self._record_gaps()
        try:
            gaps = self.journal.open_gaps()
        except Exception as exc:
            log.info("open gaps not read: %s", exc)
            return
        now = time.monotonic()
        for gap in gaps:
            if self._gap_retry_at.get(gap.id, 0.0) > now:
                continue  # failed recently: a full backend scan is not repeated every 30 s
            try:
                self._fill_gap(app, gap)
            except Exception as exc:  # the journal refused the gap's result: stays "open"
                log.info("gap %s not closed: %s", gap.id, exc)

    def _fill_gap(self, app: Celery | None, gap: Gap) -> None:
        what = f"{gap.end - gap.start:.1f} s not heard ({gap.reason})"
        if app is None:
            self.journal.close_gap(gap.id, "cannot", 0, "no result backend to fill it")
            self._tell_journal(JOURNAL_GAP, f"{what}: no result backend to fill it")
            return
        try:
            found, cannot = fill_gap(self.journal, app, gap.id, gap.start, gap.end)
        except Exception as exc:  # stays "open": tried again at the next reconcile
            log.info("gap %s not filled: %s", gap.id, exc)
            tries = self._gap_tries.get(gap.id, 0) + 1
            self._gap_tries[gap.id] = tries
            self._gap_retry_at[gap.id] = time.monotonic() + min(
                GAP_RETRY_MAX_S, self.reconcile_every_s * 2 ** (tries - 1)
            )
            if gap.id not in self._gaps_said_unfilled:  # said once, not every 30 s
                self._gaps_said_unfilled.add(gap.id)
                self._tell_journal(
                    JOURNAL_GAP, f"{what}: not filled yet ({type(exc).__name__}), tried again"
                )
            return
        self._gaps_said_unfilled.discard(gap.id)
        filled = f"not filled: {cannot}" if cannot else f"{found} tasks filled from the backend"
        self._tell_journal(JOURNAL_GAP, f"{what}: {filled}")
        if found:
            self.reconciled += found
            self.on_reconciled(found)

    def _on_batch(self, batch: list[dict[str, Any]]) -> None:
        """On the receiving thread: the batch applied to the state, then handed to the
        journal's writer (write_behind.py), so this thread goes back to the socket."""
        taken_at = time.time()
        self._writes.hand_on(self.state.apply(batch), taken_at)

    def _write(self, written: Written) -> None:
        """One or more batches stored, then each batch's diff told, in order, with the rows
        as stored (`journaled`: read back for a listener, the window; `record` has none)."""
        journaled: dict[str, TaskRecord] = {}
        stored = self._store(written.rows, written.events, written.taken_at)
        if stored and self.on_diff is not None and written.rows:
            try:
                journaled = self.journal.rows(row.id for row in written.rows)
            except Exception as exc:
                log.info("journal rows not read back: %s", exc)
        if self.on_diff is None:
            return
        for diff in written.diffs:
            if journaled:
                diff.journaled = {
                    row.id: journaled[row.id]
                    for row in (*diff.tasks_added, *diff.tasks_changed)
                    if row.id in journaled
                }
            try:  # one listener's failure does not keep the next batches from the others
                self.on_diff(diff)
            except Exception:
                log.exception("event batch listener failed")
