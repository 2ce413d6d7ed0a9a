"""One connection to a shared history, for a command that reads it (`tasks --history`) or
copies into or out of it (`history export`): checked to be a history this program knows
(HistorySchemaTooNew otherwise), or migrated to it when written; every failure said with the
password masked. The recorder's pool is pg_journal.py's."""

from __future__ import annotations

from typing import Any

from desktop.core.history.pg_schema import (
    SCHEMA_VERSION,
    HistorySchemaTooNew,
    migrate,
    schema_version,
)
from desktop.core.settings import urls

CONNECT_TIMEOUT_S = 10


def said_masked(exc: BaseException, url: str) -> str:
    """psycopg's words for a failure of `url`, with its password never in them: neither as
    meant nor as written (a malformed URL's ProgrammingError quotes the raw token)."""
    text = str(exc).strip() or type(exc).__name__
    text = text.replace(url, urls.mask(url))
    for secret in urls.secrets_of(url):
        text = text.replace(secret, urls.MASK)
    return text


class HistoryUnavailable(Exception):
    """The shared history cannot be reached, or the database holds none."""


def connect(url: str, *, write: bool, purpose: str) -> Any:
    """A psycopg connection in autocommit: migrated to this program's schema when `write`;
    else checked to hold a history of a schema it knows. Raises HistoryUnavailable or
    HistorySchemaTooNew, naming the database with its password masked."""
    import psycopg

    shown = urls.mask(url)
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=f"celery-desk {purpose}",
        )
    except psycopg.Error as exc:  # a malformed URL's ProgrammingError quotes its password
        raise HistoryUnavailable(
            f"cannot use the history {shown}: {said_masked(exc, url)}"
        ) from None
    try:
        if write:
            migrate(conn, shown)
        else:
            found = schema_version(conn)
            if found > SCHEMA_VERSION:
                raise HistorySchemaTooNew(shown, found)
            if found == 0:
                raise HistoryUnavailable(
                    f"{shown} holds no Celery Desk history yet (`celery-desk record --history` "
                    "writes one)"
                )
    except BaseException:
        conn.close()
        raise
    return conn
