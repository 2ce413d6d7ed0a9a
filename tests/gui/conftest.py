"""GUI tests: the Builder's unsaved-canvas question is answered "discard" unless a test asks
for it, and the one about running local workers "stop them". pytest-qt closes every window
it was given before the fixtures' own teardown (so before `close_without_asking`), and a
window holding an edited canvas, or running local workers, would then wait on a modal
question no one answers. Tests of the question itself restore `REAL_ASK_UNSAVED`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.local.supervisor import all_supervisors
from desktop.core.services import Services
from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.shell.main_window import MainWindow
from tests.support import shut_down

REPO_ROOT = Path(__file__).resolve().parents[2]

REAL_ASK_UNSAVED = BuilderPanel.ask_unsaved


@pytest.fixture(autouse=True)
def unsaved_canvas_discarded_on_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BuilderPanel, "ask_unsaved", lambda self, doing: "discard")


@pytest.fixture(autouse=True)
def local_workers_stopped_on_teardown(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for the question about running local workers: "stop them" (the default),
    except in the tests that answer it themselves (marked `asks_about_local_workers`)."""
    if request.node.get_closest_marker("asks_about_local_workers") is None:
        monkeypatch.setattr(
            MainWindow, "ask_about_local_workers", lambda self, here, elsewhere: "stop"
        )


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A fresh config dir on the built-in embedded profile (the shipped app, read from the
    repository as `make run` does); every local worker and the broker stopped at the end."""
    monkeypatch.chdir(REPO_ROOT)
    opened = Services.open()
    yield opened
    for supervisor in all_supervisors(opened.paths.data_dir / "workers"):  # beats too
        supervisor.stop_all(grace_s=5)
    opened.embedded.stop()


@pytest.fixture
def connected_window(qtbot: QtBot, services: Services) -> Iterator[MainWindow]:
    """The real window on the embedded broker, shown, active, connected and with the app read;
    its session shut down at the end."""
    session, shown = build_window(services)
    qtbot.addWidget(shown)
    shown.show()
    session.start()
    try:
        qtbot.waitUntil(lambda: session.state == "connected", timeout=10000)
        qtbot.waitUntil(lambda: session.app_config is not None, timeout=30000)
        shown.activateWindow()
        qtbot.waitUntil(shown.isActiveWindow, timeout=5000)
        yield shown
    finally:
        shown.close()
        shut_down(qtbot, session)
