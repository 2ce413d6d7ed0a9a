"""`celery-desk run` on the embedded Redis (issue 13): values Celery cannot send are refused
before anything is journaled; fifty tasks and a group of groups run, with nothing printed at
exit (no `AsyncResult.__del__` traceback per task)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.settings.profile_model import QueueSpec
from tests.integration.test_run_cli import desk, runner_worker, save_runner
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.slow


def _file(tmp_path: Path, root: dict[str, Any]) -> str:
    path = tmp_path / f"canvas-{len(list(tmp_path.glob('canvas-*')))}.json"
    path.write_text(json.dumps({"format": "celery-desk/canvas", "version": 1, "root": root}))
    return str(path)


def _add(*args: int, **options: Any) -> dict[str, Any]:
    return {"type": "task", "task": "workers.tasks.add", "args": list(args), "options": options}


@pytest.fixture
def profile(embedded_redis: Any, prefix: str) -> list[QueueSpec]:
    return save_runner(embedded_redis.url(0), embedded_redis.url(1), prefix)


@pytest.fixture
def worker(
    profile: list[QueueSpec], embedded_redis: Any, prefix: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    with runner_worker(
        embedded_redis.url(0), embedded_redis.url(1), profile, prefix, tmp_path
    ) as running:
        yield running


def _journaled() -> list[dict[str, Any]]:
    listed = desk("tasks", "--json", "--limit", "1000")
    return json.loads(listed.stdout) if listed.returncode == 0 else []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"countdown": 1e12}, "countdown: must end within the years 1 to 9999"),
        ({"countdown": 1e308}, "countdown: must end within the years 1 to 9999"),
        ({"expires": 1e12}, "expires: must end within the years 1 to 9999"),
    ],
)
def test_a_time_celery_cannot_compute_is_refused_and_nothing_journaled(
    profile: list[QueueSpec], tmp_path: Path, options: dict[str, Any], words: str
) -> None:
    path = _file(tmp_path, {"type": "group", "children": [_add(1, 1), _add(2, 2, **options)]})
    refused = desk("run", path)
    assert refused.returncode == 2, refused.stderr
    assert f"root.children[1].options.{words}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _journaled() == []


def test_infinity_in_a_file_is_refused_on_its_node(
    profile: list[QueueSpec], tmp_path: Path
) -> None:
    path = Path(_file(tmp_path, _add(1, 2, countdown=1)))
    path.write_text(path.read_text().replace('"countdown": 1', '"countdown": Infinity'))
    refused = desk("run", str(path))
    assert refused.returncode == 2 and "root.options.countdown: must be a finite" in refused.stderr
    assert _journaled() == []


def test_a_number_too_long_for_python_is_refused(profile: list[QueueSpec], tmp_path: Path) -> None:
    path = Path(_file(tmp_path, _add(1, 2)))
    path.write_text(path.read_text().replace("[1, 2]", f"[1, {'9' * 5000}]"))
    refused = desk("run", str(path))
    assert refused.returncode == 2, refused.stderr
    assert "root.args[1]: a whole number of 5000 digits" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_fifty_tasks_and_a_group_of_groups_run_quietly(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    nested = {"type": "group", "children": [{"type": "group", "children": [_add(1, 1), _add(2, 2)]},
                                            _add(3, 3)]}  # fmt: skip
    fifty = {"type": "group", "children": [_add(i, i) for i in range(47)]}
    path = _file(tmp_path, {"type": "group", "children": [nested, fifty]})
    done = desk("run", path, "--wait", "--timeout", "60", "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "__del__" not in done.stderr, done.stderr
    nodes = json.loads(done.stdout)["nodes"]
    assert len(nodes) == 50 and {n["state"] for n in nodes} == {"SUCCESS"}
    assert [n["result"] for n in nodes[:3]] == [2, 4, 6]
    journaled = {t["id"]: t["state"] for t in _journaled()}
    assert all(journaled.get(n["id"]) == "SUCCESS" for n in nodes)
    quiet = desk("run", path)  # sent without waiting: the results are never read
    assert quiet.returncode == 0, quiet.stderr
    assert "Traceback" not in quiet.stderr and "__del__" not in quiet.stderr, quiet.stderr
