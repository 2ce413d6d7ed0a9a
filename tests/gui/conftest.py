"""GUI tests: the Builder's unsaved-canvas question is answered "discard" unless a test asks
for it, and the one about running local workers "stop them". pytest-qt closes every window
it was given before the fixtures' own teardown (so before `close_without_asking`), and a
window holding an edited canvas, or running local workers, would then wait on a modal
question no one answers. Tests of the question itself restore `REAL_ASK_UNSAVED`."""

from __future__ import annotations

import pytest

from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.shell.main_window import MainWindow

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
