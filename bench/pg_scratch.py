"""A PostgreSQL database of a bench run's own, on the server a `--history` URL names: created
under a unique name (`cd_bench_<pid>_<n>`), dropped at the end, whatever happened. The URL's own
database (or, when it does not exist, `postgres`) is used only to issue CREATE and DROP
DATABASE; nothing else on the server is read or written. Shared by bench/journal.py
(`--engine postgresql`) and bench/events.py (`--history`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from desktop.core.settings import urls

_COUNTER = itertools.count()


def with_database(url: str, name: str) -> str:
    """`url` naming the database `name` instead (user, host, port and options kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on `server_url`'s server, dropped on exit."""
    import psycopg

    if not server_url.startswith(("postgresql://", "postgres://")):
        raise SystemExit(f"--history takes a postgresql:// URL, not {urls.mask(server_url)}")
    name = f"cd_bench_{os.getpid()}_{next(_COUNTER)}"
    admin_url = server_url
    try:
        psycopg.connect(admin_url, autocommit=True).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        admin_url = with_database(server_url, "postgres")  # the URL named the one to make
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
