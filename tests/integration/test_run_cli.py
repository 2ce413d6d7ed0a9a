"""`celery-desk run FILE --wait --json`: the shipped examples on a real broker and worker."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.app.panel_app import panel_app
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.desk_cli import celery_desk
from tests.integration.worker_process import (
    REPO_ROOT,
    WorkerProcess,
    delete_rabbitmq_entities,
    running_worker,
)
from tests.support import with_prefix

pytestmark = pytest.mark.slow
EXAMPLES = REPO_ROOT / "resources" / "canvases"


def desk(*args: str) -> subprocess.CompletedProcess[str]:
    return celery_desk(*args, "--profile", "runner", timeout=120, cwd=REPO_ROOT)


def save_runner(broker_url: str, backend_url: str, prefix: str) -> list[QueueSpec]:
    """A profile named 'runner' on the broker with the app's three queues (max priority 10)."""
    queues = [QueueSpec(prefix + name, 10) for name in ("queue1", "queue2", "tasks")]
    Services.open().profiles.save(
        Profile(
            name="runner",
            broker_url=broker_url,
            result_backend=backend_url,
            workdir=str(REPO_ROOT),
            queues=queues,
        ),
        create=True,
    )
    return queues


@contextlib.contextmanager
def runner_worker(
    broker_url: str, backend_url: str, queues: list[QueueSpec], prefix: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """One worker (4 processes) for all of `queues`, online until the block ends."""
    client = panel_app(broker_url, backend_url, None, queues)
    process = WorkerProcess(
        queues=[q.name for q in queues],
        broker_url=broker_url,
        backend_url=backend_url,
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=4,
    )
    try:
        with running_worker(client, process) as running:
            yield running
    finally:
        client.close()


@pytest.fixture
def worker(
    broker_url: str, embedded_redis: Any, prefix: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """A profile named 'runner' on the broker and one worker for all three queues."""
    queues = save_runner(broker_url, embedded_redis.url(1), prefix)
    try:
        with runner_worker(broker_url, embedded_redis.url(1), queues, prefix, tmp_path) as running:
            yield running
    finally:
        if broker_url.startswith("amqp"):
            delete_rabbitmq_entities(broker_url, [q.name for q in queues])


EXPECTED = {
    "chain-s-and-si": [("demo1", 1), ("demo3", 11), ("demo2", "demo2 slept 2.0s"),
                       ("demo4", "demo4 slept 2.0s")],
    "group-of-four-demos": [("demo1", 1), ("demo2", "demo2 slept 2.0s"), ("demo3", 10),
                            ("demo4", "demo4 slept 2.0s")],
    "priority-demo": [("t2", "t2"), ("t1", "1 + 2 = 3, message: None"), ("t3", "t3")],
    "routed-task1-task2": [("task1", "task1 ran on queue1"), ("task2", "task2 ran on queue2")],
    "t1-args-and-kwargs": [("t1", "1 + 2 = 3, message: addition performed")],
}  # fmt: skip


def test_every_shipped_example_runs_with_the_tutorials_results(
    worker: WorkerProcess, prefix: str, tmp_path: Path
) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        done = desk("run", str(with_prefix(path, prefix, tmp_path)), "--wait", "--timeout", "60",
                    "--json")  # fmt: skip
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
        report = json.loads(done.stdout)
        got = [
            (n["task"].rsplit(".", 1)[1], n["result"].replace(prefix, "")
             if isinstance(n["result"], str) else n["result"])
            for n in report["nodes"]
        ]  # fmt: skip
        assert got == EXPECTED[path.stem], path.name
        assert all(n["state"] == "SUCCESS" and n["id"] for n in report["nodes"])
        ids = [n["id"] for n in report["nodes"]]
        if path.stem.startswith(("chain", "t1")):  # every task's root id: the first one's
            assert report["root_id"] == ids[0]
        else:  # a group's own id
            assert report["root_id"] and report["root_id"] not in ids
    # What the panel sent is in the journal with the priority and queue no event carries.
    listed = json.loads(desk("tasks", "--name", "workers.tasks.t3", "--json").stdout)
    assert [(t["queue"], t["priority"], t["state"]) for t in listed] == [
        (prefix + "tasks", 10, "SUCCESS")
    ]


def _add(*args: int) -> dict[str, Any]:
    return {"type": "task", "task": "workers.tasks.add", "args": list(args)}


CHORDS = {
    "chord": {
        "type": "chord",
        "header": [_add(1, 1), _add(2, 2)],
        "body": {"type": "task", "task": "workers.tasks.xsum"},
    },
    "chain ending in a chord": {
        "type": "chain",
        "children": [
            _add(1, 1),
            {
                "type": "chord",
                "header": [_add(1), _add(2)],
                "body": {"type": "task", "task": "workers.tasks.xsum"},
            },
        ],
    },
}


@pytest.mark.parametrize("shape", list(CHORDS))
def test_chords_run_to_the_end_under_the_ids_they_were_sent_with(
    worker: WorkerProcess, tmp_path: Path, shape: str
) -> None:
    """Each header task under its own id (not "None"), waited for until it and the body ran;
    nothing printed about results collected at exit."""
    path = tmp_path / "chord.json"
    path.write_text(
        json.dumps({"format": "celery-desk/canvas", "version": 1, "root": CHORDS[shape]})
    )
    done = desk("run", str(path), "--wait", "--timeout", "30", "--json")
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    nodes = report["nodes"]
    ids = [n["id"] for n in nodes]
    assert all(uuid.UUID(task_id) for task_id in ids) and len(set(ids)) == len(ids)
    assert {n["state"] for n in nodes} == {"SUCCESS"}
    if shape == "chord":
        assert [n["result"] for n in nodes] == [2, 4, 6]
        assert report["root_id"] not in ids  # the header group's id
    else:
        assert [n["result"] for n in nodes] == [2, 3, 4, 7]
        assert report["root_id"] == ids[0]
    listed = {t["id"]: t["state"] for t in json.loads(desk("tasks", "--json").stdout)}
    assert "None" not in listed
    assert all(listed.get(task_id) == "SUCCESS" for task_id in ids), listed


def test_bad_files_and_bad_calls_are_refused_before_sending(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    cases = {
        "not-json.json": ("{]", "not valid JSON"),
        "bad-args.json": (
            json.dumps(
                {
                    "format": "celery-desk/canvas",
                    "version": 1,
                    "root": {
                        "type": "group",
                        "children": [{"type": "task", "task": "x", "args": 1}],
                    },
                }
            ),
            "root.children[0].args: must be a list",
        ),
        "wrong-count.json": (
            json.dumps(
                {
                    "format": "celery-desk/canvas",
                    "version": 1,
                    "root": {"type": "task", "task": "workers.tasks.add", "args": [1, 2, 3]},
                }
            ),
            "error: root: workers.tasks.add takes at most 2 positional argument(s), gets 3",
        ),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        refused = desk("run", str(path), "--wait", "--json")
        assert refused.returncode == 2, (name, refused.stderr)
        assert words in refused.stderr, (name, refused.stderr)
        assert refused.stdout == ""


def test_the_priority_demo_runs_in_the_brokers_priority_order(
    broker_url: str, embedded_redis: Any, tmp_path: Path, prefix: str
) -> None:
    """One worker, concurrency 1, prefetch 1, acks_late, kept busy first; then t2 (5), t1 (1),
    t3 (10) are sent in that order. RabbitMQ runs the highest first, Redis the lowest."""
    from desktop.core.settings.urls import scheme_of

    rabbit = scheme_of(broker_url).startswith("amqp")
    queues = [QueueSpec(prefix + name, 10) for name in ("queue1", "queue2", "tasks")]
    Services.open().profiles.save(
        Profile(
            name="runner",
            broker_url=broker_url,
            result_backend=embedded_redis.url(1),
            workdir=str(REPO_ROOT),
            queues=queues,
        ),
        create=True,
    )
    demo = (EXAMPLES / "priority-demo.json").read_text().replace('"tasks"', f'"{prefix}tasks"')
    (tmp_path / "demo.json").write_text(demo)
    blocker = json.dumps(
        {
            "format": "celery-desk/canvas",
            "version": 1,
            "root": {"type": "task", "task": "workers.tasks.sleep", "args": [2],
                     "options": {"queue": prefix + "tasks"}},
        }
    )  # fmt: skip
    (tmp_path / "blocker.json").write_text(blocker)
    client = panel_app(broker_url, embedded_redis.url(1), None, queues)
    process = WorkerProcess(
        queues=[prefix + "tasks"],
        broker_url=broker_url,
        backend_url=embedded_redis.url(1),
        log_path=tmp_path / "worker.log",
        queue_prefix=prefix,
        concurrency=1,
        extra_args=["--prefetch-multiplier", "1"],
    )
    try:
        with running_worker(client, process):
            assert desk("run", str(tmp_path / "blocker.json")).returncode == 0
            done = desk("run", str(tmp_path / "demo.json"), "--wait", "--json")
            assert done.returncode == 0, done.stderr
            nodes = json.loads(done.stdout)["nodes"]
            finished = {
                n["task"].rsplit(".", 1)[1]: client.backend.get_task_meta(n["id"])["date_done"]
                for n in nodes
            }
            ran = sorted(finished, key=lambda name: str(finished[name]))
            assert ran == (["t3", "t2", "t1"] if rabbit else ["t1", "t2", "t3"]), process.output()
    finally:
        client.close()
        if rabbit:
            delete_rabbitmq_entities(broker_url, [q.name for q in queues])
