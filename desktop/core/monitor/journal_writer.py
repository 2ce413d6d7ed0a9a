"""What the live pipeline (`Monitor`, its reconciliation and gap filling) and `celery-desk
record` use of a journal: the one interface both engines give, the SQLite `Journal` (the
default) and the shared history's `PgJournal` (desktop/core/history).

It lives here, beside its consumer: `Monitor` is in this package, and the history package
stands above it in the layers (PgJournal stores this package's rows and raises its
JournalUnwritable), so it cannot be defined there and used here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.journal_schema import Gap
from desktop.core.monitor.state import EventRecord, TaskRow


class JournalWriter(Protocol):
    """A journal a recorder writes. A write that fails for a reason that is not the data (the
    disk, the server) raises JournalUnwritable with nothing written; values it cannot store
    are skipped alone and counted in `refused`."""

    @property
    def path(self) -> object:
        """Where it is, as it may be shown: a file, or a URL with its password masked."""

    @property
    def refused(self) -> int: ...

    def write(
        self,
        rows: Iterable[TaskRow],
        events: Iterable[EventRecord],
        heard_until: float | None = None,
    ) -> int:
        """Store a batch; `heard_until` (when it was taken off the stream) is kept as the
        journal's last write, where a gap after it starts (now, when not given)."""

    def rows(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]: ...

    def count(self) -> int: ...

    def unfinished_ids(
        self, limit: int = 10_000, updated_before: float | None = None
    ) -> list[str]: ...

    def note_result(self, task_id: str, text: str) -> bool: ...

    def learn_priorities(self, seen: Mapping[str, int]) -> list[str]: ...

    def set_final(self, task_id: str, state: str, result: str | None, finished: float) -> None: ...

    def store_backend_results(self, results: Iterable[Any]) -> int: ...

    def last_write(self) -> float | None: ...

    def open_gap(self, start: float, end: float, reason: str) -> int: ...

    def close_gap(self, gap_id: int, status: str, found: int, note: str | None = None) -> None: ...

    def open_gaps(self, limit: int = 100) -> list[Gap]: ...

    def prune(
        self,
        max_tasks: int,
        max_age_s: float | None = None,
        *,
        failures_kept: int | None = None,
        failures_max_age_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int: ...

    def index_text(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Bring the journal's text index up to date, off the receiving thread; returns how
        many rows it indexed (0 where the engine keeps its indexes in the write itself)."""

    def close(self) -> None: ...


if TYPE_CHECKING:
    from desktop.core.monitor.journal import Journal

    def _sqlite_journal_is_one(journal: Journal) -> JournalWriter:
        return journal  # mypy checks the SQLite journal gives every member
