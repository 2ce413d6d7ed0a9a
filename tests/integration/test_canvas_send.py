"""`sending.send` against what Celery really publishes: the ids it records for every task are
the ids of the task messages, for every canvas shape, and the root id is the workflow's.

Without a worker, Celery publishes the first tasks of a canvas and carries the others inside
those messages (a chain's later steps, a chord's body), each with the id it will be sent
under; the messages are read back from the Redis lists. With a worker, the ids that ran are
read from the result backend."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, GroupNode, Node, TaskNode
from desktop.core.settings.profile_model import QueueSpec
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker

pytestmark = pytest.mark.slow
BROKER_DB, BACKEND_DB, WORKER_BACKEND_DB = 5, 6, 4  # this module's own databases


def add(*args: int, immutable: bool = False) -> TaskNode:
    return TaskNode("workers.tasks.add", list(args), immutable=immutable)


XSUM = TaskNode("workers.tasks.xsum")
# Every shape Celery treats in its own way, with the tutorial's tasks so a worker runs them.
SHAPES: dict[str, Node] = {
    "task": add(1, 2),
    "chain": ChainNode([add(1, 1), add(2), add(3)]),
    "group": GroupNode([add(1, 1), add(2, 2), add(3, 3)]),
    "chord": ChordNode([add(1, 1), add(2, 2)], XSUM),
    "chain ending in a group": ChainNode([add(1, 1), GroupNode([add(1), add(2)])]),
    "group then a step (a chord in a chain)": ChainNode(
        [add(1, 1), GroupNode([add(1), add(2), add(3)]), XSUM]
    ),
    "chain starting with a group": ChainNode([GroupNode([add(1, 1), add(2, 2)]), XSUM, add(1)]),
    "chain ending in a chord": ChainNode([add(1, 1), ChordNode([add(1), add(2)], XSUM)]),
    "chain of chords": ChainNode(
        [ChordNode([add(1, 1), add(2, 2)], XSUM), ChordNode([add(1), add(2)], XSUM)]
    ),
    "two groups in a row": ChainNode(
        [GroupNode([add(1, 1), add(2, 2)]), GroupNode([add(3, 3, immutable=True)] * 2)]
    ),
    "nested groups in a chain": ChainNode(
        [add(1, 1), GroupNode([GroupNode([add(1), add(2)]), add(3)]), XSUM]
    ),
    "group of chains": GroupNode([ChainNode([add(1, 1), add(1)]), ChainNode([add(2, 2), add(2)])]),
    "chord whose body is a chain": ChordNode([add(1, 1), add(2, 2)], ChainNode([XSUM, add(1)])),
    "chord whose body is a group": ChordNode(
        [add(1, 1)], GroupNode([add(5, 5, immutable=True), add(6, 6, immutable=True)])
    ),
    "chord in a chord's header": ChordNode(
        [ChordNode([add(1, 1), add(2, 2)], XSUM), add(3, 3)], XSUM
    ),
    "chain in a chord's header": ChordNode([ChainNode([add(1, 1), add(1)]), add(3, 3)], XSUM),
    "chain in a chain": ChainNode([ChainNode([add(1, 1), add(1)]), add(2)]),
    "group of one in a chain": ChainNode([add(1, 1), GroupNode([add(1)]), add(2)]),
}


# -- reading what was published ----------------------------------------------------------------
class Published:
    """The messages in every list of a database (every queue, every priority step), every task
    they send or carry (id -> name; None for a task carried without an id), the groups named."""

    def __init__(self, client: redis.Redis) -> None:
        self.messages: list[dict[str, Any]] = []
        self.tasks: dict[str | None, str] = {}
        self.groups: set[str] = set()
        for key in client.keys("*"):
            if client.type(key) != b"list":
                continue
            for raw in client.lrange(key, 0, -1):
                message = json.loads(raw)
                headers = message["headers"]
                self.tasks[headers["id"]] = headers["task"]
                self.groups.add(headers["group"])
                _args, _kwargs, embed = json.loads(base64.b64decode(message["body"]))
                for sig in [*(embed.get("chain") or []), embed.get("chord")]:
                    if sig:
                        self._carried(sig)
                self.messages.append(message)
        self.groups.discard(None)  # type: ignore[arg-type]

    def _carried(self, sig: dict[str, Any]) -> None:
        kind = sig.get("subtask_type")
        kwargs, options = sig.get("kwargs") or {}, sig.get("options") or {}
        if kind in ("chain", "group"):
            members = list(kwargs["tasks"])
        elif kind == "chord":
            header = kwargs["header"]
            members = list(header["kwargs"]["tasks"] if isinstance(header, dict) else header)
            members.append(kwargs["body"])
        else:
            self.tasks[options.get("task_id")] = sig["task"]
            members = [options["chord"]] if options.get("chord") else []
        members += options.get("chain") or []  # what follows a chord's body, carried by it
        if kind == "group" and options.get("task_id"):
            self.groups.add(options["task_id"])
        if options.get("group_id"):
            self.groups.add(options["group_id"])
        for member in members:
            self._carried(member)


def _starts_with_a_task(node: Node, in_chain: bool = False) -> bool:
    """Whether a workflow starts with one task, not with a group or a chord's header."""
    if isinstance(node, ChainNode):
        return _starts_with_a_task(node.children[0], True)
    if isinstance(node, GroupNode) and in_chain and len(node.children) == 1:
        return _starts_with_a_task(node.children[0], True)  # Celery sends it as its one task
    return isinstance(node, TaskNode)


def _flush(embedded_redis: Any) -> None:
    for db in (BROKER_DB, BACKEND_DB):
        with redis.Redis.from_url(embedded_redis.url(db)) as client:
            client.flushdb()


@pytest.fixture(scope="module")
def no_worker(embedded_redis: Any) -> Iterator[tuple[Any, redis.Redis]]:
    """An app on a database of the embedded Redis that no worker reads."""
    app = panel_app(embedded_redis.url(BROKER_DB), embedded_redis.url(BACKEND_DB))
    client = redis.Redis.from_url(embedded_redis.url(BROKER_DB))
    try:
        yield app, client
    finally:
        client.close()
        app.close()
        _flush(embedded_redis)


def _check_against_messages(app: Any, client: redis.Redis, root: Node) -> None:
    client.flushdb()
    recorded: list[canvas_sending.SentNode] = []
    sent = canvas_sending.send(Canvas("ids", root), app, recorded.append)
    found = Published(client)
    # Every task recorded as its message went out, or with the message that carries it.
    assert {n.id for n in recorded} == {n.id for n in sent.nodes}
    assert all(any(n is m for m in sent.nodes) for n in recorded)  # with what went out
    assert {n.id: n.task for n in sent.nodes} == found.tasks
    if _starts_with_a_task(root):  # the first task's id is the root id every message carries
        assert sent.root_id == sent.nodes[0].id
        assert {m["headers"]["root_id"] for m in found.messages} == {sent.root_id}
    else:  # no single first task: the id of the group the workflow starts with
        if any(_ends_in_a_task(child) for child in _first_group(root).children):
            assert sent.root_id in found.groups
        # else no message carries that group's id: each of its children ends in a group of
        # its own, whose id its tasks carry; the id is Celery's GroupResult's, as for a person
        assert sent.root_id not in found.tasks


def _first_group(node: Node) -> Node:
    """The group a workflow that starts with no single task starts with."""
    if isinstance(node, ChainNode):
        return _first_group(node.children[0])
    if isinstance(node, ChordNode):
        return GroupNode(children=node.header)
    return node


def _ends_in_a_task(node: Node) -> bool:
    """Whether Celery sends this child of a group with that group's id: its last task is a
    plain task (a group's own tasks carry the inner group's id instead)."""
    if isinstance(node, TaskNode):
        return True
    if isinstance(node, ChainNode):
        return _ends_in_a_task(node.children[-1])
    if isinstance(node, ChordNode):
        return _ends_in_a_task(node.body)
    return False


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_records_the_ids_celery_publishes(
    no_worker: tuple[Any, redis.Redis], name: str
) -> None:
    _check_against_messages(*no_worker, SHAPES[name])


def _trees() -> st.SearchStrategy[Node]:
    leaves = st.builds(
        TaskNode,
        task=st.sampled_from(["workers.tasks.add", "workers.tasks.xsum"]),
        args=st.lists(st.integers(0, 9), max_size=2),
        immutable=st.booleans(),
    )

    def containers(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        children = st.lists(inner, min_size=1, max_size=3)
        return (
            st.builds(ChainNode, children=children)
            | st.builds(GroupNode, children=children)
            | st.builds(ChordNode, header=children, body=inner)
        )

    return st.recursive(leaves, containers, max_leaves=8)


@settings(
    max_examples=int(os.environ.get("CANVAS_SEND_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(root=_trees())
# Found by the search: no message carries the outer group's id (its one child ends in a group).
@example(root=GroupNode(children=[ChainNode(children=[GroupNode(children=[add(1), add(2)])])]))
def test_random_canvases_record_the_ids_celery_publishes(
    no_worker: tuple[Any, redis.Redis], root: Node
) -> None:
    _check_against_messages(*no_worker, root)


def test_a_worker_runs_exactly_the_recorded_ids_of_every_shape(
    embedded_redis: Any, prefix: str, tmp_path: Path
) -> None:
    """The result backend then holds one result per task that ran: exactly the ids recorded,
    each under its task's name; a workflow that starts with a group has that group's id."""
    queue = prefix + "tasks"
    backend_url = embedded_redis.url(WORKER_BACKEND_DB)
    results = redis.Redis.from_url(backend_url)
    results.flushdb()
    app = panel_app(embedded_redis.url(0), backend_url, None, [QueueSpec(queue)])
    app.conf.update(
        task_default_queue=queue, task_default_exchange=queue, task_default_routing_key=queue
    )
    worker = WorkerProcess(
        queues=[queue],
        broker_url=embedded_redis.url(0),
        backend_url=backend_url,
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=2,
    )
    try:
        with running_worker(app, worker):
            sent = {
                name: canvas_sending.send(Canvas(name, root), app) for name, root in SHAPES.items()
            }
            recorded = {n.id: n.task for each in sent.values() for n in each.nodes}
            keys = [f"celery-task-meta-{task_id}" for task_id in recorded]
            deadline = time.monotonic() + 30
            while results.exists(*keys) < len(keys) and time.monotonic() < deadline:
                time.sleep(0.2)
            ran = {}
            for key in results.keys("celery-task-meta-*"):
                meta = json.loads(results.get(key))
                ran[meta["task_id"]] = meta
            assert {k: m["name"] for k, m in ran.items()} == recorded, worker.output()[-3000:]
            assert {m["status"] for m in ran.values()} == {"SUCCESS"}
            for name, each in sent.items():
                if not _starts_with_a_task(SHAPES[name]):
                    assert each.root_id in {ran[n.id].get("group_id") for n in each.nodes}, name
    finally:
        results.flushdb()
        results.close()
        app.close()


def test_sending_leaves_no_result_to_reconnect_when_python_exits(embedded_redis: Any) -> None:
    """Celery's group results subscribe to their tasks' results on an asynchronous backend;
    kept until exit, they reconnect to unsubscribe while Python shuts down."""
    script = """
import os
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas import model as canvas
from desktop.core.app.panel_app import panel_app
from tests.integration.test_canvas_send import SHAPES
app = panel_app(os.environ["CELERY_BROKER"], os.environ["CELERY_BACKEND"])
for name in ("group", "chord", "group then a step (a chord in a chain)"):
    canvas_sending.send(canvas.Canvas(name, SHAPES[name]), app)
app.close()
print("sent")
"""
    urls = {  # passwords stay out of the command line
        "CELERY_BROKER": embedded_redis.url(BROKER_DB),
        "CELERY_BACKEND": embedded_redis.url(BACKEND_DB),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            env={**os.environ, **urls},
            check=False,
        )
    finally:
        _flush(embedded_redis)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent\n"
    assert "Exception ignored" not in done.stderr, done.stderr


def test_the_journal_records_the_queue_and_priority_celery_sent(
    no_worker: tuple[Any, redis.Redis],
) -> None:
    """A container's options reach its tasks by Celery's rules, not ours: a group's priority and
    queue win over its members' own, a chain's reach its first step only and win there too.
    What is recorded after sending is what the published messages carry."""
    app, client = no_worker
    add = "workers.tasks.add"
    shapes = {
        "group": GroupNode(
            [TaskNode(add, [1, 1], options={"priority": 7}), TaskNode(add, [2, 2])],
            options={"priority": 3, "queue": "grouped"},
        ),
        "chain": ChainNode(
            [TaskNode(add, [1, 1], options={"priority": 1}), TaskNode(add, [2])],
            options={"priority": 4},
        ),
    }
    expected = {"group": [(3, "grouped"), (3, "grouped")], "chain": [(4, "celery")]}
    for name, root in shapes.items():
        client.flushdb()
        recorded: dict[str, tuple[Any, Any]] = {}  # as the journal keeps it: the last record

        def keep(
            node: canvas_sending.SentNode, into: dict[str, tuple[Any, Any]] = recorded
        ) -> None:
            into[node.id] = (node.priority, node.queue)

        canvas_sending.send(Canvas(name, root), app, keep)
        messages = {m["headers"]["id"]: m for m in Published(client).messages}
        went = sorted(
            (m["properties"]["priority"], m["properties"]["delivery_info"]["routing_key"])
            for m in messages.values()
        )
        assert went == expected[name]
        for task_id, message in messages.items():
            assert recorded[task_id] == (
                message["properties"]["priority"],
                message["properties"]["delivery_info"]["routing_key"],
            ), name
