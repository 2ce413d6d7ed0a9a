"""What the screens read of a task history: the one interface both engines give, the SQLite
journal's `JournalReader` (the default) and the shared history's `PgReader` on PostgreSQL
(desktop/core/history/pg_reader.py).

It lives here for the reason JournalWriter does: the history package stands above this one in
the layers, and the screens and this package's readers (failures, beat runs, argument reveal)
take a reader of either engine. Every call blocks (a screen runs it off the GUI thread), hands
out arguments redacted by `redactor` unless asked `real`, and gives the same rows in the same
order on either engine (tests/integration/test_pg_reader_screens.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.audit import AuditEntry
from desktop.core.monitor.journal_schema import Gap
from desktop.core.monitor.task_query import Condition, TaskQuery


class HistoryReader(Protocol):
    """A task history read by the screens. `interrupt()` (from any thread, never waiting)
    stops the statement running now; the interrupted call raises sqlite3.OperationalError
    ("interrupted") on either engine, so a caller retries it the same way."""

    @property
    def path(self) -> object:
        """Where it is, as it may be shown: a file, or a URL with its password masked."""

    @property
    def redactor(self) -> ArgumentRedactor: ...

    def close(self) -> None: ...

    def interrupt(self) -> None: ...

    def count(self, query: TaskQuery | None = None) -> int: ...

    def page(
        self,
        query: TaskQuery | None = None,
        offset: int = 0,
        limit: int = 200,
        *,
        after: tuple[Any, str] | None = None,
    ) -> list[TaskRecord]: ...

    def get(self, task_id: str, *, real: bool = False) -> TaskRecord | None: ...

    def rows(self, task_ids: Iterable[str], *, real: bool = False) -> dict[str, TaskRecord]: ...

    def timeline(self, task_id: str, *, real: bool = False) -> list[dict[str, Any]]: ...

    def children(self, task_id: str, limit: int = 100) -> list[str]: ...

    def choices(self) -> dict[str, set[str]]: ...

    def recent_runtimes(self, limit: int) -> Iterator[tuple[str, float]]: ...

    def runs_of(self, name: str, since: float, limit: int) -> list[TaskRecord]: ...

    def changed_since(self, names: Iterable[str], updated: float) -> list[TaskRecord]: ...

    def first_heard(self) -> float | None: ...

    def last_write(self) -> float | None: ...

    def gaps(self, limit: int = 100) -> list[Gap]: ...

    def failed_rows(
        self,
        since: float | None = None,
        states: Sequence[str] = ("FAILURE",),
        search: Condition | None = None,
        newest: int | None = None,
    ) -> list[dict[str, Any]]: ...

    def resolved_failures(self) -> dict[str, float]: ...

    def retried_as(self, task_ids: Iterable[str]) -> dict[str, list[str]]: ...

    def audit_entries(
        self, limit: int = 500, since: float | None = None, action: str | None = None
    ) -> list[AuditEntry]: ...


if TYPE_CHECKING:
    from desktop.core.monitor.journal_reader import JournalReader

    def _sqlite_reader_is_one(reader: JournalReader) -> HistoryReader:
        return reader  # mypy checks the SQLite reader gives every member
