"""The tests' own PostgreSQL server: on a free port (never 5432), a database per test."""

from __future__ import annotations

from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")


def test_each_test_has_a_database_of_its_own(postgres_server: Any, pg_database: str) -> None:
    assert postgres_server.port != 5432
    with psycopg.connect(postgres_server.url(pg_database)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database,)
        port = conn.execute("SELECT current_setting('port')").fetchone()
    assert port == (str(postgres_server.port),)
    with psycopg.connect(postgres_server.url()) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert pg_database in names


def test_a_wrong_password_is_refused(postgres_server: Any) -> None:
    url = postgres_server.url().replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, connect_timeout=5)
