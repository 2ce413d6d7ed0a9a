"""Work is not lost on close (issue 13, defect 11): a canvas with unsaved changes is asked
about before the window closes, the profile switches or another canvas opens, and is kept as
a draft that the next window restores, with a note. The real window, offscreen; no broker is
needed (the profiles point at a port nobody listens on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.builder.panel import BuilderPanel
from desktop.ui.shell.main_window import MainWindow
from tests.gui.conftest import REAL_ASK_UNSAVED

WORK = ChainNode([TaskNode("workers.tasks.add", [1, 2]), GroupNode([])])  # an unfilled group


def _profile(name: str, port: int) -> Profile:
    return Profile(
        name=name,
        broker_url=f"redis://127.0.0.1:{port}/0",
        result_backend=f"redis://127.0.0.1:{port}/1",
        workdir=str(Path(__file__).resolve().parents[2]),
    )


@pytest.fixture(autouse=True)
def real_question(monkeypatch: pytest.MonkeyPatch) -> None:
    """This module drives the real question (tests/gui/conftest.py answers it elsewhere)."""
    monkeypatch.setattr(BuilderPanel, "ask_unsaved", REAL_ASK_UNSAVED)


@pytest.fixture
def services(unused_port: int) -> Services:
    opened = Services.open()
    for name in ("first", "second"):
        opened.profiles.save(_profile(name, unused_port), create=True)
    return opened


def _window(qtbot: QtBot, services: Services) -> MainWindow:
    session, window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    session.start("first")
    window.tabs.setCurrentWidget(window.builder)
    return window


@pytest.fixture
def window(qtbot: QtBot, services: Services) -> Iterator[MainWindow]:
    shown = _window(qtbot, services)
    try:
        yield shown
    finally:
        shown.close_without_asking()
        shown.session.shutdown()


def _answer_the_prompt(button: QMessageBox.StandardButton, seen: list[str]) -> None:
    """Click `button` on the unsaved-canvas question once it is up (never hangs the test: if
    no question comes, nothing is clicked and the assertions say so)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "unsaved-canvas":
            seen.append(f"{box.text()} {box.informativeText()}")
            box.button(button).click()
        elif len(seen) < 50:
            seen.append("")
            QTimer.singleShot(20, click)

    QTimer.singleShot(0, click)


def test_closing_with_unsaved_work_asks_and_cancel_keeps_the_window(
    qtbot: QtBot, window: MainWindow, services: Services
) -> None:
    builder = window.builder
    draft = services.draft_path(window.session.profile)  # type: ignore[arg-type]
    builder.model.edit(WORK, "add")
    qtbot.waitUntil(draft.exists, timeout=8000)  # written a few seconds after the change
    assert oct(draft.stat().st_mode & 0o777) == "0o600"
    seen: list[str] = []
    _answer_the_prompt(QMessageBox.StandardButton.Cancel, seen)
    assert not window.close()
    asked = [s for s in seen if s]
    assert asked and "not saved" in asked[0] and "closing the window" in asked[0]
    assert window.isVisible() and builder.model.root == WORK and draft.exists()

    seen.clear()
    _answer_the_prompt(QMessageBox.StandardButton.Discard, seen)
    assert window.close()
    assert [s for s in seen if s] and not draft.exists()


def test_saving_from_the_prompt_writes_the_file_and_drops_the_draft(
    qtbot: QtBot, window: MainWindow, services: Services, tmp_path: Path
) -> None:
    builder = window.builder
    draft = services.draft_path(window.session.profile)  # type: ignore[arg-type]
    builder.model.edit(TaskNode("workers.tasks.add", [1, 2]), "add")
    builder.drafts.write_soon().result(5)  # type: ignore[union-attr]
    assert draft.exists()
    builder.model.file = tmp_path / "kept.json"
    builder.ask_unsaved = lambda doing: "save"  # type: ignore[method-assign]
    assert window.close()
    assert (tmp_path / "kept.json").exists() and not draft.exists()


def test_profile_switch_and_open_ask_first(qtbot: QtBot, window: MainWindow) -> None:
    builder = window.builder
    builder.model.edit(WORK, "add")
    asked: list[str] = []

    def answer(reply: str) -> None:
        def ask(doing: str) -> str:
            asked.append(doing)
            return reply

        builder.ask_unsaved = ask  # type: ignore[method-assign]

    answer("cancel")
    window.profiles.setCurrentText("second")
    window._switch_profile(window.profiles.currentIndex())
    assert window.session.profile.name == "first"  # type: ignore[union-attr]
    assert window.profiles.currentText() == "first" and builder.model.root == WORK
    builder.open_canvas(Canvas("other", TaskNode("workers.tasks.mul")))
    assert builder.model.root == WORK
    assert asked == ["switching to profile 'second'", "opening another canvas"]

    answer("discard")
    builder.open_canvas(Canvas("other", TaskNode("workers.tasks.mul")))
    assert canvas_edit.task_count(builder.model.root) == 1
    builder.model.edit(WORK, "add")
    window.profiles.setCurrentText("second")
    window._switch_profile(window.profiles.currentIndex())
    assert window.session.profile.name == "second"  # type: ignore[union-attr]


def test_a_new_window_restores_the_draft_with_a_note(
    qtbot: QtBot, services: Services, tmp_path: Path
) -> None:
    """The window went without being asked (a signal, as a crash would leave it): the next
    one brings the canvas back and says so; Discard drops it."""
    first = _window(qtbot, services)
    first.builder.model.edit(WORK, "add", name="unfinished")
    first.close_without_asking()
    first.session.shutdown()
    draft = services.draft_path(_profile("first", 1))
    assert draft.exists()

    again = _window(qtbot, services)
    try:
        builder = again.builder
        qtbot.waitUntil(lambda: builder.model.root == WORK, timeout=5000)
        assert builder.model.name == "unfinished" and builder.drafts.unsaved()
        note = builder.draft_note
        assert note.isVisible() and note.text.text().startswith("Restored an unsaved draft from ")
        again.resize(1100, 700)
        qtbot.wait(50)
        shot = Path(os.environ.get("CELERY_DESK_SHOT_DIR", tmp_path)) / "restored-draft.png"
        assert again.grab().save(str(shot))
        note.discard_button.click()
        assert builder.model.root is None and not note.isVisible()
        builder.drafts.close()
        assert not draft.exists()
    finally:
        again.close_without_asking()
        again.session.shutdown()
