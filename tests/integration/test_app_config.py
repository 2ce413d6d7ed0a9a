"""Reading a profile's Celery app in a real child process: the shipped app, a Django project
like the tutorial's `dcelery`, and apps that crash, hang or are not there."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from desktop.core.app.config import (
    AppConfigError,
    read_app_config,
    read_effective_config,
    with_app_backend,
)
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.settings.profile_model import Endpoints, Profile, QueueSpec, TransportOverrides
from tests.support import pid_alive

REPO_ROOT = Path(__file__).resolve().parents[2]
DCELERY = REPO_ROOT / "tests" / "fixtures" / "dcelery"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child inherits the environment: keep a developer's settings out of it."""
    for name in (
        "CELERY_DESK_QUEUE_PREFIX",
        "CELERY_DESK_TRANSPORT_OPTIONS",
        "DJANGO_SETTINGS_MODULE",
        "CELERY_BROKER",
        "CELERY_BACKEND",
    ):
        monkeypatch.delenv(name, raising=False)


def _module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def _params(config: EffectiveConfig, task: str) -> list[str]:
    found = {t.name: t for t in config.tasks}
    assert task in found, f"{task} not among {sorted(found)}"
    return [p["name"] for p in found[task].params]


def test_shipped_workers_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    config = read_app_config(Profile(name="x", app_module="workers"))
    assert config.main == "workers"
    assert [(q.name, q.max_priority) for q in config.queues] == [
        ("queue1", 10),
        ("queue2", 10),
        ("tasks", 10),
    ]
    assert [q.routing_keys() for q in config.queues] == [["queue1"], ["queue2"], ["tasks"]]
    assert config.default_queue == "tasks"
    assert config.routed_elsewhere() == [
        ("workers.tasks.task1", "queue1"),
        ("workers.tasks.task2", "queue2"),
    ]
    assert _params(config, "workers.tasks.t1") == ["a", "b", "message"]
    t1 = next(t for t in config.tasks if t.name == "workers.tasks.t1")
    assert t1.params[2]["default"] == repr("None")
    assert t1.params[0]["annotation"] == "int"
    # Bound tasks do not show `self`.
    assert _params(config, "workers.tasks.task1") == []
    assert not any(t.name.startswith("celery.") for t in config.tasks)
    assert config.transport_option("queue_order_strategy") == "priority"
    assert config.priority_steps == list(range(10))
    assert config.transport_source("priority_steps") == "app"
    assert config.acks_late is True
    assert config.prefetch_multiplier == 1
    assert config.default_priority == 5


def test_django_project_like_the_tutorial() -> None:
    profile = Profile(
        name="d",
        app_module="dcelery",
        workdir=str(DCELERY),
        django_settings="dcelery.settings",
    )
    config = read_app_config(profile)
    assert config.main == "dcelery"
    assert config.routed_elsewhere() == [
        ("apis.tasks.task1", "queue1"),
        ("apis.tasks.task2", "queue2"),
    ]
    # task_queues declares 'tasks'; the routes' queues are made as Celery makes missing ones.
    assert [(q.name, q.max_priority, q.routing_keys()) for q in config.queues] == [
        ("tasks", 10, ["tasks"]),
        ("queue1", None, ["queue1"]),
        ("queue2", None, ["queue2"]),
    ]
    # No priority_steps in the settings: kombu's own default, not one of ours.
    assert config.priority_steps == [0, 3, 6, 9]
    assert config.transport_source("priority_steps") == "kombu default"
    assert config.default_queue == "tasks"
    assert config.acks_late is True
    assert config.prefetch_multiplier == 1
    assert config.default_priority == 5
    # autodiscover_tasks() found apis/tasks.py through INSTALLED_APPS.
    names = {t.name for t in config.tasks}
    assert {
        "apis.tasks.shared_task_demo1",
        "apis.tasks.shared_task_demo2",
        "apis.tasks.task1",
        "apis.tasks.task2",
        "apis.tasks.t1",
    } <= names
    assert _params(config, "apis.tasks.t1") == ["a", "b", "message"]
    assert str(REPO_ROOT / "tests/fixtures/dcelery/dcelery/settings.py") in config.files


def test_module_that_raises_at_import(tmp_path: Path) -> None:
    _module(tmp_path, "boom_app", 'raise RuntimeError("boom at import 4711")\n')
    with pytest.raises(AppConfigError) as caught:
        read_app_config(Profile(name="b", app_module="boom_app", workdir=str(tmp_path)))
    message = str(caught.value)
    assert "boom_app" in message
    assert "RuntimeError" in message and "boom at import 4711" in message


def test_module_that_exits_or_prints_at_import(tmp_path: Path) -> None:
    _module(
        tmp_path,
        "chatty_app",
        """
        import sys
        from celery import Celery

        print("hello from import, with a fake marker CELERY_DESK_PROBE_JSON: {")
        print("noise on stderr", file=sys.stderr)
        app = Celery("chatty_app")
        app.conf.task_default_queue = "chatter"

        @app.task
        def speak(words: str) -> str:
            return words
        """,
    )
    config = read_app_config(Profile(name="c", app_module="chatty_app", workdir=str(tmp_path)))
    assert config.default_queue == "chatter"
    assert _params(config, "chatty_app.speak") == ["words"]

    _module(tmp_path, "quitter_app", "import sys\nsys.exit(3)\n")
    with pytest.raises(AppConfigError, match="SystemExit: 3"):
        read_app_config(Profile(name="q", app_module="quitter_app", workdir=str(tmp_path)))


def test_module_that_hangs_is_killed_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "probe.pid"
    _module(
        tmp_path,
        "hang_app",
        f"""
        import os
        import time

        with open({str(pid_file)!r}, "w") as handle:
            handle.write(str(os.getpid()))
        while True:
            time.sleep(1)
        """,
    )
    started = time.monotonic()
    with pytest.raises(AppConfigError, match="did not finish within 2 s") as caught:
        read_app_config(Profile(name="h", app_module="hang_app", workdir=str(tmp_path)), timeout=2)
    elapsed = time.monotonic() - started
    assert "hang_app" in str(caught.value)
    assert 1.9 <= elapsed < 6
    pid = int(pid_file.read_text())
    assert not pid_alive(pid), "the hung probe child was left running"


def test_missing_workdir_or_interpreter(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(AppConfigError, match="does not exist") as caught:
        read_app_config(Profile(name="m", app_module="workers", workdir=str(missing)))
    assert str(missing) in str(caught.value)

    with pytest.raises(AppConfigError, match="cannot run"):
        read_app_config(
            Profile(
                name="p",
                app_module="workers",
                workdir=str(tmp_path),
                python=str(tmp_path / "no-python"),
            )
        )


def test_the_effective_configuration_of_an_app_with_its_own_settings(tmp_path: Path) -> None:
    _module(
        tmp_path,
        "filled_app",
        """
        from celery import Celery
        from kombu import Exchange, Queue

        app = Celery("filled_app", backend="redis://127.0.0.1:6390/3")
        app.conf.task_queues = [
            Queue("alpha", Exchange("alpha"), routing_key="alpha.key",
                  queue_arguments={"x-max-priority": 5}),
            Queue("beta", Exchange("beta", type="topic"), routing_key="beta.#"),
        ]
        app.conf.task_default_queue = "alpha"
        app.conf.broker_transport_options = {
            "queue_order_strategy": "priority",
            "priority_steps": [0, 5, 9],
            "sep": ":",
            "visibility_timeout": 120,
            "unacked_restore_interval": 3,
            "not_a_kombu_option": True,
        }
        """,
    )
    base = Profile(
        name="f",
        broker_url="redis://127.0.0.1:6390/0",
        result_backend="",
        app_module="filled_app",
        workdir=str(tmp_path),
        transport=TransportOverrides(visibility_timeout=30),
        queues=[QueueSpec("extra", 3)],
    )
    config = read_app_config(base)
    assert config.result_backend == "redis://127.0.0.1:6390/3"
    assert [(q.name, q.exchange.type, q.routing_key, q.max_priority, q.source)
            for q in config.queues] == [
        ("alpha", "direct", "alpha.key", 5, "app"),
        ("beta", "topic", "beta.#", None, "app"),
        ("extra", "direct", "extra", 3, "profile"),
    ]  # fmt: skip
    assert config.priority_steps == [0, 5, 9] and config.sep == ":"
    assert config.transport_option("unacked_restore_throttle") == 10  # kombu's, read from kombu
    assert config.transport_source("unacked_restore_throttle") == "kombu default"
    assert config.transport_option("not_a_kombu_option") is True
    assert config.transport_option("visibility_timeout") == 30
    assert config.transport_source("visibility_timeout") == "profile override"
    assert config.redelivery_delay_s() == 30 + 3 * 10
    assert [c.key for c in config.conflicts()] == ["transport.visibility_timeout"]
    # The app's own backend fills the profile's when the profile names none; never stored.
    bare = Endpoints(base.broker_url, "", "")
    assert with_app_backend(bare, config).result_backend == "redis://127.0.0.1:6390/3"
    chosen = Endpoints(base.broker_url, "redis://127.0.0.1:6390/7", "")
    assert with_app_backend(chosen, config).result_backend == "redis://127.0.0.1:6390/7"


def test_the_backend_the_app_derives_from_the_broker_keeps_its_password(tmp_path: Path) -> None:
    """The shipped app uses its broker as result backend. Read with the profile's broker URL
    (password included, through the environment), the app's backend carries the password, so
    `profile test` can reach it; it is never stored or printed."""
    profile = Profile(name="w", broker_url="redis://127.0.0.1:6399/0", result_backend="")
    endpoints = Endpoints("redis://:pa55w0rd@127.0.0.1:6399/0", "", "")
    config = read_effective_config(profile, endpoints)
    assert config.imported
    assert config.result_backend == "redis://:pa55w0rd@127.0.0.1:6399/0"
    assert "pa55w0rd" not in json.dumps(config.snapshot())


def test_an_app_that_cannot_be_imported_gives_celerys_defaults(tmp_path: Path) -> None:
    profile = Profile(
        name="n", broker_url="redis://h:6379/0", app_module="no_such_app", workdir=str(tmp_path)
    )
    config = read_effective_config(profile)
    assert not config.imported
    assert "No module named 'no_such_app'" in config.error
    assert config.queue_names() == ["celery"]
    assert config.priority_steps == [0, 3, 6, 9]
    assert config.setting_source("task_default_queue") == "Celery default"


def test_an_apps_error_never_shows_a_password(tmp_path: Path) -> None:
    _module(
        tmp_path, "leaky_app", 'import os\nraise RuntimeError(os.environ["CELERY_BROKER_URL"])\n'
    )
    profile = Profile(name="l", broker_url="redis://h:6379/0", app_module="leaky_app",
                      workdir=str(tmp_path))  # fmt: skip
    config = read_effective_config(profile, Endpoints("redis://:hunter22@h:6379/0", "", ""))
    assert "RuntimeError" in config.error
    assert "hunter22" not in config.error and "****" in config.error
