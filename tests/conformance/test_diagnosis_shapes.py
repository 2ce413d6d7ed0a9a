"""Conformance: `why`, `failures` and `retry` read the person's own app, for other app shapes.

The tutorial's Django project (CELERY_ settings, no result backend) on Redis and on a RabbitMQ
vhost, and an app with every Redis key under a prefix (its results too). Each worker is started
by hand (`celery -A APP worker -E`), `celery-desk record` keeps the journal from the events, and
the panel is set up through the CLI with the broker only. Then, as a person would ask: why has
a task sent to a queue nobody consumes not run, why not one with a 10-minute countdown, what
does a task that failed say about results, which causes failed, and a retry of the failure
runs again on the person's worker. No password may show in any output or file of the panel.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop.core.app.config import read_effective_config, with_app_backend
from desktop.core.app.panel_app import client_app
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import model as canvas
from tests.conformance.test_app_shapes import (
    SHAPES,
    HandStartedWorker,
    Panel,
    Shape,
    _no_password_anywhere,
    _wait_online,
    add_profile,
    persons_environment,
    persons_profile,
)
from tests.conftest import redis_server
from tests.integration.worker_process import REPO_ROOT

pytestmark = [pytest.mark.slow]

DIAGNOSED = [s for s in SHAPES if s.key in ("a-django-tutorial", "a-django-tutorial-rabbit",
                                            "d-keyprefix")]  # fmt: skip
NOBODY = "nobody-consumes-this"


def _until(read: Callable[[], Any], good: Callable[[Any], bool], what: str, within: float) -> Any:
    """`read()` again until `good` holds of it, or fail with the last one read."""
    deadline = time.monotonic() + within
    while True:
        found = read()
        if good(found):
            return found
        assert time.monotonic() < deadline, f"{what}: {json.dumps(found, indent=2)[:3000]}"
        time.sleep(0.5)


def _first_problem(found: dict[str, Any]) -> str | None:
    return next((c["check"] for c in found["checks"] if c["verdict"] == "problem"), None)


def _check(found: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in found["checks"] if c["check"] == name)


def _send(panel: Panel, profile: str, work: Path) -> dict[str, str]:
    """A task to a queue nobody consumes, one with a 10-minute countdown and one that fails,
    sent by `celery-desk run` as the Builder would: label -> task id."""
    nodes: list[canvas.Node] = [
        canvas.TaskNode("shape_tasks.record", ["stray"], options={"queue": NOBODY}),
        canvas.TaskNode("shape_tasks.record", ["later"], options={"countdown": 600}),
        canvas.TaskNode("shape_tasks.fail", [7]),
    ]
    path = work / "why.json"
    drawn = canvas.Canvas("why", canvas.GroupNode(nodes))
    path.write_text(canvas_format.dumps(drawn), encoding="utf-8")
    sent = json.loads(panel.run("run", str(path), "--profile", profile, "--json").stdout)
    labels = ("stray", "later", "fail")
    return {labels[int(n["path"])]: n["id"] for n in sent["nodes"]}


@pytest.mark.parametrize("shape", DIAGNOSED, ids=[s.key for s in DIAGNOSED])
def test_why_failures_and_retry_read_the_persons_app(
    shape: Shape, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if shape.broker == "rabbitmq":
        broker = str(request.getfixturevalue("rabbit_url"))
        _diagnose(shape, broker, tmp_path)
    else:
        with redis_server(tmp_path / "redis") as server:
            _diagnose(shape, server.url(0), tmp_path)


def _diagnose(shape: Shape, broker: str, work: Path) -> None:
    env = persons_environment({})
    panel = Panel(env)
    name = f"why-{shape.key}"
    add_profile(panel, name, shape, broker)
    worker = HandStartedWorker(shape, broker, work, {})
    recorder = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--profile", name, "record"],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        profile, endpoints = persons_profile(name, shape, broker)
        config = read_effective_config(profile, endpoints)
        client = client_app(config, with_app_backend(endpoints, config))
        try:
            _wait_online(client, worker)
        finally:
            client.close()
        time.sleep(2.0)  # the recorder is listening by now
        ids = _send(panel, name, work)

        def why(task_id: str) -> Callable[[], dict[str, Any]]:
            return lambda: json.loads(panel.run("why", task_id, "--profile", name,
                                                "--json").stdout)  # fmt: skip

        stray = _until(why(ids["stray"]), lambda f: _first_problem(f) == "no-consumer",
                       "a task in a queue nobody consumes", 30)  # fmt: skip
        assert NOBODY in _check(stray, "no-consumer")["evidence"]
        where = _check(stray, "location")["evidence"]
        if shape.broker == "redis":  # its key under the app's prefix, read in delivery order
            assert f"waiting in queue '{NOBODY}'" in where and "position 0" in where, stray
        else:  # RabbitMQ's contents are read only by taking them: counted, not read
            assert f"most likely waiting in queue '{NOBODY}'" in where, stray
        _until(why(ids["later"]), lambda f: _first_problem(f) == "eta-pending",
               "a task with a 10-minute countdown", 30)  # fmt: skip

        worker.wait_for(lambda ran: "fail-7" in ran, "the failing task did not run", 30)
        failed = _until(why(ids["fail"]), lambda f: "FAILURE" in f["checks"][0]["evidence"],
                        "the failure in the journal", 30)  # fmt: skip
        backend = _check(failed, "no-result-backend")
        if shape.django_settings:
            # The Django project keeps no results: the fix names the setting as its
            # settings.py spells it (the app reads them under the CELERY namespace).
            assert backend["verdict"] == "problem", failed
            assert "CELERY_RESULT_BACKEND" in backend["fix"], backend
        else:
            assert backend["verdict"] == "ok", failed

        groups = _until(
            lambda: json.loads(panel.run("failures", "--profile", name, "--json").stdout),
            lambda found: any(ids["fail"] == g["example_id"] for g in found),
            "the failure grouped by its cause", 30,
        )  # fmt: skip
        group = next(g for g in groups if g["example_id"] == ids["fail"])
        assert "bad input" in group["exception"] and group["task_names"] == ["shape_tasks.fail"]

        retried = json.loads(panel.run("retry", ids["fail"], "--profile", name, "--json").stdout)
        assert [s["retry_of"] for s in retried["sent"]] == [ids["fail"]], retried
        worker.wait_for(lambda ran: ran.count("fail-7") == 2, "the retry did not run", 30)
    finally:
        worker.stop()
        recorder.send_signal(signal.SIGTERM)
        out, err = recorder.communicate(timeout=20)
        panel.outputs += [out, err]
    password = urllib.parse.unquote(urllib.parse.urlsplit(broker).password or "")
    _no_password_anywhere(panel, [password], work)
