"""Canvas files, Celery signatures and the checks before sending: round trips and bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from celery import Celery, signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.app.probe import _signature
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import model as canvas
from desktop.core.canvas import python_text as canvas_python
from desktop.core.canvas import signatures as canvas_signatures
from desktop.core.canvas.checks import Target
from desktop.core.canvas.format import CanvasError
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode
from tests.canvas_strategies import canvases, json_values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "canvases").glob("*.json"))
SCHEMA = json.loads((ROOT / "resources" / "canvas.schema.json").read_text())
APP = Celery("canvas-tests", set_as_current=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_shipped_examples_load_match_the_schema_and_round_trip(path: Path) -> None:
    text = path.read_text()
    jsonschema.validate(json.loads(text), SCHEMA)
    loaded = canvas_format.loads(text)
    assert canvas_format.loads(canvas_format.dumps(loaded)) == loaded
    assert (
        canvas_signatures.from_signature(canvas_signatures.to_signature(loaded.root, APP))
        == loaded.root
    )


def test_the_tutorials_scenarios_are_all_shipped() -> None:
    assert [p.stem for p in EXAMPLES] == [
        "chain-s-and-si",
        "group-of-four-demos",
        "priority-demo",
        "routed-task1-task2",
        "t1-args-and-kwargs",
    ]
    demo = canvas_format.loads((ROOT / "resources/canvases/priority-demo.json").read_text()).root
    assert isinstance(demo, GroupNode)
    sent = [(c.task.rsplit(".", 1)[1], c.options["priority"]) for c in demo.children]  # type: ignore[union-attr]
    assert sent == [("t2", 5), ("t1", 1), ("t3", 10)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canvases)
def test_random_canvases_survive_json_and_celery_signatures_unchanged(drawn: Canvas) -> None:
    text = canvas_format.dumps(drawn)
    jsonschema.validate(json.loads(text), SCHEMA)
    assert canvas_format.loads(text) == drawn
    built = canvas_signatures.to_signature(drawn.root, APP)
    assert canvas_signatures.from_signature(built) == drawn.root
    # As a message would carry it: a plain dict, turned back into a signature by Celery.
    carried = signature(json.loads(json.dumps(built)), app=APP)
    assert canvas_signatures.from_signature(carried) == drawn.root


def _mutations(document: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid documents with one element replaced by something arbitrary."""
    paths = []

    def collect(value: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                collect(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                collect(item, (*path, index))

    collect(document, ())

    def mutate(pair: tuple[tuple[Any, ...], Any]) -> Any:
        path, replacement = pair
        if not path:
            return replacement
        changed = copy.deepcopy(document)
        target = changed
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = replacement
        return changed

    return st.tuples(st.sampled_from(paths), json_values).map(mutate)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_malformed_files_are_refused_with_a_path_and_never_crash(data: st.DataObject) -> None:
    base = json.loads(EXAMPLES[0].read_text())
    broken = data.draw(_mutations(base) | json_values)
    text = json.dumps(broken)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, max(0, len(text) - 1)))]  # a cut-off file
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        with pytest.raises(CanvasError) as refused:
            canvas_format.loads(text)
        assert refused.value.path == "file" and "not valid JSON" in refused.value.message
        return
    schema_ok = jsonschema.Draft202012Validator(SCHEMA).is_valid(parsed)
    try:
        loaded = canvas_format.loads(text)
    except CanvasError as exc:
        assert exc.path and exc.message
        assert not schema_ok, f"the schema accepts what the loader refuses: {exc}"
        return
    assert schema_ok, "the loader accepts what the schema refuses"
    assert canvas_format.loads(canvas_format.dumps(loaded)) == loaded


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda d: d["root"]["children"][2].update(args="x"), "root.children[2].args", "list"),
        (lambda d: d["root"]["children"][0].update(colour=1), "root.children[0].colour", "unknown"),
        (
            lambda d: d["root"]["children"][1]["options"].update(priority=300),
            "root.children[1].options.priority",
            "0 to 255",
        ),
        (
            lambda d: d["root"]["children"][1]["options"].update(retry=True),
            "root.children[1].options.retry",
            "unknown option",
        ),
        (lambda d: d.update(version=2), "version", "not supported"),
        (lambda d: d.update(format="other"), "format", "not a Celery Desk canvas"),
        (lambda d: d["root"].update(children=[]), "root.children", "non-empty"),
        (lambda d: d["root"].update(type="star"), "root.type", "task, chain, group, chord"),
    ],
)
def test_a_bad_element_is_named_by_its_path(change: Any, path: str, words: str) -> None:
    document = json.loads((ROOT / "resources/canvases/group-of-four-demos.json").read_text())
    change(document)
    with pytest.raises(CanvasError) as refused:
        canvas_format.loads(json.dumps(document))
    assert refused.value.path == path
    assert words in refused.value.message


def test_invalid_json_is_refused_with_its_position() -> None:
    with pytest.raises(CanvasError, match=r"not valid JSON .* line 1, column 2"):
        canvas_format.loads("{]")


def _registered() -> dict[str, list[dict[str, Any]]]:
    """The shipped app's tasks with their parameters, read the way the app probe reads them."""
    from workers import app

    app.loader.import_default_modules()
    return {name: _signature(task) for name, task in app.tasks.items() if name.startswith("work")}


def test_checks_before_sending_mark_each_problem_on_its_node() -> None:
    chain_text = (ROOT / "resources/canvases/chain-s-and-si.json").read_text()
    from desktop.core.app import probe as app_probe
    from desktop.core.app.config import from_probe
    from desktop.core.settings.profile_model import Profile
    from workers import app

    app.loader.import_default_modules()
    config = from_probe(app_probe.describe(app), Profile(name="t"))
    target = Target.for_config(config, True, consumed=frozenset({"tasks"}))
    assert target.tasks is not None and set(_registered()) <= set(target.tasks)
    assert canvas_checks.check(canvas_format.loads(chain_text), target) == []

    broken = ChainNode(
        [
            TaskNode("workers.tasks.demo1"),
            TaskNode("workers.tasks.add", [1]),  # gets demo1's result too: 2 args, fine
            TaskNode("workers.tasks.add", [1, 2]),  # 3 with the previous result: too many
            TaskNode("workers.tasks.t1", [1, 2], {"colour": "red"}, immutable=True),
            TaskNode("workers.tasks.nope", immutable=True),
            TaskNode("workers.tasks.mul", [2, 3], immutable=True, options={"priority": 12}),
            TaskNode("workers.tasks.add", [1, 2], immutable=True, options={"queue": "queue1"}),
            GroupNode([TaskNode("workers.tasks.add", [1, 2], immutable=True)]),
            TaskNode("workers.tasks.xsum"),
        ]
    )
    problems = {
        (p.path, p.level): p.message for p in canvas_checks.check(Canvas("", broken), target)
    }
    assert set(problems) == {
        ("2", "error"),
        ("3", "error"),
        ("4", "error"),
        ("5", "warning"),
        ("6", "warning"),
    }
    assert "at most 2 positional argument(s), gets 3" in problems[("2", "error")]
    assert "no parameter 'colour'" in problems[("3", "error")]
    assert "unknown task 'workers.tasks.nope'" in problems[("4", "error")]
    assert "treated as 9" in problems[("5", "warning")]
    assert "no worker consumes queue 'queue1'" in problems[("6", "warning")]

    no_backend = Target(tasks=target.tasks, has_backend=False)
    found = canvas_checks.check(Canvas("", broken), no_backend)
    assert any(p.path == "7" and "chord" in p.message for p in found)
    missing = canvas_checks.check(Canvas("", TaskNode("workers.tasks.t1", [1])), target)
    assert [p.message for p in missing] == ["workers.tasks.t1 misses argument(s) b"]


def test_a_priority_no_worker_of_the_app_reads_is_refused() -> None:
    """The app uses kombu's default steps [0, 3, 6, 9]; a profile overriding them with 0..9
    would push priority 5 into the step-5 list, which those workers never read."""
    from desktop.core.settings.profile_model import Profile, TransportOverrides
    from tests.factories import app_config

    profile = Profile(name="p", transport=TransportOverrides(priority_steps=list(range(10))))
    config = app_config(
        broker_transport_options={"queue_order_strategy": "priority"},
        tasks={"t.plain": {}, "t.five": {"priority": 5}},
        profile=profile,
    )
    target = Target.for_config(config, True)
    for priority, refused in ((0, False), (3, False), (5, True), (9, False), (12, False)):
        node = TaskNode("t.plain", options={"priority": priority})
        errors = [p for p in canvas_checks.check(Canvas("", node), target) if p.level == "error"]
        assert bool(errors) is refused, (priority, errors)
        if refused:
            assert "never read" in errors[0].message and "0, 3, 6, 9" in errors[0].message
    # The task's own priority (Celery merges it in when sending) counts too.
    own = canvas_checks.check(Canvas("", TaskNode("t.five")), target)
    assert [p.level for p in own] == ["error"]
    # A container's priority wins over its member's own, as in Celery: priority 1 (step 1, not
    # read by the app's workers) is refused although the task itself says 0.
    wrapped = canvas.GroupNode(
        [TaskNode("t.plain", options={"priority": 0})], options={"priority": 1}
    )
    refused = [p for p in canvas_checks.check(Canvas("", wrapped), target) if p.level == "error"]
    assert refused and "priority 1" in refused[0].message
    # Without the override, nothing is refused: the panel sends as the app does.
    plain = app_config(tasks={"t.five": {"priority": 5}})
    assert canvas_checks.check(Canvas("", TaskNode("t.five")), Target.for_config(plain, True)) == []


def test_copy_as_python_builds_the_same_workflow() -> None:
    for path in EXAMPLES:
        loaded = canvas_format.loads(path.read_text())
        code = canvas_python.python_code(loaded)
        runnable = code.replace("result = workflow.apply_async()\n", "")
        namespace: dict[str, Any] = {}
        exec(compile(runnable, str(path), "exec"), namespace)
        assert canvas_signatures.from_signature(namespace["workflow"]) == loaded.root, code
