"""Values that pass the checks can be sent (issue 13, defect 8), and a send that fails part way
records only what the broker took. Sent through kombu's in-memory transport: Celery's and
kombu's real sending code, without a server."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas import values as canvas_values
from desktop.core.canvas.checks import Target
from desktop.core.canvas.format import CanvasError
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from tests.factories import app_config


def _document(options: dict[str, Any] | None = None, args: str = "[1, 2]") -> str:
    second = {"type": "task", "task": "t.add", "options": options or {}}
    text = json.dumps(
        {
            "format": "celery-desk/canvas",
            "version": 1,
            "root": {"type": "group", "children": [{"type": "task", "task": "t.add"}, second]},
        }
    )
    return text.replace('"task": "t.add", "options"', f'"task": "t.add", "args": {args}, "options"')


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"countdown": float("inf")}, "finite"),
        ({"countdown": float("nan")}, "finite"),
        ({"countdown": 1e308}, "years 1 to 9999"),
        ({"countdown": 1e12}, "years 1 to 9999"),
        ({"expires": 1e12}, "years 1 to 9999"),
        ({"expires": -5}, "0 or more"),
        ({"eta": "9999-12-31T23:00:00-14:00"}, "years 1 to 9999"),
        ({"expires": "0001-01-01T00:00:00+14:00"}, "years 1 to 9999"),
    ],
)
def test_times_celery_cannot_compute_are_refused_on_their_node(
    options: dict[str, Any], words: str
) -> None:
    key = next(iter(options))
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(_document(options))
    assert refused.value.path == f"root.children[1].options.{key}"
    assert words in refused.value.message
    # A canvas built in code gets the same answer from the checks, on the node's position.
    node = TaskNode("t.add", options=options)
    problems = canvas_checks.check(Canvas("", GroupNode([TaskNode("t.add"), node])), Target())
    assert [(p.path, p.level) for p in problems] == [("1", "error")]
    assert words in problems[0].message and f"options.{key}" in problems[0].message


def test_the_longest_countdown_that_fits_is_taken_and_sent() -> None:
    past_the_bound = canvas_values.MAX_SECONDS + 1  # the JSON Schema's maximum too
    far = canvas_values.MAX_SECONDS  # about the year 9950
    canvas_format.loads(_document({"countdown": far, "expires": far}))
    with pytest.raises(CanvasError):
        canvas_format.loads(_document({"countdown": past_the_bound}))
    app = panel_app("memory://", "cache+memory://")
    try:
        node = TaskNode("t.add", [1, 2], options={"countdown": far, "expires": far})
        sent = canvas_sending.send(Canvas("", node), app)
        assert len(sent.nodes) == 1
    finally:
        app.close()


def test_a_number_too_long_for_python_is_refused_at_its_place() -> None:
    huge = "7" * 5000
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(_document(args=f'[1, {{"deep": [2, {huge}]}}]'))
    assert refused.value.path == "root.children[1].args[1].deep[1]"
    assert "5000 digits" in refused.value.message and "4300" in refused.value.message
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(_document({"priority": int("9" * 10)}).replace("9999999999", huge))
    assert refused.value.path == "root.children[1].options.priority"
    node = TaskNode("t.add", [10**5000])  # built in code: the checks say it
    problems = canvas_checks.check(Canvas("", node), Target())
    assert [p.path for p in problems] == [""] and "not JSON" in problems[0].message


def test_rabbitmq_refuses_a_time_to_live_over_3650_days() -> None:
    rabbit = Target(config=app_config("amqp://guest@localhost//"))
    redis = Target(config=app_config())
    limit = canvas_checks.RABBITMQ_MAX_TTL_S
    for expires, refused in ((limit, False), (limit + 1, True)):
        node = ChainNode([TaskNode("x"), TaskNode("y", options={"expires": expires})])
        found = [p for p in canvas_checks.check(Canvas("", node), rabbit) if p.level == "error"]
        assert [p.path for p in found] == (["1"] if refused else [])
        assert not [p for p in canvas_checks.check(Canvas("", node), redis) if p.level == "error"]
    in_twenty_years = (
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7300)
    ).isoformat()
    dated = TaskNode("x", options={"expires": in_twenty_years})
    found = canvas_checks.check(Canvas("", dated), rabbit)
    assert found and "3650 days" in found[0].message


def test_a_send_that_fails_part_way_records_only_what_was_sent() -> None:
    """The third task's arguments cannot be encoded (built in code, past the checks): the
    first two were published and are recorded, the rest never were and are not."""
    app = panel_app("memory://", "cache+memory://")
    recorded: list[canvas_sending.SentNode] = []
    children = [TaskNode("t.add", [1]), TaskNode("t.add", [2]), TaskNode("t.add", [object()])]
    drawn = Canvas("", GroupNode([*children, TaskNode("t.add", [4])]))
    try:
        with pytest.raises(canvas_sending.SendError) as failed:
            canvas_sending.send(drawn, app, recorded.append)
    finally:
        app.close()
    assert [n.path for n in recorded] == ["0", "1"]
    assert [n.path for n in failed.value.sent] == ["0", "1"]
    assert str(failed.value).startswith("2 of 4 task(s) sent, then ")


def test_a_group_inside_a_group_is_sent_with_every_task_recorded() -> None:
    app = panel_app("memory://", "cache+memory://")
    recorded: list[str] = []
    inner = GroupNode([TaskNode("t.add", [1]), GroupNode([TaskNode("t.add", [2])])])
    try:
        sent = canvas_sending.send(Canvas("", GroupNode([inner, TaskNode("t.add", [3])])), app,
                           lambda node: recorded.append(node.path))  # fmt: skip
    finally:
        app.close()
    assert sorted(recorded) == sorted(n.path for n in sent.nodes) == ["0.0", "0.1.0", "1"]


def test_nesting_past_the_panels_bound_is_refused_on_its_node() -> None:
    limit = canvas_values.MAX_NESTING
    deep_args = "[" * (limit + 1) + "]" * (limit + 1)
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(_document(args=deep_args))
    assert refused.value.path.startswith("root.children[1].args[0]")
    assert f"more than {limit} levels" in refused.value.message
    node: dict[str, Any] = {"type": "task", "task": "t"}
    for _ in range(limit + 1):
        node = {"type": "chain", "children": [node]}
    document = {"format": "celery-desk/canvas", "version": 1, "root": node}
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(json.dumps(document))
    assert refused.value.path == "root" + ".children[0]" * (limit + 1)
    canvas_format.loads(
        json.dumps({**document, "root": node["children"][0]})
    )  # at the bound: taken
