"""The connections the readers of one shared history share, in one process.

Why shared: a window reads its history from every screen (the Tasks table and its views'
counts, Failures, the Overview, Beat, Audit) and from its live feed, each with a `PgReader`
of its own; one connection each made a window hold eight, and a team's twenty windows would
pass PostgreSQL's default of 100 connections. The readers of one URL share a pool of at most
POOL_MAX connections instead (reads side by side, as before, up to that many), shrinking to one
while idle (IDLE_S). The pool is made with the first reader (the history checked first: one
this program can read, HistorySchemaTooNew otherwise) and closed with the last.
"""

from __future__ import annotations

import threading
from typing import Any

from desktop.core.history.pg_connect import (
    CONNECT_TIMEOUT_S,
    HistoryUnavailable,
    connect,
    said_masked,
)
from desktop.core.settings import urls

POOL_MAX = 4
IDLE_S = 60.0

_lock = threading.Lock()
_pools: dict[str, tuple[Any, int]] = {}  # url -> (pool, readers using it)


def acquire(url: str) -> Any:
    """The pool of `url`'s readers, made (and the history checked) by the first one: raises
    HistoryUnavailable or HistorySchemaTooNew, the password masked."""
    with _lock:
        found = _pools.get(url)
        if found is not None:
            _pools[url] = (found[0], found[1] + 1)
            return found[0]
    made = _open(url)
    with _lock:
        found = _pools.get(url)
        if found is None:
            _pools[url] = (made, 1)
            return made
        _pools[url] = (found[0], found[1] + 1)
    made.close()  # another reader made one meanwhile
    return found[0]


def release(url: str) -> None:
    """A reader is done with `url`'s pool: the last one closes it."""
    with _lock:
        pool, users = _pools.get(url, (None, 0))
        if pool is None:
            return
        if users > 1:
            _pools[url] = (pool, users - 1)
            return
        del _pools[url]
    pool.close()


def _open(url: str) -> Any:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout

    connect(url, write=False, purpose="reader").close()  # a history it can read
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=POOL_MAX,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "celery-desk reader",
        },
        open=False,
        max_idle=IDLE_S,
        name="celery-desk-readers",
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except (PoolTimeout, psycopg.Error) as exc:
        pool.close()
        raise HistoryUnavailable(
            f"cannot use the history {urls.mask(url)}: {said_masked(exc, url)}"
        ) from None
    return pool
