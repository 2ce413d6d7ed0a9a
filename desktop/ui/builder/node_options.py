"""The node editor's send options (queue, priority, countdown, ETA, expires, routing key), the
notes on where the node goes and at what priority, and the parts of the form the whole editor
shares: what it knows of the canvas's app, field labels and error lines, and the one commit.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app import priorities
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.canvas.format import CanvasError, check_options, node_to_json
from desktop.core.canvas.model import ChainNode, GroupNode, Node, TaskNode
from desktop.ui.common.accessible import name_rows

TEXT_OPTIONS = {"countdown": "Countdown (s)", "eta": "ETA", "expires": "Expires"}
TEXT_OPTIONS["routing_key"] = "Routing key"
OPTION_TIPS = {  # by the row's label: what each option of .set() does
    "Queue": "The queue the task is sent to; empty: the app's routes decide",
    "Priority": "The message's priority; the queue must support priorities",
    "Countdown (s)": "Run no sooner than this many seconds after sending",
    "ETA": "Run no sooner than this time",
    "Expires": "A worker that gets it later than this revokes it instead of running it",
    "Routing key": "The routing key the message is published with",
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class EditorContext:
    """What the editor needs to know about where the canvas goes."""

    params: list[dict[str, Any]] | None  # the task's parameters; None: not known
    receives: bool  # the node gets the previous result as its first argument
    in_chain: bool  # the node follows another step, so s()/si() matters
    config: EffectiveConfig | None  # the app's queues, routes and priority rules
    drift: str = ""  # what changed in the app's configuration since it was last read

    @property
    def queues(self) -> list[str]:
        return self.config.queue_names() if self.config else []


def _same(a: Node, b: Node | None) -> bool:
    """Equal including number types (2 vs 2.0), which == on dataclasses cannot tell apart."""
    return b is not None and json.dumps(node_to_json(a), default=repr) == json.dumps(
        node_to_json(b), default=repr
    )


def _label(role: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", role)
    label.setWordWrap(True)
    if role == "error" and not text:
        label.hide()
    return label


def _set_error(label: QLabel, message: str) -> None:
    label.setText(message)
    label.setVisible(bool(message))


def _stack(*widgets: QWidget) -> QWidget:
    cell = QWidget()
    stack = QVBoxLayout(cell)
    stack.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        stack.addWidget(widget)
    return cell


class NodeOptionsForm(QWidget):
    """The options section of the node editor, and the commit every field goes through."""

    node_changed = Signal(object)

    # set by NodeEditor.__init__
    _node: Node | None
    _context: EditorContext
    option_fields: dict[str, QLineEdit]
    option_errors: dict[str, QLabel]

    def _build_options(self, node: Node) -> QGroupBox:
        title = "Options"
        if isinstance(node, ChainNode):
            title = "Options (.set(): Celery gives them to the first step only)"
        elif isinstance(node, GroupNode):
            title = "Options (.set(): for every task in it)"
        elif not isinstance(node, TaskNode):
            title = "Options (.set() on the chord)"
        group = QGroupBox(title)
        form = QFormLayout(group)
        options = node.options
        self.option_errors = {key: _label("error") for key in ("queue", "priority", *TEXT_OPTIONS)}
        self.queue_box = QComboBox()
        self.queue_box.setEditable(True)
        self.queue_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.queue_box.addItems(["", *self._context.queues])
        self.queue_box.setCurrentText(options.get("queue", ""))
        queue_line = self.queue_box.lineEdit()
        assert queue_line is not None
        queue_line.setPlaceholderText("routing decides")
        queue_line.editingFinished.connect(self._commit_queue)
        self.queue_box.activated.connect(lambda _i: self._commit_queue())
        self.queue_note = _label("muted")
        errors = self.option_errors
        form.addRow("Queue", _stack(self.queue_box, errors["queue"], self.queue_note))
        self.priority_spin = QSpinBox()
        self.priority_spin.setRange(-1, 255)
        self.priority_spin.setSpecialValueText("default")
        self.priority_spin.setKeyboardTracking(False)  # typing 12 is one commit, not 1 then 12
        self.priority_spin.setValue(options.get("priority", -1))
        self.priority_spin.valueChanged.connect(
            lambda v: self._commit_option("priority", None if v < 0 else v)
        )
        self.priority_note = _label("muted")
        spin = _stack(self.priority_spin, errors["priority"], self.priority_note)
        form.addRow("Priority", spin)
        placeholders = {"countdown": "none", "eta": "ISO 8601, e.g. 2026-11-24T18:00:00+00:00"}
        placeholders["expires"] = "seconds or ISO 8601"
        self.option_fields = {}
        for key, label in TEXT_OPTIONS.items():
            value = options.get(key)
            edit = QLineEdit("" if value is None else str(value))
            edit.setPlaceholderText(placeholders.get(key, ""))
            edit.editingFinished.connect(lambda k=key: self._commit_text_option(k))
            self.option_fields[key] = edit
            form.addRow(label, _stack(edit, errors[key]))
        name_rows(form, OPTION_TIPS)
        return group

    def _commit_queue(self) -> None:
        self._commit_option("queue", self.queue_box.currentText().strip() or None)

    def _commit_text_option(self, key: str) -> None:
        text = self.option_fields[key].text().strip()
        value: Any = text or None
        if text and key in ("countdown", "expires"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            value = parsed if _number(parsed) else text  # "2" stays the int 2
        self._commit_option(key, value)

    def _commit_option(self, key: str, value: Any) -> None:
        assert self._node is not None
        options = dict(self._node.options)  # keeps the keys in place
        if value is None:
            options.pop(key, None)
        else:
            options[key] = value
        try:
            check_options(options, "options")
        except CanvasError as exc:
            _set_error(self.option_errors[key], exc.message)
            return
        _set_error(self.option_errors[key], "")
        self._commit(dataclasses.replace(self._node, options=options))

    def _commit(self, node: Node) -> None:
        if not _same(node, self._node):
            self._node = node
            self._update_notes()
            self.node_changed.emit(node)

    def _update_notes(self) -> None:
        assert self._node is not None
        config = self._context.config
        task = self._node.task if isinstance(self._node, TaskNode) else ""
        queue = self._node.options.get("queue")
        routed = config.routed_queue(task) if config and task else None
        if queue:
            known = queue in self._context.queues
            note = f"sent to '{queue}'" + ("" if known else " (not one of the app's queues)")
        elif routed and config is not None and routed == config.default_queue:
            note = f"the app's default queue '{routed}'"
        elif routed:
            note = f"routed to '{routed}' by the app's routes"
        elif config is not None:
            note = f"routing decides: the app's default queue '{config.default_queue}'"
        else:
            note = "routing decides (reading the app's configuration…)"
        self.queue_note.setText(note)
        priority = self._node.options.get("priority")
        if config is None:
            self.priority_note.setText("")
        else:
            where = queue or routed or config.default_queue
            text = priorities.priority_note(config, priority, where, task)
            self.priority_note.setText(
                f"{text}\n{self._context.drift}" if self._context.drift else text
            )
