"""Each profile keeps its own journal and worker directory (issue 13, defect 9)."""

from __future__ import annotations

import logging

import pytest

from desktop.core.local.supervisor import all_supervisors
from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.core.settings.paths import legacy_profile_key, profile_key
from desktop.core.settings.profile_model import Profile

NAMES = ["team a", "team@a", "team_a", "team(a)", "Team a", "TEAM_A", "team  a", "team-a", "a.b"]


def test_names_that_differ_never_share_a_journal_or_worker_directory() -> None:
    services = Services.open()
    journals = {services.journal_path(Profile(name=n)) for n in NAMES}
    workers = {services.workers_dir(Profile(name=n)) for n in NAMES}
    assert len(journals) == len(NAMES)
    assert len(workers) == len(NAMES)
    # Not even on a file system blind to case.
    assert len({profile_key(n).lower() for n in NAMES}) == len(NAMES)


def test_a_safe_name_keeps_its_path_and_every_key_is_stable_and_a_plain_file_name() -> None:
    for name in ("embedded", "prod", "team_a", "a.b-c", "command-line"):
        assert profile_key(name) == name
    for name in NAMES:
        key = profile_key(name)
        assert key == profile_key(name)
        assert "/" not in key and " " not in key and key not in (".", "..")
    assert profile_key("team a").startswith("team_a+")


def _old_journal(services: Services, name: str) -> Journal:
    """A journal where an earlier version kept it, with one task in it."""
    path = services.paths.data_dir / "journals" / f"{legacy_profile_key(name)}.sqlite3"
    journal = Journal(path)
    journal.record_submitted("t-old", "old.task")
    return journal


def test_an_existing_install_keeps_its_history_when_its_legacy_name_is_not_shared() -> None:
    services = Services.open()
    services.profiles.save(Profile(name="Team A"), create=True)
    _old_journal(services, "Team A").close()
    journal = Journal(services.journal_path(services.profiles.get("Team A")))
    assert journal.get("t-old") is not None
    journal.close()
    # The choice sticks: a profile added later that shares the old key does not take it over.
    services.profiles.save(Profile(name="Team@A"), create=True)
    again = services.journal_path(services.profiles.get("Team A"))
    assert again.name == "Team_A.sqlite3"
    other = Journal(services.journal_path(services.profiles.get("Team@A")))
    assert other.get("t-old") is None
    other.close()


def test_a_shared_legacy_journal_is_left_alone_and_said(caplog: pytest.LogCaptureFixture) -> None:
    services = Services.open()
    for name in ("team a", "team@a"):
        services.profiles.save(Profile(name=name), create=True)
    _old_journal(services, "team a").close()
    with caplog.at_level(logging.WARNING):
        paths = [services.journal_path(services.profiles.get(n)) for n in ("team a", "team@a")]
    assert paths[0] != paths[1]
    assert all(p.name != "team_a.sqlite3" for p in paths)
    assert "left as it is" in caplog.text
    assert (services.paths.data_dir / "journals" / "team_a.sqlite3").exists()


def test_legacy_worker_directory_is_used_when_not_shared() -> None:
    services = Services.open()
    services.profiles.save(Profile(name="ops team"), create=True)
    legacy = services.paths.data_dir / "workers" / "ops_team"
    legacy.mkdir(parents=True)
    assert services.workers_dir(services.profiles.get("ops team")) == legacy.resolve()


def test_a_taken_over_worker_directory_is_listed_once_for_quit() -> None:
    """The legacy directory and the link at the new name are one directory: quit counts (and
    stops) its workers once."""
    services = Services.open()
    services.profiles.save(Profile(name="ops team"), create=True)
    root = services.paths.data_dir / "workers"
    legacy = root / "ops_team"
    legacy.mkdir(parents=True)
    services.workers_dir(services.profiles.get("ops team"))
    assert (root / profile_key("ops team")).is_symlink()  # the layout an upgrade leaves
    (root / "other").mkdir()
    listed = [s.directory for s in all_supervisors(root)]
    assert listed == [legacy, root / "other"]
