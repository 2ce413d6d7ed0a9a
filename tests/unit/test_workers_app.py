"""The shipped Celery app: configuration, environment handling and the tasks run in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery, chain, chord, group

import workers.tasks  # noqa: F401  (registers the shared tasks on every app)
from workers import create_app
from workers.app import DEFAULT_BROKER_URL, DEFAULT_TRANSPORT_OPTIONS
from workers.queues import QUEUE_NAMES, queue_names

ROOT = Path(__file__).resolve().parents[2]
ENV_VARS = (
    "CELERY_BROKER",
    "CELERY_BACKEND",
    "CELERY_DESK_QUEUE_PREFIX",
    "CELERY_DESK_TRANSPORT_OPTIONS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local_app() -> Celery:
    """In-memory broker and backend: eager runs must never touch a real server."""
    return create_app("memory://", "cache+memory://")


def test_serialization_is_json_only(local_app: Celery) -> None:
    conf = local_app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content) == ["json"]


def test_delivery_and_event_settings(local_app: Celery) -> None:
    conf = local_app.conf
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_default_priority == 5
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True
    assert conf.result_extended is True
    assert conf.task_track_started is True
    assert conf.broker_connection_retry_on_startup is True
    assert "workers.tasks" in conf.include


def test_queues_have_priorities_and_own_exchanges(local_app: Celery) -> None:
    queues = {queue.name: queue for queue in local_app.conf.task_queues}
    assert tuple(queues) == QUEUE_NAMES
    for name, queue in queues.items():
        assert queue.queue_arguments == {"x-max-priority": 10}
        assert queue.exchange.name == name
        assert queue.exchange.type == "direct"
        assert queue.routing_key == name


def test_routes_and_default_queue(local_app: Celery) -> None:
    conf = local_app.conf
    assert conf.task_default_queue == "tasks"
    assert conf.task_default_exchange == "tasks"
    assert conf.task_default_exchange_type == "direct"
    assert conf.task_default_routing_key == "tasks"
    router = local_app.amqp.router
    assert router.route({}, "workers.tasks.task1")["queue"].name == "queue1"
    assert router.route({}, "workers.tasks.task2")["queue"].name == "queue2"
    assert router.route({}, "workers.tasks.t1")["queue"].name == "tasks"
    assert router.route({}, "workers.tasks.t3")["queue"].routing_key == "tasks"


def test_broker_and_backend_defaults() -> None:
    app = create_app()
    assert app.conf.broker_url == DEFAULT_BROKER_URL
    assert app.conf.result_backend == DEFAULT_BROKER_URL


def test_broker_and_backend_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER", "redis://:secret@example.invalid:6390/3")
    app = create_app()
    assert app.conf.broker_url == "redis://:secret@example.invalid:6390/3"
    assert app.conf.result_backend == "redis://:secret@example.invalid:6390/3"
    monkeypatch.setenv("CELERY_BACKEND", "redis://example.invalid:6390/4")
    assert create_app().conf.result_backend == "redis://example.invalid:6390/4"
    # Explicit arguments win over the environment.
    explicit = create_app("amqp://guest:guest@example.invalid//", "rpc://")
    assert explicit.conf.broker_url == "amqp://guest:guest@example.invalid//"
    assert explicit.conf.result_backend == "rpc://"


def test_non_redis_broker_falls_back_to_rpc_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER", "amqp://guest:guest@example.invalid:5672//")
    assert create_app().conf.result_backend == "rpc://"
    assert create_app("rediss://example.invalid:6380/0").conf.result_backend == (
        "rediss://example.invalid:6380/0"
    )


def test_prefix_applies_to_queues_exchanges_and_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_DESK_QUEUE_PREFIX", "run42-")
    app = create_app("memory://", "cache+memory://")
    names = [queue.name for queue in app.conf.task_queues]
    assert names == queue_names("run42-") == ["run42-queue1", "run42-queue2", "run42-tasks"]
    assert all(queue.exchange.name == queue.name for queue in app.conf.task_queues)
    assert all(queue.routing_key == queue.name for queue in app.conf.task_queues)
    assert app.conf.task_default_queue == "run42-tasks"
    assert app.conf.task_default_exchange == "run42-tasks"
    assert app.conf.task_default_routing_key == "run42-tasks"
    router = app.amqp.router
    assert router.route({}, "workers.tasks.task1")["queue"].name == "run42-queue1"
    assert router.route({}, "workers.tasks.task2")["queue"].name == "run42-queue2"
    assert router.route({}, "workers.tasks.t1")["queue"].name == "run42-tasks"
    # An explicit argument wins over the environment, including the empty prefix.
    plain = create_app("memory://", "cache+memory://", queue_prefix="")
    assert [queue.name for queue in plain.conf.task_queues] == list(QUEUE_NAMES)


def test_transport_options_defaults(local_app: Celery) -> None:
    options = local_app.conf.broker_transport_options
    assert options == {
        "queue_order_strategy": "priority",
        "priority_steps": list(range(10)),
        "sep": "\x06\x16",
        "visibility_timeout": 3600,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 10,
    }
    assert not local_app.conf.result_backend_transport_options


def test_transport_options_overridden_key_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CELERY_DESK_TRANSPORT_OPTIONS",
        json.dumps({"visibility_timeout": 120, "global_keyprefix": "desk:"}),
    )
    app = create_app("memory://", "cache+memory://")
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == 120
    assert options["global_keyprefix"] == "desk:"
    assert options["queue_order_strategy"] == "priority"
    assert options["unacked_restore_interval"] == 10
    assert app.conf.result_backend_transport_options == {"global_keyprefix": "desk:"}
    # The module-level defaults are not mutated by an override.
    assert DEFAULT_TRANSPORT_OPTIONS["visibility_timeout"] == 3600


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"priority"', "3"])
def test_bad_transport_options_name_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CELERY_DESK_TRANSPORT_OPTIONS", raw)
    with pytest.raises(ValueError, match="CELERY_DESK_TRANSPORT_OPTIONS") as info:
        create_app("memory://", "cache+memory://")
    if raw == "{not json":
        assert isinstance(info.value.__cause__, json.JSONDecodeError)
        assert "not valid JSON" in str(info.value)
    else:
        assert "JSON object" in str(info.value)


def test_tutorial_tasks_run_eagerly(local_app: Celery) -> None:
    tasks = local_app.tasks
    t1 = tasks["workers.tasks.t1"]
    assert t1.apply(args=[1, 2], kwargs={"message": "addition performed"}).get() == (
        "1 + 2 = 3, message: addition performed"
    )
    assert t1.apply(args=[1, 2]).get() == "1 + 2 = 3, message: None"
    assert t1.apply(args=[1, 2], kwargs={"message": ""}).get() == 3
    assert tasks["workers.tasks.demo1"].apply(kwargs={"seconds": 0}).get() == 1
    assert tasks["workers.tasks.demo3"].apply(args=[1], kwargs={"seconds": 0}).get() == 11
    assert tasks["workers.tasks.t2"].apply(kwargs={"seconds": 0}).get() == "t2"
    assert tasks["workers.tasks.t3"].apply(kwargs={"seconds": 0}).get() == "t3"
    assert tasks["workers.tasks.rate_limited"].rate_limit == "10/m"
    assert tasks["workers.tasks.rate_limited"].apply(args=[7]).get() == 7
    assert tasks["workers.tasks.sleep"].apply(kwargs={"seconds": 0}).get() == 0
    assert tasks["workers.tasks.task1"].apply().get().startswith("task1 ran on ")


def test_tutorial_chain_with_s_and_si(local_app: Celery) -> None:
    tasks = local_app.tasks
    flow = chain(
        tasks["workers.tasks.demo1"].s(seconds=0),
        tasks["workers.tasks.demo3"].s(seconds=0),
        tasks["workers.tasks.demo2"].si(seconds=0),
        tasks["workers.tasks.demo4"].si(seconds=0),
    )
    result = flow.apply()
    assert result.get() == "demo4 slept 0s"
    assert result.parent.parent.get() == 11  # demo3 received demo1's 1


def test_add_mul_chain_and_chord(local_app: Celery) -> None:
    add = local_app.tasks["workers.tasks.add"]
    mul = local_app.tasks["workers.tasks.mul"]
    xsum = local_app.tasks["workers.tasks.xsum"]
    assert chain(add.s(2, 3), mul.s(4)).apply().get() == 20
    assert group(add.s(i, i) for i in range(4)).apply().get() == [0, 2, 4, 6]
    assert chord((add.s(i, 1) for i in range(3)), xsum.s()).apply().get() == 6


def test_fail_raises_value_error(local_app: Celery) -> None:
    fail = local_app.tasks["workers.tasks.fail"]
    with pytest.raises(ValueError, match="this task always fails"):
        fail.apply().get()
    result = fail.apply(kwargs={"message": "boom"})
    assert result.state == "FAILURE"
    assert isinstance(result.result, ValueError) and str(result.result) == "boom"


def test_flaky_succeeds_on_the_requested_attempt(local_app: Celery) -> None:
    flaky = local_app.tasks["workers.tasks.flaky"]
    assert flaky.max_retries == 5
    assert flaky.apply(kwargs={"succeed_on_attempt": 1}).get() == 1
    assert flaky.apply(kwargs={"succeed_on_attempt": 3}).get() == 3


def test_long_running_reports_progress(local_app: Celery) -> None:
    result = local_app.tasks["workers.tasks.long_running"].apply(
        kwargs={"steps": 3, "delay": 0}, task_id="progress-test"
    )
    assert result.get() == {"steps": 3}
    # The last PROGRESS update went to the (in-memory) backend before the eager result.
    stored = local_app.backend.get_task_meta("progress-test")
    assert stored["status"] == "PROGRESS"
    assert stored["result"] == {"current": 2, "total": 3}


def test_workers_never_import_the_panel() -> None:
    script = (
        "import json, sys\n"
        "import workers, workers.tasks\n"
        "loaded = sorted(m for m in sys.modules\n"
        "                if m.split('.')[0] in {'desktop', 'PySide6', 'qasync', 'shiboken6'})\n"
        "print(json.dumps({'bad': loaded, 'app': type(workers.app).__name__,\n"
        "                  'tasks': 'workers.tasks' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"bad": [], "app": "Celery", "tasks": True}
