"""The shipped examples opened on another app: each task mapped to the app's task of the same
short name (or the tutorial's name for it), and only where exactly one matches."""

from __future__ import annotations

from pathlib import Path

from desktop.core.canvas import library as canvas_library
from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, TaskNode

EXAMPLES = canvas_library.EXAMPLES_DIR
# The tutorial's Django app, as tests/fixtures/dcelery/apis/tasks.py registers it.
DCELERY = [
    "apis.tasks.shared_task_demo1",
    "apis.tasks.shared_task_demo2",
    "apis.tasks.task1",
    "apis.tasks.task2",
    "apis.tasks.t1",
]


def _tasks(path: Path) -> list[TaskNode]:
    root = canvas_library.read(path).root
    kids = root.children if isinstance(root, ChainNode | GroupNode) else [root]
    return [k for k in kids if isinstance(k, TaskNode)]


def test_an_example_on_the_tutorials_django_app_calls_its_tasks() -> None:
    example = canvas_library.read(EXAMPLES / "priority-demo.json")
    result = canvas_library.map_to_app(example, DCELERY)
    assert result.mapped == {"workers.tasks.t1": "apis.tasks.t1"}
    assert result.unmatched == {"workers.tasks.t2": [], "workers.tasks.t3": []}
    root = result.canvas.root
    assert isinstance(root, GroupNode)
    # Only the name changes: arguments, options and the order stay.
    assert root.children[1] == TaskNode(
        "apis.tasks.t1", [1, 2], options={"queue": "tasks", "priority": 1}
    )
    assert [c.task for c in root.children] == [  # type: ignore[union-attr]
        "workers.tasks.t2",
        "apis.tasks.t1",
        "workers.tasks.t3",
    ]
    assert result.summary() == (
        "mapped 1 task(s) to this app: workers.tasks.t1 → apis.tasks.t1; "
        "not in this app: workers.tasks.t2, workers.tasks.t3"
    )
    assert example.root != root  # the example read is left alone


def test_the_tutorials_names_for_the_demo_tasks_come_after_the_exact_name() -> None:
    chain = canvas_library.read(EXAMPLES / "chain-s-and-si.json")
    result = canvas_library.map_to_app(chain, DCELERY)
    assert result.mapped == {
        "workers.tasks.demo1": "apis.tasks.shared_task_demo1",
        "workers.tasks.demo2": "apis.tasks.shared_task_demo2",
    }
    assert set(result.unmatched) == {"workers.tasks.demo3", "workers.tasks.demo4"}
    # An app that has a `demo1` of its own gets that one, not its shared_task_demo1.
    both = canvas_library.map_to_app(chain, ["proj.demo1", "proj.shared_task_demo1"])
    assert both.mapped["workers.tasks.demo1"] == "proj.demo1"


def test_a_name_two_modules_share_or_the_app_already_has_is_not_mapped() -> None:
    drawn = Canvas(
        "x",
        ChordNode(
            [TaskNode("workers.tasks.add", [1, 2]), TaskNode("workers.tasks.mul", [3])],
            TaskNode("workers.tasks.xsum", immutable=True),
        ),
    )
    app = ["a.tasks.add", "b.tasks.add", "workers.tasks.mul", "c.xsum"]
    result = canvas_library.map_to_app(drawn, app)
    assert result.mapped == {"workers.tasks.xsum": "c.xsum"}
    assert result.unmatched == {"workers.tasks.add": ["a.tasks.add", "b.tasks.add"]}
    assert result.canvas.root == ChordNode(
        [TaskNode("workers.tasks.add", [1, 2]), TaskNode("workers.tasks.mul", [3])],
        TaskNode("c.xsum", immutable=True),
    )
    assert "workers.tasks.add (several: a.tasks.add, b.tasks.add)" in result.summary()


def test_on_the_shipped_app_every_example_stays_as_it_is() -> None:
    from workers import app

    app.loader.import_default_modules()
    for path in sorted(EXAMPLES.glob("*.json")):
        example = canvas_library.read(path)
        result = canvas_library.map_to_app(example, app.tasks)
        assert result == canvas_library.Mapped(example), path.name
        assert result.summary() == ""
