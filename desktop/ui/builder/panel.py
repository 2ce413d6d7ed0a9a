"""Builder: drag tasks from the palette onto the canvas, edit each node, check, send, watch.

The palette comes from the app read in a child process (never imported here) and from
`inspect registered`; the canvas is a CanvasModel edited through its undo stack; sending runs
off the GUI thread and the sent nodes are then coloured from the event stream's diffs, with
the result backend polled as well, so a worker started without -E still shows its results."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker import control
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas import library as canvas_library
from desktop.core.canvas import model as canvas
from desktop.core.canvas import python_text as canvas_python
from desktop.core.canvas import recall as canvas_recall
from desktop.core.canvas.checks import ERROR, Problem
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.model import Canvas, Node, TaskNode
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.state import StateDiff, TaskRow
from desktop.core.opening import ConnectionFacts
from desktop.ui.builder.canvas_model import CanvasModel, label, node_mime
from desktop.ui.builder.canvas_view import FINISHED, CanvasView, NodeState
from desktop.ui.builder.drafts import DraftKeeper, DraftNote, ask_unsaved
from desktop.ui.builder.node_editor import EditorContext, NodeEditor
from desktop.ui.builder.palette import NameRole, PaletteModel
from desktop.ui.builder.task_chooser import TaskChooser
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.session.session import Session

INSPECT_EVERY_MS = 10_000
RESULT_POLL_MS = 1500
NOT_DECODED = "RESULT NOT DECODED"
POLL_DONE = FINISHED | {NOT_DECODED}


class BuilderPanel(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._jobs = Jobs(self)
        self.config: EffectiveConfig | None = None
        self.registered: dict[str, list[str]] = {}
        self.consumed: frozenset[str] | None = None
        self.sent_ids: dict[str, Position] = {}
        self.sent_root: Any = None
        self._inspecting = False
        self._polling = False
        self._profile_generation = 0  # bumped by forget_profile: drops a late inspect answer
        self.task_chooser: TaskChooser | None = None  # open while the person picks a task
        self._example_to_map: Node | None = None  # an example opened before the app was read

        self.model = CanvasModel(self)
        self.drafts = DraftKeeper(self.model, self)
        self.draft_note = DraftNote()
        self.view = CanvasView(self.model)
        self.palette_model = PaletteModel(self)
        self.editor = NodeEditor()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._toolbar())
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._palette_side())
        split.addWidget(self._canvas_side())
        editor_scroll = QScrollArea()
        editor_scroll.setWidget(self.editor)
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setMinimumWidth(240)
        split.addWidget(editor_scroll)
        split.setStretchFactor(1, 1)
        split.setSizes([180, 740, 260])
        layout.addWidget(split, 1)

        self.model.tree_changed.connect(self._tree_changed)
        self.drafts.failed.connect(self.say)
        self.draft_note.discard_requested.connect(self.discard_draft)
        self._clean = True
        self.model.undo_stack.cleanChanged.connect(self._clean_changed)
        self._committing = False
        self._rebuild_editor = QTimer(self)
        self._rebuild_editor.setSingleShot(True)
        self._rebuild_editor.setInterval(0)
        self._rebuild_editor.timeout.connect(lambda: self._show_selected(self.view.selected))
        self.view.selection_changed.connect(lambda _at: self._rebuild_editor.start())
        self.view.message.connect(self.say)
        self.editor.node_changed.connect(self._node_edited)
        self.view.replace_requested.connect(self.replace_task)
        self.editor.replace_requested.connect(lambda: self.replace_task(self.view.selected))
        # F2 wherever the focus is in the builder (the node editor too), one action for it all.
        replace = self.view.actions_by_name["replace"]
        replace.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(replace)
        self._inspect_timer = QTimer(self)
        self._inspect_timer.setInterval(INSPECT_EVERY_MS)
        self._inspect_timer.timeout.connect(self._inspect_if_visible)
        self._inspect_timer.start()
        self._result_timer = QTimer(self)
        self._result_timer.setInterval(RESULT_POLL_MS)
        self._result_timer.timeout.connect(self._poll_results)
        self._sending = False
        # Nothing is sent while the history opens (it would go unjournaled for no reason).
        session.journal_changed.connect(lambda _journal: self._sync_send_button())
        session.journal_state_changed.connect(lambda _state, _text: self._sync_send_button())
        self._sync_send_button()
        self._tree_changed()

    # -- layout -----------------------------------------------------------------------------
    def _toolbar(self) -> QToolBar:
        bar = QToolBar("Canvas")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        def action(text: str, slot: Any, keys: Any = None, tip: str = "") -> QAction:
            made = QAction(text, self)
            if keys is not None:
                made.setShortcut(QKeySequence(keys))
                made.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            made.setToolTip(tip or text)
            made.triggered.connect(slot)
            bar.addAction(made)
            self.addAction(made)  # its shortcut works anywhere in the builder
            return made

        self.new_action = action(
            "New", self.new_canvas, tip="An empty canvas (undo brings it back)"
        )
        self.open_action = action("Open…", self.open_file, QKeySequence.StandardKey.Open)
        self.library_button = QToolButton()
        self.library_button.setText("Library")
        self.library_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.library_menu = QMenu(self)
        self.library_menu.aboutToShow.connect(self._fill_library)
        self.library_button.setMenu(self.library_menu)
        bar.addWidget(self.library_button)
        self.save_action = action("Save", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = action("Save as…", self.save_as, QKeySequence.StandardKey.SaveAs)
        bar.addSeparator()
        stack = self.model.undo_stack
        self.undo_action = action("Undo", stack.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = action("Redo", stack.redo, QKeySequence.StandardKey.Redo)
        redo_keys = {QKeySequence(QKeySequence.StandardKey.Redo).toString()} | {
            "Ctrl+Shift+Z",
            "Ctrl+Y",
        }  # the platform's own plus both common ones, whatever the desktop
        self.redo_action.setShortcuts([QKeySequence(k) for k in sorted(redo_keys) if k])
        stack.canUndoChanged.connect(self.undo_action.setEnabled)
        stack.canRedoChanged.connect(self.redo_action.setEnabled)
        stack.undoTextChanged.connect(lambda text: self.undo_action.setToolTip(f"Undo {text}"))
        stack.redoTextChanged.connect(lambda text: self.redo_action.setToolTip(f"Redo {text}"))
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        bar.addSeparator()
        self.python_action = action("Copy as Python", self.copy_python)
        bar.addSeparator()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("canvas name")
        self.name_edit.setMaximumWidth(200)
        self.name_edit.editingFinished.connect(self._rename)
        bar.addWidget(self.name_edit)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Check the canvas, then send it (Ctrl+Return)")
        self.send_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.send_button.clicked.connect(self.send)
        bar.addWidget(self.send_button)
        return bar

    def _palette_side(self) -> QWidget:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tasks")
        self.search.setClearButtonEnabled(True)
        column.addWidget(self.search)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.palette_model)
        self.proxy.setFilterRole(NameRole)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.textChanged.connect(self._filter_palette)
        self.tree = QTreeView()
        self.tree.setAccessibleName("Task palette")
        self.tree.setModel(self.proxy)
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.activated.connect(self.add_from_palette)
        self.proxy.modelReset.connect(self.tree.expandAll)
        self.proxy.rowsInserted.connect(self.tree.expandAll)
        column.addWidget(self.tree, 1)
        self.status = muted("Reading the Celery app…")
        column.addWidget(self.status)
        hint = muted("Drag onto the canvas, or press Enter to add after the selection.")
        column.addWidget(hint)
        return side

    def _canvas_side(self) -> QWidget:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.draft_note)
        self.canvas_scroll = QScrollArea()
        self.canvas_scroll.setWidget(self.view)
        self.canvas_scroll.setWidgetResizable(True)
        self.view.scroller = self.canvas_scroll
        column.addWidget(self.canvas_scroll, 1)
        self.problems = QListWidget()
        self.problems.setAccessibleName("Problems")
        self.problems.setMaximumHeight(64)
        self.problems.itemActivated.connect(self._select_problem)
        self.problems.itemClicked.connect(self._select_problem)
        column.addWidget(self.problems)
        line = QHBoxLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        line.addWidget(self.message, 1)
        self.summary = muted("")
        self.summary.setWordWrap(False)
        line.addWidget(self.summary)
        self.zoom_buttons: dict[str, QToolButton] = {}
        for name, text in (("zoom_out", "-"), ("zoom_reset", "100%"), ("zoom_in", "+"),
                           ("zoom_fit", "Fit")):  # fmt: skip
            action = self.view.actions_by_name[name]
            button = QToolButton()
            button.setText(text)
            button.setAutoRaise(True)
            button.setToolTip(f"{action.text()} ({action.shortcut().toString()}; Ctrl+wheel)")
            button.clicked.connect(action.trigger)
            line.addWidget(button)
            self.zoom_buttons[name] = button
        self.view.zoom_changed.connect(
            lambda zoom: self.zoom_buttons["zoom_reset"].setText(f"{zoom:.0%}")
        )
        column.addLayout(line)
        return side

    # -- app, facts, inspect ------------------------------------------------------------------
    def forget_profile(self) -> None:
        """A profile was (re)opened: the palette's tasks came from the previous one's app and
        workers, so it empties until this one's app is read and its workers answer."""
        self._profile_generation += 1
        self._inspecting = False
        self.config = None
        self.registered = {}
        self.consumed = None
        self._show_status("Reading the Celery app…", error=False)
        self._fill_palette()
        self._map_example_opened_early()
        self._check()
        self._use_profile_draft()

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

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        self.config = config
        if error:
            self._show_status(
                f"Could not read the app: {error}. Sending uses Celery's defaults; tasks are "
                "known only from workers.",
                error=True,
            )
        else:
            text = f"{len(config.tasks)} tasks registered by '{config.main}'"
            self._show_status(text, error=False)
        self._fill_palette()
        self._check()
        self._inspect_if_visible()

    def _show_status(self, text: str, *, error: bool) -> None:
        self.status.setText(text)
        self.status.setProperty("role", "error" if error else "muted")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def show_facts(self, facts: ConnectionFacts) -> None:
        self.consumed = None
        self._check()
        if facts.report.ok:
            self._inspect_if_visible(force=True)

    def _fill_palette(self) -> None:
        self.palette_model.set_tasks(self.config.tasks if self.config else [], self.registered)
        self.tree.expandAll()

    def _inspect_if_visible(self, force: bool = False) -> None:
        if self._inspecting or not (force or self.isVisible()):
            return
        if self.session.app_config is None or (self.session.state != "connected" and not force):
            return  # the app's control exchange is where its workers listen
        self._inspecting = True
        generation = self._profile_generation

        def done(result: tuple[dict[str, list[str]], set[str]]) -> None:
            if generation != self._profile_generation:
                return  # the previous profile's workers
            self._inspecting = False
            registered, consumed = result
            changed = registered != self.registered
            self.registered = registered
            self.consumed = frozenset(consumed) if registered else frozenset()
            if changed:
                self._fill_palette()
            self._check()

        def failed(_exc: BaseException) -> None:
            if generation == self._profile_generation:
                self._inspecting = False

        self.session.control(control.registered_and_consumed, done, failed)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._inspect_if_visible()

    def _filter_palette(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self.tree.expandAll()

    # -- editing ------------------------------------------------------------------------------
    def say(self, text: str, error: bool = True) -> None:
        self.message.setText(text)
        self.message.setProperty("role", "error" if error else "muted")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)

    def add_from_palette(self, index: Any) -> None:
        """Enter or double-click in the palette: after the selected node, or into it."""
        node = self.palette_model.node_for(self.proxy.mapToSource(index))
        if node is None:
            return
        parent, place = self.view.paste_place()
        self.view.drop_at(node_mime(node), parent, place, Qt.DropAction.CopyAction)

    def _tree_changed(self) -> None:
        self.name_edit.setText(self.model.name)
        # The editor is rebuilt later, never inside the signal of one of its own fields (that
        # would delete the field while Qt is still in its handler), and not at all after its
        # own commit, so the field keeps focus and the person can go on typing.
        if self._committing:
            self._committing = False
        else:
            self._rebuild_editor.start()
        if self.sent_root is not None and self.model.root != self.sent_root:
            self.sent_root, self.sent_ids = None, {}
            self.view.states = {}
            self._result_timer.stop()
            self.send_button.setText("Send")
        self._check()
        self._show_title()

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

    def _rename(self) -> None:
        name = self.name_edit.text().strip()
        if name != self.model.name:
            self.model.edit(self.model.root, "rename", name=name)

    def _context(self, position: Position) -> EditorContext:
        node = self.model.node(position)
        receives, follows = canvas_edit.feeding(self.model.root, position)
        params = None
        if isinstance(node, TaskNode):
            params = self.palette_model.params.get(node.task)
        return EditorContext(
            params=params,
            receives=receives,
            in_chain=follows,
            config=self.config,
            drift=self.session.drift.summary(),
        )

    def _show_selected(self, position: Position | None) -> None:
        if position is None or self.model.root is None:
            self.editor.show_node(None, "", self._empty_context())
            return
        try:
            node = self.model.node(position)
        except EditError:
            self.editor.show_node(None, "", self._empty_context())
            return
        self.editor.show_node(node, canvas_edit.position_text(position), self._context(position))

    @staticmethod
    def _empty_context() -> EditorContext:
        return EditorContext(None, False, False, None)

    def _node_edited(self, node: Any) -> None:
        at = self.view.selected
        if at is None:
            return
        self._committing = True
        if not self.model.try_edit("edit", lambda: canvas_edit.replace(self.model.root, at, node)):
            self._committing = False

    def replace_task(self, position: Position | None) -> None:
        """ "Replace task…": the app's tasks to choose from; the chosen one takes the node's
        place with its arguments, options and s()/si(), in one undo step."""
        node = self.view.task_at(position)
        if node is None or position is None:
            self.say("Select a task to replace it with another.")
            return
        names = self.palette_model.task_names()
        if not names:
            self.say("The app's tasks are not known yet: nothing to choose from.")
            return
        chooser = TaskChooser(names, node.task, self.palette_model.params, self)
        chooser.accepted.connect(partial(self._replace_with, position, node, chooser))
        chooser.finished.connect(partial(self._chooser_closed, chooser))
        self.task_chooser = chooser
        chooser.open()

    def _replace_with(self, at: Position, was: TaskNode, chooser: TaskChooser) -> None:
        name = chooser.chosen()
        if name is None:
            return
        short = name.rsplit(".", 1)[-1]
        if self.model.try_edit(
            f"replace {label(was)} with {short}",
            lambda: canvas_edit.replace_task(self.model.root, at, name),
        ):
            self.view.select(at)
            self.say(f"Replaced {was.task} with {name}.", error=False)

    def _chooser_closed(self, chooser: TaskChooser, _result: int) -> None:
        if self.task_chooser is chooser:
            self.task_chooser = None
        chooser.deleteLater()

    # -- checks -------------------------------------------------------------------------------
    def target(self) -> canvas_checks.Target | None:
        profile, config = self.session.profile, self.config
        if profile is None or config is None:
            return None
        has_backend = bool(profile.result_backend or config.result_backend)
        return canvas_checks.Target.for_config(config, has_backend, self.consumed)

    def current_problems(self) -> list[Problem]:
        root = self.model.root
        if root is None:
            return []
        found = [
            Problem(canvas_edit.position_text(p), "empty container: drop a task into it")
            for p in canvas_edit.empty_containers(root)
        ]
        target = self.target()
        if target is not None and not found:
            found += canvas_checks.check(Canvas(self.model.name, root), target)
        return found

    def _check(self) -> None:
        problems = self.current_problems()
        marks: dict[Position, list[Problem]] = {}
        for problem in problems:
            marks.setdefault(canvas_edit.parse_position(problem.path), []).append(problem)
        self.view.problems = marks
        self.view.update()
        self.problems.clear()
        for problem in problems:
            where = f"node {problem.path}" if problem.path else "root"
            item = QListWidgetItem(f"{problem.level}: {where}: {problem.message}")
            item.setData(Qt.ItemDataRole.UserRole, problem.path)
            item.setForeground(
                Qt.GlobalColor.red if problem.level == ERROR else Qt.GlobalColor.darkYellow
            )
            self.problems.addItem(item)
        if not problems:
            text = "No problems found." if self.model.root is not None else "The canvas is empty."
            self.problems.addItem(QListWidgetItem(text))

    def _select_problem(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path is not None:
            self.view.select(canvas_edit.parse_position(str(path)))
            self.view.setFocus()

    # -- files --------------------------------------------------------------------------------
    def library_dir(self) -> Path:
        return self.session.services.paths.config_dir / "canvases"

    def new_canvas(self) -> None:
        self.model.clear()

    def load_file(self, path: Path) -> bool:
        """A bad file is refused whole, with the path of its first bad element."""
        try:
            loaded = canvas_library.read(path)
        except canvas.CanvasError as exc:
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

    # -- sending and watching -------------------------------------------------------------------
    def _sync_send_button(self) -> None:
        opening = self.session.journal_opening
        self.send_button.setEnabled(not self._sending and not opening)
        self.send_button.setToolTip(
            "The task history is still opening; Send is possible in a moment"
            if opening
            else "Check the canvas, then send it (Ctrl+Return)"
        )

    def _sending_now(self, sending: bool) -> None:
        self._sending = sending
        self._sync_send_button()

    def _watch(self, drawn: Canvas, nodes: list[canvas.SentNode]) -> bool:
        """Colour `nodes` (sent) on the canvas from now on; False when it changed since."""
        if self.model.root != drawn.root:
            return False
        self.sent_root = drawn.root
        self.sent_ids = {n.id: canvas_edit.parse_position(n.path) for n in nodes}
        self.view.states = {
            position: NodeState("PENDING", task_id) for task_id, position in self.sent_ids.items()
        }
        self.view.update()
        self._sent_at = time.monotonic()
        self._result_timer.start()
        return True

    def send(self) -> None:
        drawn = self._canvas_or_say()
        if drawn is None:
            return
        problems = self.current_problems()
        errors = [p for p in problems if p.level == ERROR]
        if errors:
            self.say(f"Not sent: {len(errors)} problem(s) marked on the canvas; fix them first.")
            return
        if self.session.profile is None:
            self.say("Not sent: no profile is active.")
            return
        if self.session.journal_opening:
            self.say("Not sent: the task history is still opening; send again in a moment.")
            return
        journal, not_opened = self.session.journal, self.session.journal_open_error
        config = self.config

        def work(app: Any) -> canvas.Sent:
            def record(node: canvas.SentNode) -> None:
                if journal is None:  # sent all the same, and said to be in no history
                    raise RuntimeError(f"the task history could not be opened ({not_opened})")
                journal.record_submitted(
                    node.id, node.task, queue=node.queue, priority=node.priority
                )

            return canvas.send(drawn, app, record, config)

        def done(sent: canvas.Sent) -> None:
            self._sending_now(False)
            if not self._watch(drawn, sent.nodes):
                warning = (
                    ""
                    if sent.unjournaled is None
                    else (f" Warning: {sent.unjournaled.said(len(sent.nodes))}; do not send again.")
                )
                self.say(
                    f"Sent '{drawn.name or 'canvas'}' (root id {sent.root_id}); the canvas "
                    f"changed since, so its nodes are not coloured. See the Tasks screen.{warning}",
                    error=bool(warning),
                )
                return
            self.send_button.setText("Run again")
            if sent.unjournaled is not None:  # sent all the same: never to be sent again
                self.say(
                    f"Sent '{drawn.name or 'canvas'}' (root id {sent.root_id}), but "
                    f"{sent.unjournaled.said(len(sent.nodes))}. The tasks WERE sent: do not "
                    "send them again."
                )
            else:
                self.say(f"Sent '{drawn.name or 'canvas'}': root id {sent.root_id}", error=False)

        def failed(exc: BaseException) -> None:
            self._sending_now(False)
            if not isinstance(exc, canvas.SendError) or not exc.sent:
                self.say(f"Sending failed: {exc}")
                return
            self._watch(drawn, exc.sent)  # what went out is watched, as a whole send is
            missed = exc.unjournaled
            if missed is None:  # all of it journaled
                self.say(f"Sending failed: {exc}")
                return
            cause = exc.__cause__
            self.say(
                f"Partly sent: {len(exc.sent)} of {exc.total} sent, {len(missed.nodes)} not "
                f"journaled; do not send them again. Sending stopped on "
                f"{type(cause).__name__}: {cause}; the journal failed: {missed.reason}."
            )

        self._sending_now(True)
        self.say("Sending…", error=False)
        self.session.control(work, done, failed)

    def apply_diff(self, diff: StateDiff) -> None:
        if not self.sent_ids:
            return
        changed = False
        for row in (*diff.tasks_added, *diff.tasks_changed):
            position = self.sent_ids.get(row.id)
            if position is not None:
                self.view.states[position] = NodeState(row.state, row.id, _detail(row))
                changed = True
        if changed:
            self.view.update()

    def _poll_results(self) -> None:
        """Results from the backend, for workers that send no events."""
        waiting = [s.task_id for s in self.view.states.values() if s.state not in POLL_DONE]
        if not waiting:
            self._result_timer.stop()
            return
        profile, config = self.session.profile, self.config
        has_backend = profile is not None and bool(
            profile.result_backend or (config and config.result_backend)
        )
        if self._polling or not has_backend:
            return
        self._polling = True

        def work(app: Any) -> dict[str, tuple[str, str]]:
            found = {}
            for task_id in waiting:
                try:
                    meta = app.backend.get_task_meta(task_id)
                except Exception as exc:  # pickle or garbage in the backend: never unpickled
                    found[task_id] = (NOT_DECODED, f"{type(exc).__name__}: {exc}")
                    continue
                status = str(meta.get("status"))
                if status in FINISHED:
                    value = meta.get("result")
                    text = (
                        f"{type(value).__name__}: {value}" if status == "FAILURE" else repr(value)
                    )
                    found[task_id] = (status, text)
            return found

        def done(found: dict[str, tuple[str, str]]) -> None:
            self._polling = False
            for task_id, (status, text) in found.items():
                position = self.sent_ids.get(task_id)
                if position is not None:
                    self.view.states[position] = NodeState(status, task_id, f"result: {text}")
            self.view.update()

        def failed(_exc: BaseException) -> None:
            self._polling = False

        self.session.control(work, done, failed)

    def open_canvas(self, drawn: Canvas) -> None:
        """A canvas made elsewhere (a waiting message on the Queues screen), undoable."""
        if not self.confirm_leave("opening another canvas"):
            return
        self.model.load(drawn)
        self.view.zoom_to_fit()
        self.view.select(())
        self.say(f"Opened '{drawn.name}'; edit it, then Send.", error=False)

    # -- from the tasks screen ----------------------------------------------------------------
    def open_from_journal(
        self, task_id: str, whole_workflow: bool, opened: Callable[[], None] | None = None
    ) -> None:
        """A past task, or its whole workflow, back onto the canvas (undo brings back the one
        that was there). The journal is read off the GUI thread; `opened` runs once it is on
        the canvas."""
        self._jobs.run(
            "open-from-journal", self._open_from_journal(task_id, whole_workflow, opened)
        )

    async def _open_from_journal(
        self, task_id: str, whole_workflow: bool, opened: Callable[[], None] | None
    ) -> None:
        journal = self.session.journal
        row, rows = (
            await Jobs.blocking(_journal_task, journal, task_id, whole_workflow)
            if journal
            else (None, [])
        )
        if not self.confirm_leave("opening another canvas"):
            return
        if journal is None or row is None:
            self.say(f"Task {task_id} is not in the journal.")
            return
        try:
            if whole_workflow:
                node = canvas_recall.workflow(rows)
                title = f"workflow of {task_id[:8]}"
            else:
                node = canvas_recall.task_node(row)
                title = f"again: {node.task.rsplit('.', 1)[-1]}"
        except control.ControlError as exc:
            self.say(f"Cannot open it in the builder: {exc}")
            return
        self.model.load(Canvas(title, node))
        self.view.zoom_to_fit()
        self.view.select(())
        self.say(f"Opened {title} from the tasks screen; edit it, then Send.", error=False)
        if opened is not None:
            opened()


def _journal_task(
    journal: JournalReader, task_id: str, whole_workflow: bool
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A task's row and, for its workflow, every task sharing its root: one trip to the pool."""
    row = journal.get(task_id)
    if row is None or not whole_workflow:
        return row, []
    return row, journal.workflow(row.get("root_id") or task_id)


def _detail(row: TaskRow) -> str:
    if row.exception:
        return f"error: {row.exception}"
    if row.result is not None:
        return f"result: {row.result}" + (f" · on {row.worker}" if row.worker else "")
    return f"on {row.worker}" if row.worker else ""
