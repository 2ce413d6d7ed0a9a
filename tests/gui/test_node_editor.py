"""The node editor with real widgets: fields map onto args/kwargs, bad input stays and says why."""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue
from PySide6.QtWidgets import QComboBox, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot

from desktop.core.canvas.model import ChainNode, TaskNode
from desktop.ui.builder.node_editor import NodeEditor
from desktop.ui.builder.node_options import EditorContext
from tests.factories import app_config


def param(
    name: str, kind: str = "POSITIONAL_OR_KEYWORD", default: str | None = None, **more: Any
) -> dict[str, Any]:
    """One parameter as the app probe describes it (repr of the default, annotation name)."""
    return {"name": name, "kind": kind, "default": default, "annotation": more.get("annotation")}


T1 = [
    param("a", annotation="int"),
    param("b", annotation="int"),
    param("message", default="'None'", annotation="str"),
]
DEMO3 = [
    param("previous_value", annotation="int"),
    param("seconds", default="1.0", annotation="float"),
]


def _queues() -> list[Queue]:
    return [
        Queue("tasks", Exchange("tasks"), routing_key="tasks",
              queue_arguments={"x-max-priority": 10}),
        Queue("queue1", Exchange("queue1"), routing_key="queue1"),
    ]  # fmt: skip


# An app on Redis with kombu's default steps [0, 3, 6, 9], t1 routed to queue1, and one on
# RabbitMQ whose 'tasks' queue has x-max-priority 10 and 'queue1' none.
REDIS = app_config(
    task_queues=_queues(),
    task_default_queue="tasks",
    task_routes={"workers.tasks.routed": {"queue": "queue1"}},
    tasks={"workers.tasks.t1": {}, "workers.tasks.routed": {}},
)
RABBIT = app_config("amqp://", task_queues=_queues(), task_default_queue="tasks")


def context(params: list[dict[str, Any]] | None = T1, **changes: Any) -> EditorContext:
    values: dict[str, Any] = {
        "params": params,
        "receives": False,
        "in_chain": False,
        "config": REDIS,
    }
    return EditorContext(**{**values, **changes})


def editor_with(
    qtbot: QtBot, node: Any, ctx: EditorContext | None = None
) -> tuple[NodeEditor, list[Any]]:
    editor = NodeEditor()
    qtbot.addWidget(editor)
    emitted: list[Any] = []
    editor.node_changed.connect(emitted.append)
    editor.show_node(node, "0.1", ctx or context())
    return editor, emitted


def line(editor: NodeEditor, name: str) -> QLineEdit:
    field = editor.arg_fields[name]
    assert isinstance(field, QLineEdit)
    return field


def commit(field: QLineEdit, text: str) -> None:
    field.setText(text)
    field.editingFinished.emit()


def test_fields_show_args_and_an_edit_keeps_the_split(qtbot: QtBot) -> None:
    node = TaskNode("workers.tasks.t1", [1, 2], {"message": "hi"})
    editor, emitted = editor_with(qtbot, node)
    assert [line(editor, n).text() for n in ("a", "b", "message")] == ["1", "2", "hi"]
    assert line(editor, "message").placeholderText() == "default 'None'"
    commit(line(editor, "b"), "5")
    assert len(emitted) == 1
    assert emitted[0] is not node
    assert emitted[0].args == [1, 5] and emitted[0].kwargs == {"message": "hi"}
    assert node.args == [1, 2]  # the shown node is never changed in place
    assert editor.node() == emitted[0]


def test_bad_int_shows_an_error_keeps_the_text_and_emits_nothing(qtbot: QtBot) -> None:
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.t1", [1, 2]))
    commit(line(editor, "a"), "x")
    error = editor.arg_errors["a"]
    assert emitted == []
    assert line(editor, "a").text() == "x"
    assert error.property("role") == "error" and "whole number" in error.text()
    assert not error.isHidden()
    commit(line(editor, "a"), "7")
    assert emitted[-1].args == [7, 2] and error.isHidden()


def test_empty_fields_fill_args_or_kwargs_and_clearing_moves_later_args(qtbot: QtBot) -> None:
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.t1", [1]))
    assert line(editor, "b").placeholderText() == "required"
    commit(line(editor, "message"), "later")  # not next in line: goes to kwargs
    assert (emitted[-1].args, emitted[-1].kwargs) == ([1], {"message": "later"})
    commit(line(editor, "b"), "2")  # next in line: appended
    assert (emitted[-1].args, emitted[-1].kwargs) == ([1, 2], {"message": "later"})
    commit(line(editor, "a"), "")  # a middle one: b moves to kwargs by name
    assert (emitted[-1].args, emitted[-1].kwargs) == ([], {"message": "later", "b": 2})


def test_positional_only_and_extra_arguments(qtbot: QtBot) -> None:
    params = [
        param("x", "POSITIONAL_ONLY"),
        param("y", "POSITIONAL_ONLY"),
        param("more", "VAR_POSITIONAL"),
    ]
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.p", [1, 2, 3, 4]), context(params))
    assert line(editor, "more").text() == "[3, 4]"
    commit(line(editor, "x"), "")  # y is positional-only: it cannot move to kwargs
    assert "extra positional" in editor.arg_errors["x"].text() and emitted == []
    commit(line(editor, "more"), "")
    assert emitted[-1].args == [1, 2]
    commit(line(editor, "x"), "")
    assert "positional-only" in editor.arg_errors["x"].text() and len(emitted) == 1
    assert line(editor, "x").text() == ""
    commit(line(editor, "more"), '{"a": 1}')
    assert "JSON list" in editor.arg_errors["more"].text()
    commit(line(editor, "more"), "[5]")
    assert emitted[-1].args == [1, 2, 5]


def test_previous_result_feeds_the_first_parameter(qtbot: QtBot) -> None:
    ctx = context(DEMO3, receives=True, in_chain=True)
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.demo3", [2.5]), ctx)
    fed = line(editor, "previous_value")
    assert not fed.isEnabled() and "previous result" in fed.text()
    assert line(editor, "seconds").text() == "2.5"
    assert editor.si_box.isEnabled() and not editor.si_box.isChecked()
    commit(line(editor, "seconds"), "soon")
    assert editor.arg_errors["seconds"].text() == "not a number: soon"
    commit(line(editor, "seconds"), "3")
    assert emitted[-1].args == [3]
    editor.si_box.setChecked(True)  # si(): args[0] now fills previous_value
    assert emitted[-1].immutable is True and emitted[-1].args == [3]
    assert line(editor, "previous_value").isEnabled()
    assert line(editor, "previous_value").text() == "3"


def test_bool_and_json_fields(qtbot: QtBot) -> None:
    params = [
        param("flag", "KEYWORD_ONLY", "False", annotation="bool"),
        param("numbers", annotation="list[int]"),
        param("rest", "VAR_KEYWORD"),
    ]
    node = TaskNode("workers.tasks.x", [[1]], {"other": 1})
    editor, emitted = editor_with(qtbot, node, context(params))
    assert line(editor, "rest").text() == '{"other": 1}'
    combo = editor.arg_fields["flag"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(1)
    assert emitted[-1].kwargs == {"other": 1, "flag": True}
    commit(line(editor, "numbers"), "[1, 2")
    assert "not JSON" in editor.arg_errors["numbers"].text() and len(emitted) == 1
    commit(line(editor, "numbers"), "[1, 2]")
    assert emitted[-1].args == [[1, 2]]


def test_raw_json_round_trip_and_bad_json_is_kept(qtbot: QtBot) -> None:
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.t1", [1, 2]))
    editor.raw_toggle.setChecked(True)
    editor.raw_text.setPlainText('{"args": [4], "kwargs": {"b": 6}}')
    editor.raw_apply.click()
    assert (emitted[-1].args, emitted[-1].kwargs) == ([4], {"b": 6})
    assert line(editor, "a").text() == "4" and line(editor, "b").text() == "6"
    editor.raw_text.setPlainText('{"args": [4,')
    editor.raw_apply.click()
    assert "not JSON" in editor.raw_error.text() and len(emitted) == 1
    assert editor.raw_text.toPlainText() == '{"args": [4,'
    editor.raw_text.setPlainText('{"args": {}}')
    editor.raw_apply.click()
    assert "must be" in editor.raw_error.text() and len(emitted) == 1


def test_unknown_task_starts_in_raw_mode(qtbot: QtBot) -> None:
    editor, _ = editor_with(qtbot, TaskNode("elsewhere.task", [1]), context(None))
    assert editor.raw_toggle.isChecked() and not editor.raw_toggle.isEnabled()
    assert '"args": [\n    1\n  ]' in editor.raw_text.toPlainText()


def test_priority_note_depends_on_the_broker(qtbot: QtBot) -> None:
    node = TaskNode("workers.tasks.t1", [1, 2], options={"queue": "tasks"})
    redis, emitted = editor_with(qtbot, node)
    redis.priority_spin.setValue(5)
    assert emitted[-1].options == {"queue": "tasks", "priority": 5}
    assert "lower number runs first" in redis.priority_note.text()
    assert "priority 5 is served with the 3 step" in redis.priority_note.text()
    ctx = context(config=RABBIT)
    rabbit, _ = editor_with(qtbot, node, ctx)
    rabbit.priority_spin.setValue(20)
    assert "higher number runs first" in rabbit.priority_note.text()
    assert "'tasks' has x-max-priority 10" in rabbit.priority_note.text()
    rabbit.queue_box.setCurrentText("queue1")
    rabbit.queue_box.lineEdit().editingFinished.emit()
    assert "'queue1' has no x-max-priority: priority is ignored" in rabbit.priority_note.text()


def test_priority_note_says_what_the_app_sends_when_none_is_given(qtbot: QtBot) -> None:
    """The tutorial's app sets task_default_priority = 5: a task sent without a priority goes
    with 5, not "as 0"."""
    tutorial = app_config(task_default_priority=5, tasks={"workers.tasks.t1": {}})
    editor, _ = editor_with(qtbot, TaskNode("workers.tasks.t1", [1, 2]), context(config=tutorial))
    text = editor.priority_note.text()
    assert "the app sends 5" in text and "served with the 3 step" in text
    assert "counts as 0" not in text and "as 0" not in text
    plain, _ = editor_with(qtbot, TaskNode("workers.tasks.t1", [1, 2]), context())
    assert "kombu counts it as 0" in plain.priority_note.text()


def test_untouched_options_keep_their_types(qtbot: QtBot) -> None:
    node = TaskNode("workers.tasks.t1", [1, 2], options={"countdown": 2, "queue": "tasks"})
    editor, emitted = editor_with(qtbot, node)
    assert editor.option_fields["countdown"].text() == "2"
    editor.priority_spin.setValue(7)
    options = emitted[-1].options
    assert options == {"countdown": 2, "queue": "tasks", "priority": 7}
    assert type(options["countdown"]) is int
    editor.option_fields["countdown"].editingFinished.emit()  # unchanged text: no new node
    assert len(emitted) == 1


def test_option_errors_and_clearing(qtbot: QtBot) -> None:
    node = TaskNode("workers.tasks.routed", [1, 2], options={"countdown": 2})
    editor, emitted = editor_with(qtbot, node, context())
    assert "routed to 'queue1'" in editor.queue_note.text()
    commit(editor.option_fields["eta"], "tomorrow")
    assert "ISO 8601" in editor.option_errors["eta"].text() and emitted == []
    assert editor.option_fields["eta"].text() == "tomorrow"
    commit(editor.option_fields["eta"], "2026-11-24T18:00:00+00:00")
    commit(editor.option_fields["expires"], "30")
    commit(editor.option_fields["countdown"], "")
    assert emitted[-1].options == {"eta": "2026-11-24T18:00:00+00:00", "expires": 30}


def test_container_shows_its_kind_and_options(qtbot: QtBot) -> None:
    chain = ChainNode([TaskNode("a"), TaskNode("b")])
    editor, emitted = editor_with(qtbot, chain)
    assert editor.arg_fields == {}
    editor.priority_spin.setValue(3)
    assert isinstance(emitted[-1], ChainNode) and emitted[-1].options == {"priority": 3}
    assert emitted[-1].children == chain.children


def test_show_node_emits_nothing_and_none_shows_the_hint(qtbot: QtBot) -> None:
    node = TaskNode("workers.tasks.t1", [1, 2], {}, False, {"priority": 4, "countdown": 1.5})
    editor, emitted = editor_with(qtbot, node)
    editor.show_node(ChainNode([node]), "0", context())
    editor.show_node(None, "", context())
    assert emitted == []
    assert editor.node() is None
    assert not editor.hint.isHidden()
    assert editor.hint.text() == "Select a node on the canvas to edit it."


def test_a_task_offers_replace_task_and_a_container_does_not(qtbot: QtBot) -> None:
    editor, emitted = editor_with(qtbot, TaskNode("workers.tasks.t1", [1, 2]))
    asked: list[bool] = []
    editor.replace_requested.connect(lambda: asked.append(True))
    assert editor.replace_button.text() == "Replace task…"
    editor.replace_button.click()
    assert asked == [True] and emitted == []  # the builder chooses; nothing changed here
    editor.show_node(ChainNode([TaskNode("workers.tasks.t1", [1, 2])]), "0", context())
    texts = [b.text() for b in editor.findChildren(QPushButton)]
    assert "Replace task…" not in texts
