"""The Builder's file actions: opening, saving, the library of canvases and tutorial examples,
copy as Python, and the unsaved work (drafts, the question before a canvas is dropped)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import shiboken6
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu

from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import library as canvas_library
from desktop.core.canvas import python_text as canvas_python
from desktop.core.canvas.edit import EditError
from desktop.core.canvas.model import Canvas, Node
from desktop.ui.builder.drafts import DraftKeeper, DraftNote, ask_unsaved
from desktop.ui.builder.panel_base import PanelBase


class PanelFiles(PanelBase):
    """Open, save and copy the canvas; ask before unsaved work is dropped."""

    # set by BuilderPanel.__init__
    _example_to_map: Node | None
    _clean: bool
    drafts: DraftKeeper
    draft_note: DraftNote
    library_menu: QMenu
    summary: QLabel

    # -- unsaved work -------------------------------------------------------------------------
    def _use_profile_draft(self) -> None:
        """Drafts are kept per profile; this one's draft comes back when nothing unsaved is on
        the canvas (at start, or after a switch where the person saved or discarded)."""
        profile = self.session.profile
        self.drafts.use(self.session.services.draft_path(profile) if profile else None)
        if self.drafts.unsaved():
            return
        draft = self.drafts.read()
        if draft is None or draft.root is None:
            return
        self.model.load(Canvas(draft.name, draft.root), draft.file)  # undoable, not clean
        self.view.zoom_to_fit()
        self.draft_note.show_restored(draft)

    def discard_draft(self) -> None:
        """The restored canvas is dropped (undo brings it back) and so is its draft."""
        self.draft_note.hide()
        self.model.clear()
        self.model.undo_stack.setClean()
        self.drafts.discard()
        self.say("Draft discarded (Undo brings it back until the window closes).", error=False)

    def ask_unsaved(self, doing: str) -> str:
        """'save', 'discard' or 'cancel' (a method, so a test can answer it)."""
        return ask_unsaved(self, doing)

    def confirm_leave(self, doing: str) -> bool:
        """Before `doing` drops the canvas: True to go on. Unsaved changes are saved, discarded
        or kept (then nothing happens), as the person answers."""
        if not self.drafts.unsaved():
            return True
        answer = self.ask_unsaved(doing)
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.model.undo_stack.setClean()
            self.drafts.discard()
            self.draft_note.hide()
            return True
        return False

    # -- files --------------------------------------------------------------------------------
    def library_dir(self) -> Path:
        return self.session.services.paths.config_dir / "canvases"

    def new_canvas(self) -> None:
        self.model.clear()

    def load_file(self, path: Path) -> bool:
        """A bad file is refused whole, with the path of its first bad element."""
        try:
            loaded = canvas_library.read(path)
        except canvas_format.CanvasError as exc:
            self.say(f"{path.name} was not opened: {exc}")
            return False
        example = path.parent == canvas_library.EXAMPLES_DIR
        note = ""
        if example:
            loaded, note = self._for_this_app(loaded)
        self.model.load(loaded, None if example else path)
        self.view.zoom_to_fit()
        self.model.undo_stack.setClean()
        self.say(f"Opened {path.name}" + (f"; {note}." if note else "."), error=False)
        self._show_title()
        return True

    def _app_task_names(self) -> list[str] | None:
        return None if self.config is None else [t.name for t in self.config.tasks]

    def _for_this_app(self, example: Canvas) -> tuple[Canvas, str]:
        """An example names the shipped demo app's tasks: on another app, each becomes the
        app's task of the same short name, or the tutorial's name for it, where exactly one app
        task has it (canvas_library.map_to_app); the note says what was matched."""
        names = self._app_task_names()
        if names is None:
            self._example_to_map = example.root
            return example, "its tasks are matched to the app's once the app has been read"
        self._example_to_map = None
        mapped = canvas_library.map_to_app(example, names)
        return mapped.canvas, mapped.summary()

    def _map_example_opened_early(self) -> None:
        """The app was read after an example was opened: match its tasks now, as one undoable
        step, if the canvas is still that example untouched."""
        names = self._app_task_names()
        if names is None:
            return  # not read (or not readable): still pending
        pending, self._example_to_map = self._example_to_map, None
        if pending is None or self.model.root != pending:
            return
        mapped = canvas_library.map_to_app(Canvas(self.model.name, pending), names)
        if mapped.mapped:
            self.model.edit(mapped.canvas.root, "match tasks to this app")
        if mapped.summary():
            self.say(mapped.summary()[:1].upper() + mapped.summary()[1:] + ".", error=False)

    def open_file(self) -> None:
        if not self.confirm_leave("opening another canvas"):
            return
        name, _ = QFileDialog.getOpenFileName(
            self, "Open canvas", str(self.library_dir()), "Canvas (*.json)"
        )
        if name:
            self.load_file(Path(name))

    def _fill_library(self) -> None:
        self.library_menu.clear()
        entries = canvas_library.entries(self.library_dir())
        own = [e for e in entries if not e.example]
        for entry in own:
            self.library_menu.addAction(entry.title, partial(self._open_listed, entry.path))
        if not own:
            self.library_menu.addAction("(no saved canvases yet)").setEnabled(False)
        examples = self.library_menu.addMenu("Tutorial examples")
        for entry in entries:
            if entry.example:
                examples.addAction(entry.title, partial(self._open_listed, entry.path))

    def _open_listed(self, path: Path) -> None:
        if self.confirm_leave("opening another canvas"):
            self.load_file(path)

    def _canvas_or_say(self) -> Canvas | None:
        try:
            return self.model.canvas()
        except EditError as exc:
            self.say(str(exc))
            return None

    def save(self) -> bool:
        if self.model.file is None:
            return self.save_as()
        return self._write(self.model.file)

    def save_as(self) -> bool:
        drawn = self._canvas_or_say()
        if drawn is None:
            return False
        suggested = self.library_dir() / canvas_library.file_name(drawn.name or "canvas")
        self.library_dir().mkdir(parents=True, exist_ok=True)
        name, _ = QFileDialog.getSaveFileName(
            self, "Save canvas", str(suggested), "Canvas (*.json)"
        )
        if not name:
            return False
        path = Path(name if name.endswith(".json") else name + ".json")
        return self._write(path)

    def _write(self, path: Path) -> bool:
        drawn = self._canvas_or_say()
        if drawn is None:
            return False
        try:
            canvas_library.write(path, drawn)
        except OSError as exc:
            self.say(f"Not saved: {exc.strerror or exc} ({path})")
            return False
        self.model.file = path
        self.model.undo_stack.setClean()
        self.say(f"Saved {path}.", error=False)
        self._show_title()
        return True

    def copy_python(self) -> None:
        drawn = self._canvas_or_say()
        if drawn is None:
            return
        module = self.session.profile.app_module if self.session.profile else "workers"
        code = canvas_python.python_code(drawn, module)
        QGuiApplication.clipboard().setText(code)
        self.say(f"Copied {code.count(chr(10))} lines of Python to the clipboard.", error=False)

    # -- the title: how many tasks, which file, saved or not ---------------------------------
    def _clean_changed(self, clean: bool) -> None:
        self._clean = clean
        if shiboken6.isValid(self.summary):  # the stack says so once more while being deleted
            self._show_title()

    def _show_title(self) -> None:
        count = 0 if self.model.root is None else canvas_edit.task_count(self.model.root)
        if self.model.file is None:
            where = "not saved yet"
        else:
            where = self.model.file.name + ("" if self._clean else " (changed)")
        self.summary.setText(f"{count} tasks · {where}")
