"""A screen's own read-only connection to the current profile's journal.

Why one per screen: SQLite serialises the statements of one connection, so a screen reading
through the recorder's connection (or another screen's) waits behind its writes and reads; in
WAL a read-only connection of its own never waits for the writer. It is opened off the GUI
thread on first use (opening migrates nothing, but the file may be on a slow disk), and closed
off it when another journal replaces it (a read may still be using it). It hides arguments by
the journal's own names (the profile's), like every read of the journal.
"""

from __future__ import annotations

import logging
import sqlite3
from functools import partial

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
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
        self._reader: JournalReader | None = None

    def set_journal(self, journal: Journal | None) -> None:
        self.journal = journal
        old, self._reader = self._reader, None
        if old is not None and old is not journal:  # waits for a read still using it
            self.jobs.run(f"close-{id(old)}", Jobs.blocking(old.close))

    async def reader(self) -> JournalReader | None:
        """The read-only connection, opened on first use; the journal's own connection if
        the file cannot be opened read-only (unless made without `fall_back`). None while no
        journal is open, or when another replaced it while this one was opening."""
        journal = self.journal
        if journal is None:
            return None
        if self._reader is None or self._reader.path != journal.path:
            try:
                reader: JournalReader = await Jobs.blocking(
                    partial(JournalReader, redactor=journal.redactor), journal.path
                )
            except (ConfigFileError, sqlite3.Error, OSError) as exc:
                if not self.fall_back:
                    log.warning("%s cannot read the journal: %s", self.who, exc)
                    return None
                log.warning("%s reads through the recorder's connection: %s", self.who, exc)
                reader = journal
            if self.journal is not journal:  # another journal meanwhile: not this one's
                if reader is not journal:
                    await Jobs.blocking(reader.close)
                return None
            self._reader = reader
        return self._reader
