"""Failures grouped by cause: the fingerprint's rules, groups read from a real journal, and
`celery-desk failures`."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from desktop.cli import cli
from desktop.core.monitor.failures import (
    NO_EXCEPTION,
    exception_type,
    failure_groups,
    fingerprint,
)
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.search_time import time_start
from tests.factories import default_profile_journal, task_row

NOW = datetime(2026, 11, 29, 12, 0).timestamp()


# -- the fingerprint -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ValueError('bad input 42')", "ValueError('bad input <n>')"),
        ("ValueError('ratio -3.25 and 1e-9')", "ValueError('ratio -<n> and <n>')"),
        ("MemoryError('at 0x7f3a2c')", "MemoryError('at <n>')"),
        (
            "ConnectionError('Error 111 connecting to 10.0.0.5:6379. Connection refused.')",
            "ConnectionError('Error <n> connecting to <addr>. Connection refused.')",
        ),
        ("OSError('no route to fe80::1ff:fe23:4567:890a')", "OSError('no route to <addr>')"),
        ("OSError('refused by [2001:db8::1]:5672')", "OSError('refused by <addr>')"),
        (
            "KeyError('user-8f14e45f-ceea-467f-a0e6-1c2b3d4e5f60')",
            "KeyError('user-<uuid>')",
        ),
        ("LookupError('no object deadbeef42 in store')", "LookupError('no object <hex> in store')"),
        ("KeyError('order_20261129')", "KeyError('<id>')"),
        ("KeyError('12345')", "KeyError('<n>')"),
        (
            "FileNotFoundError(2, 'No such file or directory')",
            "FileNotFoundError(<n>, 'No such file or directory')",
        ),
        (
            "OSError: [Errno 28] No space left on device: '/var/tmp/x/1234.tmp'",
            "OSError: [Errno <n>] No space left on device: '<path>'",
        ),
        ("PermissionError('C:\\\\data\\\\in.csv')", "PermissionError('<path>')"),
        (
            "HTTPError('502 from https://api.example.com/v1/items?id=9')",
            "HTTPError('<n> from <url>')",
        ),
        ("ValueError('a\n  b\t\tc')", "ValueError('a b c')"),
        ("Http404('item42 missing')", "Http404('item42 missing')"),
        ("KeyError", "KeyError"),
        (None, NO_EXCEPTION),
        ("", NO_EXCEPTION),
        ("   ", NO_EXCEPTION),
    ],
)
def test_fingerprint_replaces_what_varies(text: str | None, expected: str) -> None:
    assert fingerprint(text) == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ValueError('bad input 42')", "ValueError('bad input 7')"),
        ("ConnectionError('to 10.0.0.5:6379')", "ConnectionError('to 192.168.1.20:16379')"),
        (
            f"KeyError('{uuid.uuid4()}')",
            f"KeyError('{uuid.uuid4()}')",
        ),
        (
            "OSError: [Errno 28] No space left on device: '/var/tmp/x/1234.tmp'",
            "OSError: [Errno 28] No space left on device: '/srv/spool/99.tmp'",
        ),
        ("TimeoutError('after 3.5 s')", "TimeoutError('after   12 s')"),
    ],
)
def test_messages_differing_only_in_what_varies_group_together(one: str, other: str) -> None:
    assert fingerprint(one) == fingerprint(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ValueError('bad input 42')", "TypeError('bad input 42')"),
        ("ValueError('bad input 42')", "ValueError('bad output 42')"),
        ("KeyError('user')", "KeyError('group')"),
    ],
)
def test_different_types_or_words_do_not(one: str, other: str) -> None:
    assert fingerprint(one) != fingerprint(other)


def test_the_exception_type_is_read_from_the_start() -> None:
    assert exception_type("ValueError('x')") == "ValueError"
    assert exception_type("OSError: [Errno 28] full") == "OSError"
    assert exception_type("celery.exceptions.TimeLimitExceeded(60,)") == (
        "celery.exceptions.TimeLimitExceeded"
    )
    assert exception_type("KeyError") == "KeyError"
    assert exception_type("something broke") == ""
    assert exception_type(None) == ""


# -- groups read from a journal -----------------------------------------------------------------
CAUSES = {
    "value": (120, "proj.parse"),
    "connection": (50, "proj.fetch"),
    "key": (30, "proj.lookup"),
}


def _failures() -> list[object]:
    """200 failed tasks of three causes (the newest of each at a known time), plus successes
    and retries that are not failures unless asked for."""
    rows: list[object] = []
    for i in range(120):  # ValueError: two task names, every 4th on proj.clean
        rows.append(
            task_row(
                f"v{i:03d}",
                name="proj.clean" if i % 4 == 0 else "proj.parse",
                state="FAILURE",
                exception=f"ValueError('bad input {i * 7}')",
                worker=f"w{i % 2}@h",
                routing_key="celery",
                finished=NOW - 10_000 + i,
                updated=NOW - 10_000 + i,
            )
        )
    for i in range(50):  # ConnectionError: finished unknown, so `updated` is its time
        rows.append(
            task_row(
                f"c{i:03d}",
                name="proj.fetch",
                state="FAILURE",
                exception=f"ConnectionError('Error 111 connecting to 10.0.{i}.5:{6000 + i}. "
                "Connection refused.')",
                worker="w2@h",
                routing_key="io",
                updated=NOW - 5_000 + i * 10,
            )
        )
    for i in range(30):
        rows.append(
            task_row(
                f"k{i:03d}",
                name="proj.lookup",
                state="FAILURE",
                exception=f"KeyError('{uuid.UUID(int=i)}')",
                worker="w0@h",
                finished=NOW - 20_000 + i * 100,
                updated=NOW,
            )
        )
    for i in range(40):
        rows.append(task_row(f"s{i:03d}", name="proj.parse", state="SUCCESS", finished=NOW))
    for i in range(5):
        rows.append(
            task_row(
                f"r{i:03d}",
                name="proj.fetch",
                state="RETRY",
                exception=f"ConnectionError('Error 111 connecting to 10.1.1.{i}:6379. "
                "Connection refused.')",
                updated=NOW - 1,
            )
        )
    return rows


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.sqlite3")
    j.write(_failures(), [])  # type: ignore[arg-type]
    with sqlite3.connect(tmp_path / "j.sqlite3") as db:  # a queue the panel recorded
        db.execute("UPDATE tasks SET queue = 'lookups' WHERE id LIKE 'k%'")
    db.close()
    yield j
    j.close()


def test_two_hundred_failures_make_three_groups(journal: Journal) -> None:
    groups = failure_groups(journal, None)
    assert [(g.exception_type, g.count) for g in groups] == [
        ("ValueError", 120),
        ("ConnectionError", 50),
        ("KeyError", 30),
    ]
    value, connection, key = groups
    assert value.fingerprint == "ValueError('bad input <n>')"
    assert (value.first, value.last) == (NOW - 10_000, NOW - 10_000 + 119)
    assert value.task_names == ("proj.clean", "proj.parse")
    assert value.by_name == (("proj.parse", 90), ("proj.clean", 30))
    assert value.workers == ("w0@h", "w1@h")
    assert value.queues == ("celery",)
    assert value.example_id == "v119" and value.example_exception == "ValueError('bad input 833')"
    assert value.ids[0] == "v119" and value.ids[-1] == "v000" and len(set(value.ids)) == 120
    assert connection.fingerprint == (
        "ConnectionError('Error <n> connecting to <addr>. Connection refused.')"
    )
    assert (connection.first, connection.last) == (NOW - 5_000, NOW - 5_000 + 490)
    assert connection.example_id == "c049" and connection.queues == ("io",)
    assert key.fingerprint == "KeyError('<uuid>')"
    assert (key.first, key.last) == (NOW - 20_000, NOW - 20_000 + 2_900)  # finished, not updated
    assert key.queues == ("lookups",) and key.workers == ("w0@h",)
    assert key.example_id in key.ids and all(i.startswith("k") for i in key.ids)


def test_since_leaves_out_older_failures(journal: Journal) -> None:
    groups = failure_groups(journal, NOW - 10_000 + 100)
    assert [(g.exception_type, g.count) for g in groups] == [
        ("ConnectionError", 50),
        ("ValueError", 20),
    ]
    assert groups[1].first == NOW - 10_000 + 100


def test_newest_groups_only_the_most_recent_failures(journal: Journal) -> None:
    """The Overview's glance: the newest 60 of 200 are the 50 connection errors and the last
    10 bad inputs; the key errors, older, are not read at all."""
    groups = failure_groups(journal, None, newest=60)
    assert [(g.exception_type, g.count) for g in groups] == [
        ("ConnectionError", 50),
        ("ValueError", 10),
    ]
    assert groups[1].first == NOW - 10_000 + 110


def test_retries_and_revoked_count_only_when_asked(journal: Journal) -> None:
    groups = failure_groups(journal, None, states=("FAILURE", "RETRY"))
    connection = next(g for g in groups if g.exception_type == "ConnectionError")
    assert connection.count == 55 and connection.example_id.startswith("r")
    assert [g.count for g in failure_groups(journal, None, states=("RETRY",))] == [5]
    with pytest.raises(ValueError, match="SUCCESS"):
        failure_groups(journal, None, states=("SUCCESS",))


def test_a_plain_connection_reads_the_same_groups(journal: Journal, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "j.sqlite3")
    try:
        assert failure_groups(db, None) == failure_groups(journal, None)
    finally:
        db.close()


def test_only_the_needed_columns_are_read(journal: Journal) -> None:
    row = journal.failed_rows(None)[0]
    assert set(row) == {"id", "name", "worker", "queue", "routing_key", "exception", "at"}


def test_since_reads_relative_times_and_dates() -> None:
    assert time_start("1h", now=NOW) == NOW - 3600
    assert time_start("-30m", now=NOW) == NOW - 1800
    assert time_start("2d", now=NOW) == NOW - 2 * 86400
    assert time_start("2026-11-29T10:00", now=NOW) == datetime(2026, 11, 29, 10, 0).timestamp()
    with pytest.raises(ValueError, match="not a time"):
        time_start("soon", now=NOW)


# -- the command line ---------------------------------------------------------------------------
def test_failures_json_lists_the_groups() -> None:
    journal = default_profile_journal()
    journal.write(_failures(), [])  # type: ignore[arg-type]
    journal.close()
    result = CliRunner().invoke(cli, ["failures", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(g["fingerprint"].split("(")[0], g["count"]) for g in listed] == [
        ("ValueError", 120),
        ("ConnectionError", 50),
        ("KeyError", 30),
    ]
    assert set(listed[0]) == {
        "fingerprint", "exception", "count", "first", "last", "task_names", "workers",
        "queues", "example_id", "by_name",
    }  # fmt: skip
    assert listed[0]["by_name"] == [
        {"name": "proj.parse", "count": 90},
        {"name": "proj.clean", "count": 30},
    ]
    result = CliRunner().invoke(cli, ["failures", "--state", "retry", "--state", "failure"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "120" and lines[1].split()[0] == "55"
    assert lines[0].rstrip().endswith("proj.clean, proj.parse")


def test_failures_narrowed_by_a_query_and_resolved_causes_left_out_until_all() -> None:
    journal = default_profile_journal()
    journal.write(_failures(), [])  # type: ignore[arg-type]
    keyerror = next(g for g in failure_groups(journal) if g.exception_type == "KeyError")
    journal.resolve_failure(keyerror.fingerprint, at=keyerror.last)
    journal.close()
    result = CliRunner().invoke(cli, ["failures", "--json", "--query", "name:proj.clean"])
    assert result.exit_code == 0, result.output
    assert [g["count"] for g in json.loads(result.stdout)] == [30]
    result = CliRunner().invoke(cli, ["failures", "--json"])
    assert [g["fingerprint"].split("(")[0] for g in json.loads(result.stdout)] == [
        "ValueError",
        "ConnectionError",
    ]
    assert "1 cause(s) marked resolved left out" in result.stderr
    result = CliRunner().invoke(cli, ["failures", "--json", "--all"])
    assert len(json.loads(result.stdout)) == 3
    result = CliRunner().invoke(cli, ["failures", "--query", "runtime>"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --query:")


def test_a_bad_since_exits_2_saying_what_it_reads() -> None:
    result = CliRunner().invoke(cli, ["failures", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --since: 'last tuesday' is not a time")
    assert "Traceback" not in result.output


def test_the_docstring_examples_hold() -> None:
    import doctest

    from desktop.core.monitor import failures

    assert doctest.testmod(failures).failed == 0
