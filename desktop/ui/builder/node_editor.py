"""The editor beside the canvas: a form for the selected node's arguments and send options.

Fields map onto the node's own args/kwargs split and only the touched value moves, so a canvas
read from a file keeps its shape when one argument is edited. Every commit is checked first; a
bad field says why under itself, keeps what the person typed and changes nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.canvas.model import Node, TaskNode
from desktop.ui.builder.node_options import (
    EditorContext,
    NodeOptionsForm,
    _label,
    _number,
    _set_error,
    _stack,
)
from desktop.ui.common.accessible import explain, name_rows
from desktop.ui.common.wheel_guard import wheel_only_when_focused

POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
VARIADIC = ("VAR_POSITIONAL", "VAR_KEYWORD")
BOOL_CHOICES = ["(default)", "true", "false"]
KIND_TEXT = {
    "ChainNode": "chain: runs left to right, each step gets the previous result",
    "GroupNode": "group: runs in parallel",
    "ChordNode": "chord: a group, then the body with all results",
}


# annotations that get a typed field, and whether a value already fits it (else: a JSON field)
TYPED: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
}


class NodeEditor(NodeOptionsForm):
    """Edits one node; emits node_changed with a new node for every valid commit."""

    replace_requested = Signal()  # "Replace task…": the builder offers the app's tasks

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._node: Node | None = None
        self._context = EditorContext(None, False, False, None)
        self._feeds = False  # this position gets the previous result when the node is s()
        self._form: QWidget | None = None
        self.arg_fields: dict[str, QWidget] = {}
        self.arg_errors: dict[str, QLabel] = {}
        self._arg_kinds: dict[str, str] = {}
        self.option_fields: dict[str, QLineEdit] = {}
        self.option_errors: dict[str, QLabel] = {}
        self.hint = _label("muted", "Select a node on the canvas to edit it.")
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self._scroll)

    def node(self) -> Node | None:
        return self._node

    def focus_first_field(self) -> bool:
        """The keyboard's way in (F6 in the Builder): the first argument a person can type,
        else the queue; False when no node is shown."""
        if self._node is None:
            return False
        fields: list[QWidget] = [f for f in self.arg_fields.values() if f.isEnabled()]
        if isinstance(self._node, TaskNode) and self.raw_toggle.isChecked():
            fields = [self.raw_text]
        target = fields[0] if fields else self.queue_box
        target.setFocus(Qt.FocusReason.TabFocusReason)
        return True

    def show_node(self, node: Node | None, path: str, context: EditorContext) -> None:
        self._node, self._context = node, context
        self._form = None  # it belongs to the previous content, which Qt deletes below
        self.arg_fields = {}  # so are these: a chain or group has none
        self.hint.setVisible(node is None)
        self._scroll.setVisible(node is not None)
        if node is None:
            old = self._scroll.takeWidget()
            if old is not None:
                old.deleteLater()
            return
        content = QWidget()
        layout = QVBoxLayout(content)
        kind = type(node).__name__
        title = _label("heading", node.task if isinstance(node, TaskNode) else KIND_TEXT[kind])
        title.setStyleSheet("font-weight: 600")
        layout.addWidget(title)
        layout.addWidget(_label("muted", f"node {path}"))
        if isinstance(node, TaskNode):
            self.replace_button = QPushButton("Replace task…")
            self.replace_button.setToolTip(
                "Call another of the app's tasks here; arguments, options and s()/si() stay (F2)"
            )
            self.replace_button.clicked.connect(lambda: self.replace_requested.emit())
            layout.addWidget(self.replace_button)
            self._feeds = context.receives or (context.in_chain and node.immutable)
            self._build_call(layout, node)
        layout.addWidget(self._build_options(node))
        layout.addStretch(1)
        self._scroll.setWidget(content)  # deletes the previous node's widgets
        self._update_notes()
        self._order_tabs()

    # -- arguments --------------------------------------------------------------------------
    def _build_call(self, layout: QVBoxLayout, node: TaskNode) -> None:
        self.si_box = QCheckBox("si(): ignore the previous result")
        self.si_box.setChecked(node.immutable)
        self.si_box.setEnabled(self._context.in_chain)
        self.si_box.toggled.connect(self._set_immutable)
        explain(self.si_box, "Call it with si(): it does not receive the previous step's result")
        layout.addWidget(self.si_box)
        note = "s() passes the previous step's result as the first argument; si() does not."
        layout.addWidget(_label("muted", note))
        group = QGroupBox("Arguments")
        self._arguments = QVBoxLayout(group)
        known = self._context.params is not None
        self.raw_toggle = QCheckBox("Raw JSON")
        self.raw_toggle.setChecked(not known)
        self.raw_toggle.setEnabled(known)
        self.raw_toggle.toggled.connect(self._show_raw)
        explain(self.raw_toggle, "Edit the arguments as one JSON object instead of field by field")
        self._arguments.addWidget(self.raw_toggle)
        if not known:
            unknown = "Task not known to the app: arguments as raw JSON."
            self._arguments.addWidget(_label("muted", unknown))
        self.raw_text = QPlainTextEdit(self._raw_json())
        self.raw_error = _label("error")
        self.raw_apply = QPushButton("Apply")
        self.raw_apply.clicked.connect(self._apply_raw)
        explain(self.raw_text, 'The call\'s arguments as JSON: {"args": [...], "kwargs": {...}}',
                "Arguments as JSON")  # fmt: skip
        explain(self.raw_apply, "Take the JSON above as the task's arguments")
        self._raw_box = _stack(self.raw_text, self.raw_error, self.raw_apply)
        self._arguments.addWidget(self._raw_box)
        layout.addWidget(group)
        self._fill_form()
        self._show_raw(not known)

    def _order_tabs(self) -> None:
        """Tab goes down the form as it reads: a form made again (after si() or raw JSON)
        would otherwise come last in the window's chain, and Tab from its last field would
        leave the Builder for the tool bar."""
        if not isinstance(self._node, TaskNode):
            return
        chain = [self.raw_toggle, *self.arg_fields.values(), self.raw_text, self.raw_apply]
        chain.append(self.queue_box)
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _show_raw(self, on: bool) -> None:
        self._raw_box.setVisible(on)
        if self._form is not None:
            self._form.setVisible(not on)

    def _task(self) -> TaskNode:
        assert isinstance(self._node, TaskNode)
        return self._node

    def _params(self) -> list[dict[str, Any]]:
        return self._context.params or []

    def _fed(self) -> str | None:
        first = [p["name"] for p in self._params() if p["kind"] in POSITIONAL][:1]
        return first[0] if first and self._feeds and not self._task().immutable else None

    def _positional(self) -> list[dict[str, Any]]:
        """The positional parameters that args fill, after the one the previous result feeds."""
        fed = self._fed()
        return [p for p in self._params() if p["kind"] in POSITIONAL and p["name"] != fed]

    def _named(self) -> set[str]:
        return {p["name"] for p in self._params() if p["kind"] not in VARIADIC}

    def _arg_value(self, param: dict[str, Any]) -> tuple[bool, Any]:
        """(present, value) of a parameter in the node's own args/kwargs split."""
        node, name, kind = self._task(), param["name"], param["kind"]
        positional = self._positional()
        if kind in POSITIONAL:
            index = [p["name"] for p in positional].index(name)
            if index < len(node.args):
                return True, node.args[index]
        if kind == "VAR_POSITIONAL":
            extra = node.args[len(positional) :]
            return bool(extra), extra
        if kind == "VAR_KEYWORD":
            extras = {k: v for k, v in node.kwargs.items() if k not in self._named()}
            return bool(extras), extras
        return name in node.kwargs, node.kwargs.get(name)

    def _fill_form(self) -> None:
        if self._form is not None:
            self._form.setParent(None)
            self._form.deleteLater()
        self._form = QWidget()
        form = QFormLayout(self._form)
        form.setContentsMargins(0, 0, 0, 0)
        self.arg_fields, self.arg_errors, self._arg_kinds = {}, {}, {}
        for param in self._params():
            name, annotation = param["name"], param.get("annotation") or ""
            label = f"{name}: {annotation}" if annotation else name
            if name == self._fed():
                fed = QLineEdit("← previous result")
                fed.setCursorPosition(0)
                self.arg_fields[name] = fed
                self.arg_fields[name].setEnabled(False)
                form.addRow(label, self.arg_fields[name])
                continue
            present, value = self._arg_value(param)
            fits = annotation in TYPED and (not present or TYPED[annotation](value))
            kind = annotation if fits and param["kind"] not in VARIADIC else "json"
            self._arg_kinds[name] = kind
            self.arg_fields[name] = self._editor(param, kind, present, value)
            self.arg_errors[name] = _label("error")
            form.addRow(label, _stack(self.arg_fields[name], self.arg_errors[name]))
        if not self._params():
            form.addRow(_label("muted", "Takes no arguments."))
        name_rows(form)  # the field's placeholder says the rest: required, its default
        self._arguments.insertWidget(self._arguments.count() - 1, self._form)
        self._form.setVisible(not self.raw_toggle.isChecked())
        wheel_only_when_focused(self._form)

    def _editor(self, param: dict[str, Any], kind: str, present: bool, value: Any) -> QWidget:
        if kind == "bool":
            combo = QComboBox()
            combo.addItems(BOOL_CHOICES)
            combo.setCurrentIndex(0 if not present else (1 if value else 2))
            combo.currentIndexChanged.connect(lambda _i, p=param: self._commit_arg(p))
            return combo
        edit = QLineEdit("" if not present else value if kind == "str" else json.dumps(value))
        placeholder = {
            "VAR_POSITIONAL": "extra arguments, a JSON list",
            "VAR_KEYWORD": "extra keyword arguments, a JSON object",
        }.get(param["kind"])
        default = param.get("default")
        edit.setPlaceholderText(placeholder or (f"default {default}" if default else "required"))
        edit.editingFinished.connect(lambda p=param: self._commit_arg(p))
        return edit

    def _read(self, param: dict[str, Any]) -> tuple[bool, Any]:
        """(given, value) from the field; ValueError says what is wrong with the text."""
        editor, kind = self.arg_fields[param["name"]], self._arg_kinds[param["name"]]
        if isinstance(editor, QComboBox):
            return editor.currentIndex() > 0, editor.currentIndex() == 1
        assert isinstance(editor, QLineEdit)
        text = editor.text() if kind == "str" else editor.text().strip()
        if not text or kind == "str":
            return bool(text), text or None
        if kind == "int":
            try:
                return True, int(text)
            except ValueError:
                raise ValueError(f"not a whole number: {text}") from None
        try:
            value = json.loads(text)
        except ValueError as exc:
            value = exc
        if kind == "float" and not _number(value):
            raise ValueError(f"not a number: {text}")
        if isinstance(value, ValueError):
            raise ValueError(f"not JSON: {getattr(value, 'msg', value)}")
        if param["kind"] == "VAR_POSITIONAL" and not isinstance(value, list):
            raise ValueError("must be a JSON list, e.g. [1, 2]")
        if param["kind"] == "VAR_KEYWORD" and not isinstance(value, dict):
            raise ValueError('must be a JSON object, e.g. {"key": 1}')
        return True, value

    def _placed(
        self, param: dict[str, Any], given: bool, value: Any
    ) -> tuple[list[Any], dict[str, Any]]:
        """The node's args and kwargs with this one value put in, or taken out of, its place."""
        node, name, kind = self._task(), param["name"], param["kind"]
        args, kwargs = list(node.args), dict(node.kwargs)
        positional = self._positional()
        if kind == "VAR_POSITIONAL":
            head = args[: len(positional)]
            if not value:
                return head, kwargs
            rest = positional[len(head) :]
            lacking = [p["name"] for p in rest if p["name"] not in kwargs]
            if lacking:
                raise ValueError(f"extra arguments come last: give {', '.join(lacking)} first")
            return head + [kwargs.pop(p["name"]) for p in rest] + list(value), kwargs
        if kind == "VAR_KEYWORD":
            clash = sorted(set(value or {}) & self._named())
            if clash:
                raise ValueError(f"{', '.join(clash)}: use its own field")
            kept = {k: v for k, v in kwargs.items() if k in self._named()}
            return args, {**kept, **(value or {})}
        if kind not in POSITIONAL:
            if given:
                kwargs[name] = value
            else:
                kwargs.pop(name, None)
            return args, kwargs
        index = [p["name"] for p in positional].index(name)
        if given:
            if index < len(args):
                args[index] = value
            elif index == len(args) and name not in kwargs:
                args.append(value)
            elif kind != "POSITIONAL_ONLY" or name in kwargs:
                kwargs[name] = value
            else:
                raise ValueError(f"positional-only: give {positional[len(args)]['name']} first")
            return args, kwargs
        if index >= len(args):
            kwargs.pop(name, None)
            return args, kwargs
        if len(args) > len(positional):
            raise ValueError("extra positional arguments follow it: clear those first")
        later = list(zip(positional[index + 1 :], args[index + 1 :], strict=False))
        blocked = [p["name"] for p, _ in later if p["kind"] == "POSITIONAL_ONLY"]
        if blocked:
            raise ValueError(f"cannot clear: {', '.join(blocked)} after it is positional-only")
        kwargs.update({p["name"]: v for p, v in later})
        return args[:index], kwargs

    def _commit_arg(self, param: dict[str, Any]) -> None:
        try:
            args, kwargs = self._placed(param, *self._read(param))
        except ValueError as exc:
            _set_error(self.arg_errors[param["name"]], str(exc))
            return
        _set_error(self.arg_errors[param["name"]], "")
        self._commit(dataclasses.replace(self._task(), args=args, kwargs=kwargs))
        self.raw_text.setPlainText(self._raw_json())  # the form changed the call: show it raw

    def _raw_json(self) -> str:
        node = self._task()
        return json.dumps({"args": node.args, "kwargs": node.kwargs}, indent=2)

    def _apply_raw(self) -> None:
        try:
            data = json.loads(self.raw_text.toPlainText())
        except ValueError as exc:
            _set_error(self.raw_error, f"not JSON: {getattr(exc, 'msg', exc)}")
            return
        good = isinstance(data, dict) and not set(data) - {"args", "kwargs"}
        args, kwargs = (data.get("args", []), data.get("kwargs", {})) if good else (0, 0)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            _set_error(self.raw_error, 'must be {"args": [...], "kwargs": {...}}')
            return
        _set_error(self.raw_error, "")
        self._commit(dataclasses.replace(self._task(), args=args, kwargs=kwargs))
        self._fill_form()
        self._order_tabs()

    def _set_immutable(self, on: bool) -> None:
        self._commit(dataclasses.replace(self._task(), immutable=on))
        self._fill_form()  # si() changes which parameter args[0] fills
        self._order_tabs()
