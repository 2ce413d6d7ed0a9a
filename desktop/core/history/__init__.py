"""The shared history: the journal on PostgreSQL (psycopg 3 and its pool), for a team's
recorder on a server and many panels reading one history (issue 20).

`PgJournal` (pg_journal.py) is a journal a recorder writes, the same interface as the SQLite
`Journal` (monitor/journal_writer.JournalWriter): the same tables' concepts, idempotent batch
upserts (several recorders write the same events once, a finished state is never
overwritten), versioned migrations (pg_schema.py) and retention in chunks by one recorder at
a time (pg_retention.py). The SQLite journal stays the default (`sqlite`). `PgReader`
(pg_reader.py) reads it back as the screens read the SQLite journal (HistoryReader), its
readers of one history sharing a pool (pg_reader_pool.py); each batch
is announced to readers by one notification and each recorder keeps a row saying it is alive
(pg_presence.py), which a panel's listener hears (pg_listen.py); export.py moves a history
between SQLite, PostgreSQL and JSON lines (`celery-desk history export`).
"""
