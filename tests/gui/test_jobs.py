"""The job layer: a newer job under the same key cancels the older one, a closed screen cancels
its jobs, blocking calls leave the GUI thread, and a failing job is logged, not raised."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop.ui.common.jobs import Jobs


def test_a_newer_job_under_the_same_key_cancels_the_older_one(qtbot: QtBot) -> None:
    screen = QWidget()
    qtbot.addWidget(screen)
    jobs = Jobs(screen)
    release = threading.Event()
    shown: list[str] = []

    async def refresh(name: str, wait: bool) -> None:
        await jobs.blocking(release.wait if wait else (lambda: True))
        shown.append(name)

    jobs.run("refresh", refresh("older", wait=True))
    jobs.run("refresh", refresh("newer", wait=False))
    qtbot.waitUntil(lambda: shown == ["newer"], timeout=5000)
    release.set()
    qtbot.wait(200)
    assert shown == ["newer"], "the superseded job showed its answer"


def test_blocking_calls_run_off_the_gui_thread(qtbot: QtBot) -> None:
    screen = QWidget()
    qtbot.addWidget(screen)
    jobs = Jobs(screen)
    threads: list[str] = []

    async def read() -> None:
        threads.append(await jobs.blocking(lambda: threading.current_thread().name))

    jobs.run("read", read())
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    assert threads[0] != threading.main_thread().name


def test_a_closed_screen_cancels_its_jobs(qtbot: QtBot) -> None:
    screen = QWidget()
    jobs = Jobs(screen)
    release = threading.Event()
    shown: list[str] = []

    async def refresh() -> None:
        await jobs.blocking(release.wait)
        shown.append("late answer")

    jobs.run("refresh", refresh())
    screen.deleteLater()
    qtbot.waitUntil(lambda: not jobs_alive(jobs), timeout=5000)
    release.set()
    qtbot.wait(200)
    assert shown == []


def jobs_alive(jobs: Jobs) -> bool:
    try:
        return jobs.running("refresh")
    except RuntimeError:  # the Jobs object went with its screen
        return False


def test_a_failing_job_is_logged_not_raised(qtbot: QtBot, caplog: pytest.LogCaptureFixture) -> None:
    screen = QWidget()
    qtbot.addWidget(screen)
    jobs = Jobs(screen)

    async def broken() -> None:
        await jobs.blocking(lambda: None)
        raise ValueError("the broker said no")

    with caplog.at_level(logging.ERROR, logger="desktop.ui.common.jobs"):
        jobs.run("broken", broken())
        qtbot.waitUntil(lambda: "the broker said no" in caplog.text, timeout=5000)
    assert "job broken failed: ValueError" in caplog.text
