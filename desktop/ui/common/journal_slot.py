"""A screen's own read-only connection to the current profile's history.

Why one per screen: SQLite serialises the statements of one connection, so a screen reading
through the recorder's connection (or another screen's) waits behind its writes and reads; in
WAL a read-only connection of its own never waits for the writer. It is opened off the GUI
thread on first use (opening migrates nothing, but the file may be on a slow disk), and closed
off it when another journal replaces it (a read may still be using it). It hides arguments by
the journal's own names (the profile's), like every read of the journal.

A profile whose history is shared (`Journal.reads_from`, a PostgreSQL URL) is read from there
instead: the screen's reader is a `PgReader` (the same interface, HistoryReader) on the
connections the window's readers of that history share (history/pg_reader_pool.py). A
history that cannot be reached gives no reader (the status bar says why:
shell/history_status.py); the next read tries again.
"""

from __future__ import annotations

import logging
import sqlite3

from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal import Journal
from desktop.core.services import open_reader
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ConfigFileError
from desktop.ui.common.jobs import Jobs

log = logging.getLogger(__name__)


class JournalSlot:
    """The journal a screen shows (the session's, writable) and its own reader of it."""

    def __init__(self, jobs: Jobs, who: str, *, fall_back: bool = True) -> None:
        self.jobs = jobs
        self.who = who  # for the log: which screen fell back on the recorder's connection
        # Without `fall_back`, no reader when the file cannot be opened read-only: for reads
        # that may wait (the views' counts) rather than take turns with the recorder's writes.
        self.fall_back = fall_back
        self.journal: Journal | None = None
        self._reader: HistoryReader | None = None

    def set_journal(self, journal: Journal | None) -> None:
        self.journal = journal
        old, self._reader = self._reader, None
        if old is not None and old is not journal:  # waits for a read still using it
            self.jobs.run(f"close-{id(old)}", Jobs.blocking(old.close))

    @property
    def shared(self) -> bool:
        """The screens read a shared history (PostgreSQL), not the profile's file."""
        return self.journal is not None and self.journal.reads_from is not None

    def marks(self, reader: HistoryReader) -> HistoryReader:
        """Where the panel's own marks (failures resolved) are read: the profile's file, also
        when the history is shared (the panel writes nothing into a shared history, so its
        marks stay its own); else the screen's reader."""
        return self.journal if self.journal is not None and self.shared else reader

    async def reader(self) -> HistoryReader | None:
        """The read-only connection, opened on first use; the journal's own connection if
        the file cannot be opened read-only (unless made without `fall_back`). None while no
        journal is open, when a shared history cannot be reached, or when another journal
        replaced it while this one was opening."""
        journal = self.journal
        if journal is None:
            return None
        stale = (
            self._reader is not None
            and journal.reads_from is None
            and (self._reader.path != journal.path)
        )
        if self._reader is None or stale:
            reader: HistoryReader
            try:
                reader = await Jobs.blocking(open_reader, journal)
            except (ConfigFileError, sqlite3.Error, OSError) as exc:
                if not self.fall_back:
                    log.warning("%s cannot read the journal: %s", self.who, exc)
                    return None
                log.warning("%s reads through the recorder's connection: %s", self.who, exc)
                reader = journal
            except Exception as exc:  # the shared history: HistoryUnavailable, too new
                if journal.reads_from is None:
                    raise
                from desktop.core.history.pg_connect import said_masked

                shown = urls.mask(journal.reads_from)
                why = said_masked(exc, journal.reads_from)
                log.warning("%s cannot read the history %s: %s", self.who, shown, why)
                return None
            if self.journal is not journal:  # another journal meanwhile: not this one's
                if reader is not journal:
                    await Jobs.blocking(reader.close)
                return None
            self._reader = reader
        return self._reader
