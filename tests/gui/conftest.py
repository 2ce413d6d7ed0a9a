"""GUI tests: the Builder's unsaved-canvas question is answered "discard" unless a test asks
for it. pytest-qt closes every window it was given before the fixtures' own teardown (so
before `close_without_asking`), and a window holding an edited canvas would then wait on a
modal question no one answers. Tests of the question itself restore `REAL_ASK_UNSAVED`."""

from __future__ import annotations

import pytest

from desktop.ui.builder.panel import BuilderPanel

REAL_ASK_UNSAVED = BuilderPanel.ask_unsaved


@pytest.fixture(autouse=True)
def unsaved_canvas_discarded_on_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BuilderPanel, "ask_unsaved", lambda self, doing: "discard")
