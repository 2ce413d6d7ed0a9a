"""The audit log: entries kept in the journal with their parameters redacted, read back newest
first, filtered, and listed by `celery-desk audit`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from desktop.cli import cli
from desktop.core.monitor.audit import FAILED, AuditEntry, AuditSink
from desktop.core.monitor.journal import Journal
from tests.factories import default_profile_journal


def test_entries_are_kept_redacted_and_read_back_newest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        sink = AuditSink(journal, "prod", "window")
        sink.record("worker start", "w1@host", {"queues": ["q1"], "password": "hunter2"})
        sink.record(
            "purge", "emails", {"broker": "redis://:hunter2@host:6379/0"}, outcome=FAILED,
            reply=RuntimeError("refused"),
        )  # fmt: skip
        entries = journal.audit_entries()
        assert [(e.action, e.target, e.outcome, e.profile, e.source) for e in entries] == [
            ("purge", "emails", FAILED, "prod", "window"),
            ("worker start", "w1@host", "ok", "prod", "window"),
        ]
        assert entries[1].params == {"queues": ["q1"], "password": "****"}
        assert "hunter2" not in json.dumps(dict(entries[0].params))
        assert entries[0].reply == "refused" and entries[0].user
        assert [e.action for e in journal.audit_entries(action="purge")] == ["purge"]
        assert journal.audit_entries(since=entries[0].at + 1) == []
        stored = (tmp_path / "j.sqlite3").read_bytes() + b"".join(
            p.read_bytes() for p in tmp_path.glob("j.sqlite3-*")
        )
        assert b"hunter2" not in stored
    finally:
        journal.close()


def test_a_journal_that_refuses_never_fails_the_action(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.close()  # writing to a closed connection raises
    AuditSink(journal, "p", "cli").record("revoke", "t1")


def test_the_audit_command_lists_the_log() -> None:
    journal = default_profile_journal()
    journal.record_audit(AuditEntry("revoke", "abc", {"token": "s3cret"}, profile="embedded"))
    journal.close()
    result = CliRunner().invoke(cli, ["audit", "--json"])
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)
    assert (listed["action"], listed["target"], listed["params"]) == (
        "revoke", "abc", {"token": "****"}
    )  # fmt: skip
    text = CliRunner().invoke(cli, ["audit"]).stdout
    assert "revoke abc" in text and "s3cret" not in text
    assert CliRunner().invoke(cli, ["audit", "--since", "whenever"]).exit_code == 2
