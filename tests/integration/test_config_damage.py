"""Damaged configuration, each cause through the real command line (issue 13, defect 10):
one line on stderr naming the file and what is wrong, a non-zero exit, no traceback, and
nothing written over."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from desktop.cli import cli
from desktop.core.monitor.journal_schema import SCHEMA
from desktop.core.services import Services
from desktop.core.settings.paths import Paths
from tests.factories import default_profile_journal


def desk(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


def assert_refused(result: Result, named: str, *, says: str = "") -> None:
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code not in (0, None), output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert named in result.stderr, result.stderr
    assert says in result.stderr, result.stderr


PROFILES_DAMAGE = {
    "not utf-8": (b'active = "a"\n\xff\xfe\n', "not UTF-8"),
    "not toml": (b"[[profiles]\nname = 'a'\n", "not valid TOML"),
    "unknown key": (b'[[profiles]]\nname = "a"\nport = "x"\n', "port"),
    "queues a number": (b'[[profiles]]\nname = "a"\nqueues = 5\n', "queues"),
    "a profile that is text": (b'profiles = ["a"]\n', "not a table"),
    "profiles that is text": (b'profiles = "a"\n', "'profiles' must be"),
    "url a number": (b'[[profiles]]\nname = "a"\nbroker_url = 5\n', "broker_url"),
    "bad ipv6 url": (
        b'[[profiles]]\nname = "a"\nbroker_url = "redis://[::1/0"\nresult_backend = ""\n',
        "IPv6",
    ),
    "transport of the wrong type": (
        b'[[profiles]]\nname = "a"\n[profiles.transport]\nvisibility_timeout = "x"\n',
        "visibility_timeout",
    ),
    "queue entry of the wrong type": (
        b'[[profiles]]\nname = "a"\n[[profiles.queues]]\nname = 1\n',
        "queues[0].name",
    ),
    "active a number": (b"active = 5\n", "'active'"),
}


@pytest.mark.parametrize("case", sorted(PROFILES_DAMAGE))
def test_a_damaged_profiles_file_is_named_and_never_written_over(
    case: str, isolated_config: Paths
) -> None:
    content, says = PROFILES_DAMAGE[case]
    isolated_config.ensure()
    isolated_config.profiles_file.write_bytes(content)
    for args in (("profile", "list"), ("tasks",), ("worker", "list")):
        assert_refused(desk(*args), "profiles.toml", says=says)
    added = desk("profile", "add", "new", "--broker", "redis://h/0", "--no-from-app")
    assert_refused(added, "profiles.toml", says=says)
    assert isolated_config.profiles_file.read_bytes() == content


def test_a_bad_url_on_the_command_line_is_refused_by_its_option() -> None:
    assert_refused(desk("tasks", "--broker", "redis://[::1/0"), "--broker", says="IPv6")
    result = desk("tasks", "--backend", "redis://u:qz/xk@h:1/0")
    assert_refused(result, "--backend", says="port is not a number")
    assert "qz" not in result.stderr and "xk" not in result.stderr
    result = desk("profile", "add", "x", "--broker", "redis://[::1/0", "--no-from-app")
    assert_refused(result, "broker_url", says="IPv6")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "one JSON object"),
        (b'{"profile/x/broker_url": 5}', "is not text"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_a_damaged_secrets_file_is_named_and_never_written_over(
    content: bytes, says: str, isolated_config: Paths
) -> None:
    isolated_config.ensure()
    isolated_config.secrets_file.write_bytes(content)
    result = desk("profile", "add", "x", "--broker", "redis://u:pw@h/0", "--no-from-app")
    assert_refused(result, "secrets.json", says=says)
    assert_refused(desk("broker", "start"), "secrets.json", says=says)
    assert isolated_config.secrets_file.read_bytes() == content
    assert not isolated_config.profiles_file.exists()


def test_a_failing_keyring_backend_is_named() -> None:
    """keyring's own `fail` backend raises on every call, as a locked or absent one does."""
    env = {
        "CELERY_DESK_SECRETS": "keyring",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    result = desk("profile", "add", "x", "--broker", "redis://u:pw@h/0", "--no-from-app", env=env)
    assert_refused(result, "keyring", says="cannot store a password")
    assert_refused(desk("broker", "start", env=env), "keyring", says="cannot read a password")


@pytest.mark.parametrize(
    ("content", "says"),
    [(os.urandom(4096), "not a database"), (b"", "no such table")],
)
def test_a_corrupt_journal_is_named_by_tasks(content: bytes, says: str) -> None:
    services = Services.open()
    path = services.journal_path(services.profiles.get("embedded"))
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert_refused(desk("tasks"), str(path), says=says)
    assert path.read_bytes() == content


def test_a_corrupt_journal_is_named_by_record() -> None:
    """The writer refuses it too; the app is not importable and nothing answers on port 9,
    so the journal is what is met first."""
    services = Services.open()
    path = services.journal_path(services.profiles.builtin()).with_name("command-line.sqlite3")
    path.parent.mkdir(parents=True)
    content = os.urandom(4096)
    path.write_bytes(content)
    result = desk("record", "--broker", "redis://127.0.0.1:9/0", "--app", "no_such_app_module")
    assert_refused(result, str(path), says="not a database")
    assert path.read_bytes() == content


# -- read-only directories: a real read-only file system (a bind mount) ------------------------
def _read_only_run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`celery-desk ARGS` with `directory` mounted read-only (root in a private mount
    namespace); an unprivileged run makes it read-only by its mode instead."""
    command = [sys.executable, "-m", "desktop", *args]
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        finally:
            directory.chmod(0o700)
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a read-only directory")
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "-", str(directory), "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode()[:200]}")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "-", str(directory), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], named: str, says: str) -> None:
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert named in done.stderr and says in done.stderr, done.stderr


def test_read_only_config_and_data_directories(isolated_config: Paths) -> None:
    journal = default_profile_journal()
    journal.record_submitted("task-on-a-read-only-disk", "demo.add")
    journal.close()
    before = isolated_config.profiles_file.read_bytes()

    added = _read_only_run(
        isolated_config.config_dir,
        "profile",
        "add",
        "x",
        "--broker",
        "redis://h/0",
        "--no-from-app",
    )
    _refused(added, "profiles.toml", "cannot write it")
    assert isolated_config.profiles_file.read_bytes() == before
    # Only reading is asked: a journal on a read-only disk is read.
    listed = _read_only_run(isolated_config.data_dir, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "task-on-a-read-only-disk" in listed.stdout
    recorded = _read_only_run(
        isolated_config.data_dir, "record", "--broker", "redis://127.0.0.1:9/0", "--app", "x_y_z"
    )
    _refused(recorded, "command-line", "read-only")
    started = _read_only_run(isolated_config.data_dir, "broker", "start")
    _refused(started, "embedded-redis", "Read-only file system")


def test_gaps_read_a_journal_of_schema_1_on_a_read_only_disk(isolated_config: Paths) -> None:
    services = Services.open()
    services.profiles.save(services.profiles.builtin())
    path = services.journal_path(services.profiles.get("embedded"))
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)  # as a recorder before gaps existed left it
    db.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS gaps")[0])
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.commit()
    db.close()
    before = path.read_bytes()
    listed = _read_only_run(isolated_config.data_dir, "gaps", "--json")
    assert listed.returncode == 0, listed.stderr  # before: opened for writing, refused
    assert json.loads(listed.stdout) == []  # no gaps table yet: none, never an error
    assert path.read_bytes() == before  # not migrated by a command that only reads


def test_a_config_directory_that_cannot_be_made_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    config = parent / "celery-desk"
    monkeypatch.setenv("CELERY_DESK_CONFIG_DIR", str(config))
    done = _read_only_run(parent, "profile", "list")
    _refused(done, str(config), "cannot create the directory")


def test_profile_add_keeps_the_comments_and_layout_of_profiles_toml(isolated_config: Paths) -> None:
    isolated_config.ensure()
    written = (
        "# Our team's brokers: ask ops before changing.\n"
        'active = "embedded"\n\n'
        "[[profiles]]\n"
        'name = "staging"  # the shared one\n'
        'broker_url = "redis://staging.example:6379/0"\n'
        'result_backend = ""\n'
    )
    isolated_config.profiles_file.write_text(written, encoding="utf-8")
    assert desk("profile", "add", "new", "--broker", "redis://h/0", "--no-from-app").exit_code == 0
    text = isolated_config.profiles_file.read_text(encoding="utf-8")
    assert text.startswith("# Our team's brokers: ask ops before changing.\n")
    assert 'name = "staging"  # the shared one' in text
    assert {p.name for p in Services.open().profiles.load()} == {"embedded", "staging", "new"}
