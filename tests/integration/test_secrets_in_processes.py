"""A real worker started by `celery-desk worker start` on the embedded Redis (which requires a
password): no process on the machine carries the password in its argv, and neither its log nor
its record does; and the real window on that profile shows it in no widget."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile
from tests.desk_cli import celery_desk
from tests.integration.worker_process import REPO_ROOT

pytestmark = pytest.mark.slow


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return celery_desk(*args, timeout=timeout)


def _every_argv() -> Iterator[tuple[int, bytes]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue


@pytest.fixture
def guarded(embedded_redis: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """A saved profile on the embedded Redis; (its name, the broker's password)."""
    password = urls.password_of(embedded_redis.url(0))
    assert password and len(password) >= 8
    Services.open().profiles.save(
        Profile(
            name="guarded",
            broker_url=embedded_redis.url(0),
            result_backend=embedded_redis.url(1),
            workdir=str(REPO_ROOT),
        ),
        create=True,
    )
    yield "guarded", password


def test_a_started_worker_holds_the_password_in_no_argv_log_or_record(
    guarded: tuple[str, str], prefix: str, isolated_config: Paths
) -> None:
    name, password = guarded
    node = f"g{uuid.uuid4().hex[:6]}"
    started = _cli("worker", "start", "--profile", name, "-Q", prefix + "tasks", "-n", node,
                   "-P", "solo", "--timeout", "60")  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        holding = [pid for pid, argv in _every_argv() if password.encode() in argv]
        assert holding == [], [(pid, argv) for pid, argv in _every_argv() if pid in holding]
        assert node in _cli("worker", "list", "--profile", name).stdout
        files = [p for p in isolated_config.data_dir.rglob("*") if p.is_file()]
        assert any(p.suffix == ".log" for p in files), files  # the worker's log was read too
        assert [p for p in files if password.encode() in p.read_bytes()] == []
        assert password not in started.stdout + started.stderr
    finally:
        stopped = _cli("worker", "stop", "--profile", name, "--all")
        assert stopped.returncode == 0, stopped.stderr[-2000:]


def test_the_window_shows_the_password_in_no_widget(qtbot: Any, embedded_redis: Any) -> None:
    """Every label, non-password field, status bar, button, tooltip, window title and table
    cell of every screen of the real window on a profile whose broker needs a password."""
    from tests.support import every_text, window_on

    password = urls.password_of(embedded_redis.url(0))
    assert password
    profile = Profile(
        name="screen", broker_url=embedded_redis.url(0), result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
    )  # fmt: skip

    with window_on(qtbot, profile) as window:
        for position in range(window.tabs.count()):  # every screen, each one shown once
            window.tabs.setCurrentIndex(position)
            qtbot.wait(300)
        shown = list(every_text(window))
        assert sum(len(text) for text in shown) > 200  # the screens did fill in
        assert "****" in " ".join(shown) or "127.0.0.1" in " ".join(shown)
        leaked = [text for text in shown if password in text]
        assert leaked == []
