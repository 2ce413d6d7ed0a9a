"""Reading a profile's Celery app in a real child process: the shipped app, a Django project
like the tutorial's `dcelery`, and apps that crash, hang or are not there."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from desktop.core.app_config import (
    AppConfig,
    AppConfigError,
    apply_app_defaults,
    read_app_config,
)
from desktop.core.profiles import Profile, QueueSpec, TransportOptions, validate
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


def _params(config: AppConfig, task: str) -> list[str]:
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
    assert [q.routing_keys for q in config.queues] == [["queue1"], ["queue2"], ["tasks"]]
    assert config.default_queue == "tasks"
    assert config.routes == {
        "workers.tasks.task1": {"queue": "queue1"},
        "workers.tasks.task2": {"queue": "queue2"},
    }
    assert _params(config, "workers.tasks.t1") == ["a", "b", "message"]
    t1 = next(t for t in config.tasks if t.name == "workers.tasks.t1")
    assert t1.params[2]["default"] == repr("None")
    assert t1.params[0]["annotation"] == "int"
    # Bound tasks do not show `self`.
    assert _params(config, "workers.tasks.task1") == []
    assert not any(t.name.startswith("celery.") for t in config.tasks)
    assert config.transport_options["queue_order_strategy"] == "priority"
    assert config.transport_options["priority_steps"] == list(range(10))
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
    assert config.routes == {
        "apis.tasks.task1": {"queue": "queue1"},
        "apis.tasks.task2": {"queue": "queue2"},
    }
    assert [(q.name, q.max_priority, q.routing_keys) for q in config.queues] == [
        ("tasks", 10, ["tasks"])
    ]
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

    filled = apply_app_defaults(profile, config)
    assert [q.name for q in filled.queues] == ["tasks"]
    assert validate(filled) == {}


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


def test_apply_app_defaults_fills_queues_transport_and_backend(tmp_path: Path) -> None:
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
            Queue("beta", Exchange("beta"), routing_key="beta"),
        ]
        app.conf.task_default_queue = "alpha"
        app.conf.broker_transport_options = {
            "queue_order_strategy": "priority",
            "priority_steps": [0, 5, 9],
            "sep": ":",
            "visibility_timeout": 120,
            "unacked_restore_interval": 3,
            "not_a_profile_setting": True,
        }
        """,
    )
    base = Profile(
        name="f",
        broker_url="redis://127.0.0.1:6390/0",
        result_backend="",
        app_module="filled_app",
        workdir=str(tmp_path),
    )
    config = read_app_config(base)
    assert config.result_backend == "redis://127.0.0.1:6390/3"
    filled = apply_app_defaults(base, config)

    assert filled.queues == [
        QueueSpec("alpha", 5, ["alpha.key"]),
        QueueSpec("beta", None, ["beta"]),
    ]
    assert filled.transport == TransportOptions(
        queue_order_strategy="priority",
        priority_steps=[0, 5, 9],
        sep=":",
        visibility_timeout=120,
        unacked_restore_interval=3,
        unacked_restore_throttle=TransportOptions().unacked_restore_throttle,
    )
    assert filled.transport.redelivery_delay_s() == 120 + 3 * 10
    assert filled.result_backend == "redis://127.0.0.1:6390/3"
    assert filled.broker_url == base.broker_url and filled.name == "f"
    assert validate(filled) == {}
    # The input profile is left alone.
    assert base.result_backend == "" and base.transport == TransportOptions()

    # A backend the person set explicitly wins over the app's.
    explicit = Profile(**{**base.__dict__, "result_backend": "redis://127.0.0.1:6390/7"})
    assert apply_app_defaults(explicit, config).result_backend == "redis://127.0.0.1:6390/7"


def test_apply_app_defaults_without_declared_queues(tmp_path: Path) -> None:
    _module(
        tmp_path,
        "bare_app",
        """
        from celery import Celery

        app = Celery("bare_app")
        app.conf.task_default_queue = "only"
        """,
    )
    base = Profile(name="bare", app_module="bare_app", workdir=str(tmp_path))
    config = read_app_config(base)
    assert config.queues == []
    filled = apply_app_defaults(base, config)
    assert filled.queues == [QueueSpec("only")]
    assert filled.transport == TransportOptions()
