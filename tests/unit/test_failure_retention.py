"""Failed tasks are kept by their own rule (Journal.prune), on a real SQLite journal, and the
rule is a profile setting stored in profiles.toml."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from desktop.core.monitor.journal import _FAILED_SQL, Journal
from desktop.core.monitor.journal_reader import FAILED_STATES
from desktop.core.settings.config_errors import ConfigFileError
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile
from desktop.core.settings.profiles import ProfileStore
from desktop.core.settings.secret_store import FileSecretStore
from tests.factories import task_row

DAY = 86400.0


def _journal(tmp_path: Path, ages_by_state: dict[str, list[float]]) -> Journal:
    """A journal whose tasks `STATE-i` were last updated `age` seconds ago."""
    journal = Journal(tmp_path / "j.sqlite3")
    now = time.time()
    journal.write(
        [
            task_row(f"{state}-{i}", name="x", state=state, updated=now - age)
            for state, ages in ages_by_state.items()
            for i, age in enumerate(ages)
        ],
        [],
    )
    return journal


def _ids(journal: Journal) -> set[str]:
    return {row[0] for row in journal._db.execute("SELECT id FROM tasks")}


def test_failures_past_the_task_limit_are_kept_for_their_days(tmp_path: Path) -> None:
    journal = _journal(
        tmp_path,
        {
            # older than every success: the task limit alone would drop them first
            "FAILURE": [10 * DAY, 29 * DAY, 31 * DAY],
            "REVOKED": [20 * DAY],
            "SUCCESS": [100.0 + i for i in range(10)],
        },
    )
    removed = journal.prune(5, failures_kept=100, failures_max_age_s=30 * DAY)
    ids = _ids(journal)
    assert {"FAILURE-0", "FAILURE-1", "REVOKED-0"} <= ids  # younger than 30 days: kept
    assert "FAILURE-2" not in ids  # 31 days: past its own age
    assert sorted(i for i in ids if i.startswith("SUCCESS")) == [f"SUCCESS-{i}" for i in range(5)]
    assert removed == 1 + 5
    journal.close()


def test_failures_past_their_own_count_go_oldest_first(tmp_path: Path) -> None:
    journal = _journal(tmp_path, {"FAILURE": [DAY * i for i in range(1, 7)], "SUCCESS": [1.0]})
    assert journal.prune(10, failures_kept=4, failures_max_age_s=30 * DAY) == 2
    assert _ids(journal) == {"SUCCESS-0", *(f"FAILURE-{i}" for i in range(4))}
    journal.close()


def test_others_pruned_as_before_by_age_and_count(tmp_path: Path) -> None:
    journal = _journal(tmp_path, {"SUCCESS": [10.0 * i for i in range(1, 11)], "STARTED": [5000.0]})
    # by age: STARTED-0 (5000 s) and the successes older than 75 s go
    assert journal.prune(100, 75.0, failures_kept=10, failures_max_age_s=DAY) == 1 + 3
    assert journal.prune(4, failures_kept=10, failures_max_age_s=DAY) == 3
    assert _ids(journal) == {f"SUCCESS-{i}" for i in range(4)}
    journal.close()


def test_without_a_failure_rule_failures_count_with_the_others(tmp_path: Path) -> None:
    journal = _journal(tmp_path, {"FAILURE": [DAY], "SUCCESS": [1.0, 2.0]})
    assert journal.prune(2) == 1
    assert _ids(journal) == {"SUCCESS-0", "SUCCESS-1"}
    journal.close()


def test_pruning_reads_indexes_never_the_whole_table(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    failed = f"state IN ({_FAILED_SQL})"
    statements = [
        f"DELETE FROM tasks WHERE updated < 1 AND NOT {failed}",
        f"DELETE FROM tasks WHERE updated < 1 AND {failed}",
        f"SELECT count(*) FROM tasks WHERE {failed}",
        f"SELECT id FROM tasks WHERE NOT {failed} ORDER BY updated ASC LIMIT 1",
    ]
    for sql in statements:
        plan = " / ".join(r[3] for r in journal._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "INDEX" in plan, (sql, plan)
        assert "SCAN tasks" not in plan or "USING INDEX tasks_updated" in plan, (sql, plan)
    assert set(FAILED_STATES) == {s.strip("'") for s in _FAILED_SQL.split(", ")}
    journal.close()


@pytest.fixture
def store(isolated_config: Paths) -> ProfileStore:
    isolated_config.ensure()
    return ProfileStore(isolated_config, FileSecretStore(isolated_config.secrets_file))


def test_failure_retention_is_stored_with_the_profile(store: ProfileStore) -> None:
    assert store.builtin().failure_retention_days == 30
    assert store.builtin().failure_retention_tasks == 100_000
    store.save(Profile(name="p", failure_retention_tasks=500, failure_retention_days=7))
    text = store.paths.profiles_file.read_text()
    assert "failure_retention_days = 7" in text and "failure_retention_tasks = 500" in text
    again = store.get("p")
    assert (again.failure_retention_tasks, again.failure_retention_days) == (500, 7)


def test_a_hand_broken_failure_retention_is_refused_by_name(store: ProfileStore) -> None:
    store.paths.profiles_file.write_text(
        '[[profiles]]\nname = "p"\nfailure_retention_days = "a month"\n'
    )
    with pytest.raises(ConfigFileError, match="failure_retention_days: must be a whole number"):
        store.load()
    store.paths.profiles_file.write_text('[[profiles]]\nname = "p"\nfailure_retention_tasks = 0\n')
    with pytest.raises(ConfigFileError, match="failure_retention_tasks"):
        store.load()


def test_profile_add_takes_the_failure_retention(store: ProfileStore) -> None:
    from click.testing import CliRunner

    from desktop.cli.base import cli

    result = CliRunner().invoke(
        cli,
        ["profile", "add", "kept", "--broker", "redis://127.0.0.1:6379/0", "--no-from-app",
         "--failure-retention-tasks", "5000", "--failure-retention-days", "90"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kept = store.get("kept")
    assert (kept.failure_retention_tasks, kept.failure_retention_days) == (5000, 90)
    refused = CliRunner().invoke(
        cli,
        ["profile", "add", "none", "--broker", "redis://127.0.0.1:6379/0", "--no-from-app",
         "--failure-retention-days", "0"],
    )  # fmt: skip
    assert refused.exit_code == 2 and "Days failed tasks are kept" in refused.output
