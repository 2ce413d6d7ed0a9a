""" "Copy as Python": the code a person writes (`add.s(2, 3)` with its import), run for real
against a Celery app and compared with the signature the builder sends."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, _state, chain, chord, group
from celery.canvas import Signature, _chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import python_text as canvas_python
from desktop.core.canvas import signatures as canvas_signatures
from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, TaskNode
from tests.canvas_strategies import canvases_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "canvases").glob("*.json"))
APP = Celery("python-code-tests", set_as_current=False)
PROJECT = "deskcode_proj"  # a real package the tests write, with a task that clashes by name
# Its `add` and workers.tasks.add on one canvas clash: one name cannot import both.
IMPORTABLE = [
    "workers.tasks.add",
    "workers.tasks.t1",
    f"{PROJECT}.jobs.other",
    f"{PROJECT}.jobs.add",
]
NOT_IMPORTABLE = [
    "standalone",  # no module
    "my-app.tasks.add",  # not an identifier
    "proj.class.x",  # a keyword
    "workers.tasks.group",  # would shadow celery's group in the code itself
]


@pytest.fixture(scope="module", autouse=True)
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A package on sys.path as a person's project would be, with its own app object."""
    root = tmp_path_factory.mktemp("code")
    package = root / PROJECT
    package.mkdir()
    (package / "__init__.py").write_text(
        'from celery import Celery\n\ncelery_app = Celery("deskcode", set_as_current=False)\n'
    )
    (package / "jobs.py").write_text(
        textwrap.dedent(
            """\
            from celery import shared_task


            @shared_task
            def other(*args, **kwargs):
                return None


            @shared_task
            def add(*args, **kwargs):
                return None
            """
        )
    )
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == PROJECT]:
            del sys.modules[name]


def run(code: str) -> dict[str, Any]:
    """The copied code as a person runs it, minus the send: no broker is needed to build."""
    assert code.endswith("result = workflow.apply_async()\n"), code
    namespace: dict[str, Any] = {}
    # Shared tasks resolve through the current app: make it this module's, whatever app an
    # earlier test left current (one finalized before these tasks existed lacks them).
    previous = _state.get_current_app()
    APP.set_current()
    try:
        exec(compile(code.removesuffix("result = workflow.apply_async()\n"), "copied", "exec"),
             namespace)  # fmt: skip
    finally:
        previous.set_current()
    return namespace


def as_written(built: Any) -> Any:
    """The builder's signature as Celery's public functions build the same nesting: `chain()`
    splices a nested chain and makes a group followed by a step a chord, as sending a `_chain`
    does (Celery's prepare_steps)."""
    options = dict(built.options)
    made: Signature
    if isinstance(built, chord):
        made = chord([as_written(t) for t in built.tasks], as_written(built.body))
    elif isinstance(built, _chain):
        made = chain(*[as_written(t) for t in built.tasks])
    elif isinstance(built, group):
        made = group([as_written(t) for t in built.tasks])
    else:
        return built
    return made.set(**options) if options else made


def _tasks(node: Any) -> list[TaskNode]:
    if isinstance(node, TaskNode):
        return [node]
    kids = [*node.header, node.body] if isinstance(node, ChordNode) else node.children
    return [t for kid in kids for t in _tasks(kid)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canvases_of(st.sampled_from(IMPORTABLE + NOT_IMPORTABLE)))
def test_copied_python_builds_the_canvas_signature(drawn: Canvas) -> None:
    code = canvas_python.python_code(drawn)
    namespace = run(code)
    assert namespace["workflow"] == as_written(canvas_signatures.to_signature(drawn.root, APP)), (
        code
    )
    names = {t.task for t in _tasks(drawn.root)}
    for name in names:
        short = name.rsplit(".", 1)[-1]
        clash = any(n != name and n.rsplit(".", 1)[-1] == short for n in names & {*IMPORTABLE})
        in_app_signature = f"app.signature({name!r}" in code
        calls = [t for t in _tasks(drawn.root) if t.task == name]
        if name in IMPORTABLE and not clash:
            if any("self" not in t.kwargs for t in calls):
                module = name.rsplit(".", 1)[0]
                assert f"from {module} import " in code and short in namespace, code
            # s() cannot take `self=`: its own first parameter
            assert in_app_signature == any("self" in t.kwargs for t in calls), code
        else:
            assert in_app_signature, code


def test_the_examples_read_as_a_person_writes_them() -> None:
    """The tutorial's own shapes: `t2.s().set(queue=..., priority=...)`, `demo2.si()`."""
    code = {p.stem: canvas_python.python_code(canvas_format.loads(p.read_text())) for p in EXAMPLES}
    assert "from workers.tasks import t1, t2, t3\n" in code["priority-demo"]
    assert "t2.s().set(queue='tasks', priority=5)," in code["priority-demo"]
    assert "t1.s(1, 2).set(queue='tasks', priority=1)," in code["priority-demo"]
    assert "    demo1.s(),\n    demo3.s(),\n    demo2.si(),\n" in code["chain-s-and-si"]
    assert "workflow = t1.s(1, 2, message='addition performed')\n" in code["t1-args-and-kwargs"]
    assert "from celery import" not in code["t1-args-and-kwargs"]  # nothing of it is used
    assert all("app.signature" not in text for text in code.values())
    for path in EXAMPLES:
        loaded = canvas_format.loads(path.read_text())
        assert run(code[path.stem])["workflow"] == as_written(
            canvas_signatures.to_signature(loaded.root, APP)
        )


def test_what_cannot_be_imported_by_its_name_stays_app_signature() -> None:
    clashing = GroupNode(
        [
            TaskNode("workers.tasks.add", [1, 2]),
            TaskNode(f"{PROJECT}.jobs.add", [3], {"not a name": 1}, immutable=True),
            TaskNode("standalone", options={"queue": "tasks"}),
            TaskNode("workers.tasks.mul", [2], {"self": 1, "y": 2}),
            TaskNode("workers.tasks.xsum", [[1, 2]], {"if": 1, "y": 2}),
        ]
    )
    drawn = Canvas("clash\nand a second line", clashing)
    code = canvas_python.python_code(drawn)
    assert "app.signature('workers.tasks.add', args=(1, 2))" in code
    assert (
        f"app.signature('{PROJECT}.jobs.add', args=(3,), kwargs={{'not a name': 1}}, "
        "immutable=True)"
    ) in code
    assert "app.signature('standalone', queue='tasks')" in code
    assert "app.signature('workers.tasks.mul', args=(2,), kwargs={'self': 1, 'y': 2})" in code
    assert "xsum.s([1, 2], **{'if': 1, 'y': 2})" in code  # `if=1` is not Python
    assert code.startswith("# clash and a second line: made with Celery Desk\n")
    assert run(code)["workflow"] == as_written(canvas_signatures.to_signature(clashing, APP))


def test_a_group_of_one_group_keeps_its_own_options() -> None:
    """group(inner_group) would take the inner group's tasks and drop its options."""
    inner = GroupNode([TaskNode("workers.tasks.add", [1, 2])], {"queue": "queue1"})
    nested = GroupNode([inner])
    built = run(canvas_python.python_code(Canvas("", nested)))["workflow"]
    assert canvas_signatures.from_signature(built) == nested


def test_the_app_comes_from_the_profiles_app_module() -> None:
    """`-A proj:celery_app` names the attribute; `-A proj` means its `app`."""
    drawn = Canvas("", ChainNode([TaskNode("standalone"), TaskNode("workers.tasks.add", [1])]))
    code = canvas_python.python_code(drawn, f"{PROJECT}:celery_app")
    assert f"from {PROJECT} import celery_app as app\n" in code
    namespace = run(code)
    assert namespace["app"] is sys.modules[PROJECT].celery_app
    assert namespace["workflow"] == as_written(canvas_signatures.to_signature(drawn.root, APP))
    assert "from workers.app import app\n" in canvas_python.python_code(drawn, "workers.app:app")
    assert "from workers import app\n" in canvas_python.python_code(drawn, "workers")
