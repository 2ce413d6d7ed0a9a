"""Builder: drag tasks from the palette onto the canvas, edit each node, check, send, watch.

The palette comes from the app read in a child process (never imported here) and from
`inspect registered`; the canvas is a CanvasModel edited through its undo stack; sending runs
off the GUI thread and the sent nodes are then coloured from the event stream's diffs, with
the result backend polled as well, so a worker started without -E still shows its results.

This module lays the screen out, wires it, edits the selected node and shows the checks; the
rest is in the parts BuilderPanel is made of: panel_files (open, save, library, copy as
Python, unsaved work), panel_sending (send and watch), panel_recall (a canvas from another
screen), panel_palette (the app's and the workers' tasks) and panel_keys (F6 round the panes,
Enter in the task search), on the state panel_base names."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.checks import ERROR, Problem
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.model import Canvas, Node, TaskNode
from desktop.ui.builder.canvas_model import CanvasModel, label, node_mime
from desktop.ui.builder.canvas_view import CanvasView
from desktop.ui.builder.drafts import DraftKeeper, DraftNote
from desktop.ui.builder.node_editor import NodeEditor
from desktop.ui.builder.node_options import EditorContext
from desktop.ui.builder.palette import NameRole, PaletteModel
from desktop.ui.builder.panel_keys import PanelKeys
from desktop.ui.builder.panel_palette import PanelPalette
from desktop.ui.builder.panel_recall import PanelRecall
from desktop.ui.builder.panel_sending import RESULT_POLL_MS, PanelSending
from desktop.ui.builder.task_chooser import TaskChooser
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.session.session import Session
from desktop.ui.session.why_dialog import WhyDialog

INSPECT_EVERY_MS = 10_000


class BuilderPanel(PanelPalette, PanelSending, PanelRecall, PanelKeys):
    """The Builder screen: its layout and wiring, editing the selected node, and the checks;
    files, sending, recall, the palette's data and the keys are the Panel* parts it is made of."""

    # "Schedule periodically…" on a task node: its task, args and kwargs, for the Beat screen's
    # Add… (the shell passes it on; screens do not import each other).
    schedule_wanted = Signal(str, object, object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._jobs = Jobs(self)
        self.config: EffectiveConfig | None = None
        self.registered: dict[str, list[str]] = {}
        self.consumed: frozenset[str] | None = None
        self.sent_ids: dict[str, Position] = {}
        self.sent_root: Any = None
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
        split = remembered_splitter(Qt.Orientation.Horizontal, "builder-split")
        split.addWidget(self._palette_side())
        split.addWidget(self._canvas_side())
        editor_scroll = QScrollArea()
        editor_scroll.setWidget(self.editor)
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setMinimumWidth(240)
        split.addWidget(editor_scroll)
        split.setStretchFactor(1, 1)
        split.setSizes([180, 700, 340])  # the editor wide enough for its fields at 1280 px
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
        schedule = QAction("Schedule periodically…", self.view)
        schedule.setToolTip(
            "Make the selected task a periodic task of the app's beat (Beat screen)"
        )
        schedule.triggered.connect(lambda: self.schedule_selected())
        self.view.addAction(schedule)  # in the canvas's context menu, beside Replace task…
        self.schedule_action = schedule
        self.install_keys()  # F6 round the panes, Enter and Down in the task search
        self._inspect_timer = QTimer(self)
        self._inspect_timer.setInterval(INSPECT_EVERY_MS)
        self._inspect_timer.timeout.connect(self._inspect_if_visible)
        self._inspect_timer.start()
        self._result_timer = QTimer(self)
        self._result_timer.setInterval(RESULT_POLL_MS)
        self._result_timer.timeout.connect(self._poll_results)
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
            explain(made, tip)
            made.triggered.connect(slot)
            bar.addAction(made)
            self.addAction(made)  # its shortcut works anywhere in the builder
            return made

        self.new_action = action(  # Ctrl+N is the window's New profile
            "New canvas", self.new_canvas, "Ctrl+Shift+N", "An empty canvas (undo brings it back)"
        )
        self.open_action = action("Open…", self.open_file, QKeySequence.StandardKey.Open,
                                  "Open a canvas saved as a file")  # fmt: skip
        self.library_button = QToolButton()
        self.library_button.setText("Library")
        explain(self.library_button, "Open one of your saved canvases or an example")
        self.library_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.library_menu = QMenu(self)
        self.library_menu.aboutToShow.connect(self._fill_library)
        self.library_button.setMenu(self.library_menu)
        bar.addWidget(self.library_button)
        self.save_action = action("Save", self.save, QKeySequence.StandardKey.Save,
                                  "Save the canvas to its file")  # fmt: skip
        self.save_as_action = action("Save as…", self.save_as, QKeySequence.StandardKey.SaveAs,
                                     "Save the canvas to a new file")  # fmt: skip
        bar.addSeparator()
        stack = self.model.undo_stack
        self.undo_action = action("Undo", stack.undo, QKeySequence.StandardKey.Undo,
                                  "Undo the last change to the canvas")  # fmt: skip
        self.redo_action = action("Redo", stack.redo, QKeySequence.StandardKey.Redo,
                                  "Redo the change last undone")  # fmt: skip
        redo_keys = {QKeySequence(QKeySequence.StandardKey.Redo).toString()} | {
            "Ctrl+Shift+Z",
            "Ctrl+Y",
        }  # the platform's own plus both common ones, whatever the desktop
        self.redo_action.setShortcuts([QKeySequence(k) for k in sorted(redo_keys) if k])
        stack.canUndoChanged.connect(self.undo_action.setEnabled)
        stack.canRedoChanged.connect(self.redo_action.setEnabled)
        stack.undoTextChanged.connect(
            lambda text: explain(self.undo_action, f"Undo {text or 'the last change'}")
        )
        stack.redoTextChanged.connect(
            lambda text: explain(self.redo_action, f"Redo {text or 'the change last undone'}")
        )
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        bar.addSeparator()
        self.python_action = action(
            "Copy as Python", self.copy_python, tip="Copy the canvas as Celery code to paste"
        )
        bar.addSeparator()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("canvas name")
        explain(self.name_edit, "The canvas's name, used for its file and in the library",
                "Canvas name")  # fmt: skip
        self.name_edit.setMaximumWidth(200)
        self.name_edit.editingFinished.connect(self._rename)
        bar.addWidget(self.name_edit)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Check the canvas, then send it (Ctrl+Return)")
        self.send_button.clicked.connect(self.send)
        bar.addWidget(self.send_button)
        # Not the button's own shortcut: its setText ("Run again") drops that for a mnemonic.
        self.send_action = QAction("Send the canvas", self)
        self.send_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.send_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.send_action.triggered.connect(
            lambda: self.send_button.click() if self.send_button.isEnabled() else None
        )
        self.addAction(self.send_action)
        self.send_anyway_button = QPushButton("Send anyway…")
        self.send_anyway_button.setToolTip(
            "Send the canvas with its problems, on purpose, to see the failure they cause "
            "(asks first)"
        )
        self.send_anyway_button.clicked.connect(self.send_anyway)
        self.send_anyway_action = bar.addWidget(self.send_anyway_button)
        self.send_anyway_action.setVisible(False)
        self.why_button = QPushButton("Why?")
        self.why_button.setToolTip("The selected task once sent: why it has not run, and the fix")
        self.why_button.setEnabled(False)
        self.why_button.clicked.connect(self.why_selected)
        bar.addWidget(self.why_button)
        return bar

    def sent_id_at(self, position: Position | None) -> str | None:
        """The id the task at `position` was sent with (the last send of this canvas)."""
        return next((i for i, at in self.sent_ids.items() if at == position), None)

    def why_selected(self) -> None:
        task_id = self.sent_id_at(self.view.selected)
        if task_id is not None:
            WhyDialog(self.session, task_id, self).show()

    def _palette_side(self) -> QWidget:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tasks")
        explain(self.search, "Show only the app's tasks whose name has this text (Ctrl+F)",
                "Search tasks")  # fmt: skip
        self.search.setClearButtonEnabled(True)
        column.addWidget(self.search)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.palette_model)
        self.proxy.setFilterRole(NameRole)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.textChanged.connect(self._filter_palette)
        self.tree = QTreeView()
        explain(self.tree, "The app's tasks: drag one onto the canvas or press Enter to add it",
                "Task palette")  # fmt: skip
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
        explain(self.problems, "What keeps the canvas from being sent: click one to select it",
                "Problems")  # fmt: skip
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

    # -- editing ------------------------------------------------------------------------------
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
        self.why_button.setEnabled(self.sent_id_at(position) is not None)
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

    def schedule_selected(self) -> None:
        node = self.view.task_at(self.view.selected)
        if node is None:
            self.say("Select a task on the canvas to schedule it periodically")
            return
        self.schedule_wanted.emit(node.task, list(node.args), dict(node.kwargs))

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
        self.send_anyway_action.setVisible(canvas_checks.only_testable(problems))

    def _select_problem(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path is not None:
            self.view.select(canvas_edit.parse_position(str(path)))
            self.view.setFocus()
