"""Conformance: the panel does exactly what the person's own app does, for other app shapes.

Each shape is a small real project under `apps/`. Its worker is started by hand, as a person
would (`celery -A APP worker -c 1 --prefetch-multiplier 1`), never by the panel's supervisor.
For every shape the panel is set up through the CLI (`profile add` with the broker only, then
`profile test`), and the tutorial's priority demo plus every priority 0-9 and none are sent
twice: by `celery-desk run` and by the Builder's sending path. Each time the worker is held by
a gate task while `celery-desk queues --json` lists what waits; then the worker takes them and
the order it ran them in must be the order listed, the tutorial's demo in its broker's order
(Redis t1, t2, t3; RabbitMQ t3, t2, t1). No password may show in any output or file of the
panel outside the secret store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from desktop.core.app.config import read_effective_config, with_app_backend
from desktop.core.app.panel_app import client_app
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import model as canvas
from desktop.core.canvas import sending as canvas_sending
from desktop.core.settings.profile_model import Endpoints, Profile
from tests.conftest import stop_with_this_process
from tests.integration.worker_process import REPO_ROOT

pytestmark = [pytest.mark.slow]

APPS = Path(__file__).resolve().parent / "apps"
DEMO = [("t2", 5), ("t1", 1), ("t3", 10)]  # the tutorial's priority demo, in sending order
SWEEP = [5, 1, 9, 0, None, 3, 7, 2, 8, 4, 6]  # every priority 0-9 and none, mixed


@dataclass(frozen=True)
class Shape:
    key: str
    module: str  # `celery -A` of the app
    broker: str  # "redis" or "rabbitmq"
    demo_queue: str  # where the app's routes send t1/t2/t3
    sweep_queue: str  # and where `record` goes
    django_settings: str = ""
    default_priority: int | None = None  # what the app sends when no priority is given
    env: dict[str, str] = field(default_factory=dict)

    @property
    def queues(self) -> list[str]:
        return sorted({self.demo_queue, self.sweep_queue})


SHAPES = [
    Shape("a-django-tutorial", "dtutorial", "redis", "tasks", "tasks",
          django_settings="dtutorial.settings", default_priority=5),
    Shape("b-steps-0369", "steps_explicit", "redis", "celery", "celery"),
    Shape("c-steps-0-9-sep", "steps_sep", "redis", "celery", "celery"),
    Shape("d-keyprefix", "keyprefix", "redis", "celery", "celery"),
    Shape("e-round-robin", "round_robin", "redis", "celery", "celery"),
    Shape("f-routes", "routed", "redis", "by_fn", "by_glob"),
    Shape("g-passwords", "secured", "redis", "celery", "celery"),
    Shape("h-rabbit-vhost", "rabbit_vhost", "rabbitmq", "work", "topical"),
    Shape("i-rpc-backend", "rpc_backend", "rabbitmq", "celery", "celery"),
    Shape("j-default-priority", "default_priority", "redis", "celery", "celery",
          default_priority=5),
    Shape("j-default-priority-rabbit", "default_priority", "rabbitmq", "celery", "celery",
          default_priority=5),
    Shape("a-django-tutorial-rabbit", "dtutorial", "rabbitmq", "tasks", "tasks",
          django_settings="dtutorial.settings", default_priority=5),
]  # fmt: skip


# -- the person's side -------------------------------------------------------------------------
class HandStartedWorker:
    """`celery -A APP worker` in the project's directory, its broker in the app's own
    environment variable (the tutorial's CELERY_BROKER), as a person starts one."""

    def __init__(self, shape: Shape, broker: str, work: Path, extra_env: dict[str, str]) -> None:
        self.order_file = work / "order.txt"
        self.gate_file = work / "gate"
        self.log = work / "worker.log"
        self.nodename = f"hand-{uuid.uuid4().hex[:6]}@{os.uname().nodename}"
        env = {**os.environ, **extra_env, "CELERY_BROKER": broker}
        env.update(ORDER_FILE=str(self.order_file), GATE_FILE=str(self.gate_file))
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_DESK_QUEUE_PREFIX"):
            env.pop(name, None)
        if shape.django_settings:
            env["DJANGO_SETTINGS_MODULE"] = shape.django_settings
        argv = [sys.executable, "-m", "celery", "-A", shape.module, "worker",
                "-Q", ",".join(shape.queues), "-c", "1", "--prefetch-multiplier", "1",
                "-E", "-l", "INFO", "-n", self.nodename,
                "--without-mingle", "--without-gossip"]  # fmt: skip
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=APPS, env=env, stdout=self.handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        stop_with_this_process(self.process.pid)

    def ran(self) -> list[str]:
        if not self.order_file.exists():
            return []
        return self.order_file.read_text(encoding="utf-8").split()

    def wait_for(self, check: Callable[[list[str]], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.ran()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{what}: ran {self.ran()}\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        self.gate_file.touch()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.handle.close()


# -- the panel's side --------------------------------------------------------------------------
class Panel:
    """`celery-desk` commands on the test's config dir; every output is kept for the check
    that no password shows."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.outputs: list[str] = []

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "desktop", *args], capture_output=True, text=True,
            timeout=120, env=self.env, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
        self.outputs += [done.stdout, done.stderr]
        if check:
            assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done


def persons_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment and the app's own variables, without the test suite's
    settings a person's shell would not have."""
    env = {**os.environ, **extra}
    for variable in ("CELERY_DESK_QUEUE_PREFIX", "CELERY_BROKER", "CELERY_BACKEND"):
        env.pop(variable, None)
    return env


def add_profile(panel: Panel, name: str, shape: Shape, broker: str) -> None:
    """`profile add` with the broker and the app only, as a person sets the panel up."""
    add = ["profile", "add", name, "--broker", broker, "--app", shape.module,
           "--workdir", str(APPS)]  # fmt: skip
    if shape.django_settings:
        add += ["--django-settings", shape.django_settings]
    panel.run(*add)


def persons_profile(name: str, shape: Shape, broker: str) -> tuple[Profile, Endpoints]:
    """The same profile in this process, to read the app's configuration as the panel does."""
    profile = Profile(
        name=name, broker_url=broker, result_backend="", app_module=shape.module,
        workdir=str(APPS), django_settings=shape.django_settings,
    )  # fmt: skip
    return profile, Endpoints(broker, "", "")


def _demo_canvas() -> canvas.Canvas:
    nodes: list[canvas.Node] = [
        canvas.TaskNode(f"shape_tasks.{name}", options={"priority": priority})
        for name, priority in DEMO
    ]
    for priority in SWEEP:
        label = f"p{priority}" if priority is not None else "pnone"
        options = {} if priority is None else {"priority": priority}
        nodes.append(canvas.TaskNode("shape_tasks.record", [label], options=options))
    return canvas.Canvas("conformance", canvas.GroupNode(nodes))


def _label(node: canvas.TaskNode) -> str:
    return str(node.args[0]) if node.args else node.task.rsplit(".", 1)[-1]


def _send_by_cli(panel: Panel, profile: str, work: Path) -> dict[str, str]:
    drawn = _demo_canvas()
    path = work / "demo.json"
    path.write_text(canvas_format.dumps(drawn), encoding="utf-8")
    done = panel.run("run", str(path), "--profile", profile, "--json")
    sent = json.loads(done.stdout)["nodes"]
    root = drawn.root
    assert isinstance(root, canvas.GroupNode)
    return {n["id"]: _label(root.children[int(n["path"])]) for n in sent}  # type: ignore[arg-type]


def _send_as_the_builder(profile: Profile, endpoints: Endpoints) -> dict[str, str]:
    """What the Builder's Send runs on its job thread: the app's effective configuration, the
    panel app built from it, canvas_sending.send with the journal's record."""
    config = read_effective_config(profile, endpoints)
    assert config.imported, config.error
    app = client_app(config, with_app_backend(endpoints, config), poll_results=True)
    drawn = _demo_canvas()
    try:
        sent = canvas_sending.send(drawn, app, None, config)
    finally:
        app.close()
    root = drawn.root
    assert isinstance(root, canvas.GroupNode)
    return {n.id: _label(root.children[int(n.path)]) for n in sent.nodes}  # type: ignore[arg-type]


def _round(
    shape: Shape,
    worker: HandStartedWorker,
    panel: Panel,
    name: str,
    send: Callable[[], dict[str, str]],
    hold: Callable[[], None],
) -> None:
    worker.order_file.write_text("", encoding="utf-8")
    worker.gate_file.unlink(missing_ok=True)
    hold()
    worker.wait_for(lambda ran: ran == ["gate"], "the gate did not start", 30)
    labels = send()
    time.sleep(0.5)  # a worker that acks early reserves the first arrival now, not mid-listing
    listed = {
        entry["queue"]: entry
        for entry in json.loads(panel.run("queues", "--profile", name, "--json",
                                          "--limit", "40").stdout)
    }  # fmt: skip
    worker.gate_file.touch()
    worker.wait_for(lambda ran: len(ran) == 1 + len(labels), "not every task ran", 60)
    ran = worker.ran()[1:]
    assert sorted(ran) == sorted(labels.values()), "a task was lost or ran twice"
    for queue in shape.queues:
        waiting = [labels[m["id"]] for m in listed[queue]["next"] if m.get("id") in labels]
        assert waiting, f"nothing listed as waiting in {queue}: {listed[queue]}"
        took = [label for label in ran if label in waiting]
        assert took == waiting, f"{queue}: listed {waiting}, the worker took {took}"
        if shape.default_priority is not None:
            shown = {labels[m["id"]]: m["priority"] for m in listed[queue]["next"]
                     if m.get("id") in labels}  # fmt: skip
            if "pnone" in shown:
                assert shown["pnone"] == shape.default_priority
    demo = [label for label in ran if label in ("t1", "t2", "t3")]
    waited = [label for label in demo if label in _all_listed(listed, labels)]
    expected = ["t1", "t2", "t3"] if shape.broker == "redis" else ["t3", "t2", "t1"]
    assert waited == [label for label in expected if label in waited], (demo, waited)
    assert len(waited) >= 2, f"the demo did not wait behind the gate: {demo}"


def _all_listed(listed: dict[str, Any], labels: dict[str, str]) -> set[str]:
    return {labels[m["id"]] for entry in listed.values() for m in entry["next"]
            if m.get("id") in labels}  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES, ids=[s.key for s in SHAPES])
def test_the_panel_sends_and_lists_as_the_persons_app_does(
    shape: Shape, request: pytest.FixtureRequest, tmp_path: Path, run_id: str
) -> None:
    extra_env: dict[str, str] = {}
    if shape.broker == "rabbitmq":
        broker = str(request.getfixturevalue("rabbit_url"))
    else:
        embedded = request.getfixturevalue("embedded_redis")
        db = 2 + [s.key for s in SHAPES].index(shape.key)
        broker = embedded.url(db)
        if shape.module == "secured":
            results = request.getfixturevalue("second_redis")
            extra_env["SECURED_RESULT_BACKEND"] = results.url(3)
    password = urllib.parse.unquote(urllib.parse.urlsplit(broker).password or "")
    secrets_seen = [p for p in (password, *_passwords(extra_env)) if p]
    panel = Panel(persons_environment(extra_env))
    name = f"shape-{shape.key}"
    add_profile(panel, name, shape, broker)
    panel.run("profile", "test", name)
    shown = panel.run("profile", "show", name, "--json")
    effective = json.loads(shown.stdout)["effective"]
    assert effective["app_imported"], effective["error"]

    worker = HandStartedWorker(shape, broker, tmp_path, extra_env)
    try:
        profile, endpoints = persons_profile(name, shape, broker)
        config = read_effective_config(profile, endpoints)
        client = client_app(config, with_app_backend(endpoints, config))
        try:
            _wait_online(client, worker)

            def hold() -> None:
                client.send_task("shape_tasks.gate", queue=shape.demo_queue)

            _round(shape, worker, panel, name, lambda: _send_by_cli(panel, name, tmp_path), hold)
            _round(shape, worker, panel, name, lambda: _send_as_the_builder(profile, endpoints),
                   hold)  # fmt: skip
        finally:
            client.close()
    finally:
        worker.stop()
    _no_password_anywhere(panel, secrets_seen, tmp_path)


def _passwords(env: dict[str, str]) -> list[str]:
    found = []
    for value in env.values():
        if "://" in value:
            password = urllib.parse.urlsplit(value).password
            if password:
                found.append(urllib.parse.unquote(password))
    return found


def _wait_online(client: Any, worker: HandStartedWorker, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            break
        replies = client.control.ping(destination=[worker.nodename], timeout=0.5) or []
        if any(worker.nodename in reply for reply in replies):
            return
    raise AssertionError(f"the worker did not come online:\n{worker.log.read_text()[-3000:]}")


def _no_password_anywhere(panel: Panel, passwords: list[str], tmp_path: Path) -> None:
    """Every output of the panel, and every file it wrote but the secret store."""
    assert passwords, "the test has no password to look for"
    for text in panel.outputs:
        for password in passwords:
            assert password not in text, f"a password shows in: {text[:500]}"
    config_dir = Path(os.environ["CELERY_DESK_CONFIG_DIR"])
    data_dir = Path(os.environ["CELERY_DESK_DATA_DIR"])
    for root in (config_dir, data_dir):
        for path in root.rglob("*"):
            if not path.is_file() or path.name == "secrets.json":
                continue
            content = path.read_bytes()
            for password in passwords:
                assert password.encode() not in content, f"a password is in {path}"
