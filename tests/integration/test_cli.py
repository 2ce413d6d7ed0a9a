"""The `celery-desk` command as a person runs it: a real process, real brokers, exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import ClusterState
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile
from tests.desk_cli import celery_desk as run


@pytest.fixture
def services(isolated_config: Paths) -> Any:
    svc = Services.open()
    yield svc
    svc.embedded.stop()


def test_profile_test_tells_four_situations_apart(
    services: Services, embedded_redis: Any, unused_port: int
) -> None:
    good = embedded_redis.url()
    bare = urls.split_password(good).url
    services.profiles.save(Profile(name="good", broker_url=good, result_backend=""))
    services.profiles.save(
        Profile(name="wrongpw", broker_url=urls.join_password(bare, "nope"), result_backend="")
    )
    services.profiles.save(
        Profile(name="port", broker_url=f"redis://127.0.0.1:{unused_port}/0", result_backend="")
    )
    services.profiles.save(
        Profile(name="dns", broker_url="redis://no-such-host.invalid:6379/0", result_backend="")
    )
    results = {name: run("profile", "test", name) for name in ("good", "wrongpw", "port", "dns")}
    assert results["good"].returncode == 0
    assert "ok: connected to Redis" in results["good"].stdout
    lines = {}
    for name in ("wrongpw", "port", "dns"):
        assert results[name].returncode == 1, results[name]
        output = results[name].stderr.strip().splitlines()
        assert len(output) == 1, output
        lines[name] = output[0]
    assert "authentication failed" in lines["wrongpw"]
    assert "connection refused" in lines["port"] and str(unused_port) in lines["port"]
    assert "could not be resolved" in lines["dns"]
    assert len(set(lines.values())) == 3
    everything = "".join(r.stdout + r.stderr for r in results.values())
    assert urls.password_of(good) not in everything
    assert "nope" not in everything


def test_broker_start_status_stop(services: Services) -> None:
    assert run("broker", "status").returncode == 3
    started = run("broker", "start")
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout and "****" in started.stdout
    assert services.embedded.password not in started.stdout
    again = run("broker", "start")
    assert "already running" in again.stdout
    status = json.loads(run("broker", "status", "--json").stdout)
    assert status["running"] is True and status["kept"] is True
    assert run("profile", "test").returncode == 0
    stopped = run("broker", "stop")
    assert "stopped" in stopped.stdout
    assert run("broker", "status").returncode == 3
    assert "not running" in run("broker", "stop").stdout


def test_profile_test_on_embedded_when_it_is_not_running(isolated_config: Paths) -> None:
    result = run("profile", "test", "embedded")
    assert result.returncode == 1
    assert "embedded broker is not running" in result.stderr


def test_profile_add_list_show_remove(isolated_config: Paths) -> None:
    added = run(
        "profile",
        "add",
        "rabbit",
        "--broker",
        "amqp://guest@127.0.0.1:5672//",
        "--queue",
        "tasks:10",
        "--queue",
        "queue1",
        "--ask-password",
        stdin="s3cret\n",
    )
    assert added.returncode == 0, added.stderr
    assert "s3cret" not in isolated_config.profiles_file.read_text()
    listed = json.loads(run("profile", "list", "--json").stdout)
    assert [row["name"] for row in listed] == ["embedded", "rabbit"]
    assert listed[1]["broker_url"] == "amqp://guest:****@127.0.0.1:5672//"
    shown = run("profile", "show", "rabbit")
    assert "queue: tasks keys=tasks x-max-priority=10" in shown.stdout
    assert "s3cret" not in shown.stdout
    assert run("profile", "remove", "rabbit").returncode == 0
    assert "rabbit" not in run("profile", "list").stdout


def test_app_defaults_follow_the_profiles_broker(isolated_config: Paths) -> None:
    """The workers app reads CELERY_BROKER; the probe sees this profile's, not a stray Redis."""
    added = run("profile", "add", "rabbit", "--broker", "amqp://guest@127.0.0.1:5672//")
    assert added.returncode == 0, added.stderr
    shown = json.loads(run("profile", "show", "rabbit", "--json").stdout)
    # The profile keeps nothing of the app's: it is read from the app whenever it is used.
    assert shown["result_backend"] == "" and shown["queues"] == [] and shown["transport"] == {}
    values = {row["key"]: row for row in shown["effective"]["values"]}
    assert values["result_backend"]["value"] == "rpc://"
    assert values["result_backend"]["source"] == "app"
    assert {"queue.queue1", "queue.queue2", "queue.tasks"} <= set(values)


def test_hidden_argument_names_and_keeping_their_values_are_chosen_at_add(
    isolated_config: Paths,
) -> None:
    broker = "redis://127.0.0.1:9/0"
    for name, more in (
        ("plain", ()),
        ("kept", ("--keep-argument-values", "--hide-argument", "pin")),
    ):
        added = run("profile", "add", name, "--broker", broker, "--no-from-app", *more)
        assert added.returncode == 0, added.stderr
    plain = json.loads(run("profile", "show", "plain", "--json", "--no-app").stdout)
    kept = json.loads(run("profile", "show", "kept", "--json", "--no-app").stdout)
    assert plain["keep_argument_values"] is False  # the default: the journal stores ****
    assert kept["keep_argument_values"] is True
    assert kept["redacted_arguments"] == [*plain["redacted_arguments"], "pin"]
    assert "keep_argument_values = true" in isolated_config.profiles_file.read_text()


def test_password_on_the_command_line_is_warned_about(isolated_config: Paths) -> None:
    result = run("profile", "add", "r", "--broker", "redis://:pw@127.0.0.1:6379/0")
    assert result.returncode == 0
    assert "shows in `ps`" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("profile", "add", "bad name!", "--broker", "ftp://x"), 2, "error: name:"),
        (("profile", "add", "x", "--broker", "redis://h:99999/0"), 2, "port must be"),
        (("profile", "add", "x", "--broker", "redis://h/0", "--queue", "q:x"), 2, "not a number"),
        (("profile", "add", "x", "--broker", "redis://h/0", "--app", "1bad"), 2, "app_module"),
        (("profile", "add", "x", "--broker", "redis://h/0", "--workdir", "/nope"), 2, "workdir"),
        (("profile", "add", "embedded", "--broker", "redis://h/0"), 2, "already exists"),
        (("profile", "show", "missing"), 2, "no profile named 'missing'"),
        (("profile", "remove", "missing"), 2, "no profile named 'missing'"),
        (("profile", "remove", "embedded"), 2, "built in"),
        (("profile", "test", "missing"), 2, "no profile named"),
        (("--profile", "missing", "profile", "test"), 2, "no profile named"),
        (("profile", "test", "--broker", "ftp://x"), 1, "cannot test 'ftp'"),
        (("profile", "frobnicate"), 2, "No such command"),
    ],
)
def test_error_paths_say_what_is_wrong(
    isolated_config: Paths, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_profiles_file_is_reported(isolated_config: Paths) -> None:
    isolated_config.ensure()
    isolated_config.profiles_file.write_text("not = [valid")
    result = run("profile", "list")
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr


def test_profile_test_with_adhoc_flags(embedded_redis: Any, unused_port: int) -> None:
    result = run("profile", "test", "--broker", f"redis://127.0.0.1:{unused_port}/0")
    assert result.returncode == 1
    assert "connection refused" in result.stderr


def test_from_app_fills_queues(isolated_config: Paths, tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        "from celery import Celery\nfrom kombu import Queue\n"
        "app = Celery('myapp')\n"
        "app.conf.task_queues = [Queue('alpha', queue_arguments={'x-max-priority': 5})]\n"
        "app.conf.broker_transport_options = {'priority_steps': [0, 5, 9], 'sep': ':'}\n"
    )
    result = run(
        "profile",
        "add",
        "mine",
        "--broker",
        "redis://127.0.0.1:6379/0",
        "--app",
        "myapp",
        "--workdir",
        str(tmp_path),
        "--from-app",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(run("profile", "show", "mine", "--json").stdout)
    assert shown["queues"] == [] and shown["transport"] == {}
    assert shown["app_fingerprint"] == shown["effective"]["fingerprint"]
    values = {row["key"]: (row["value"], row["source"]) for row in shown["effective"]["values"]}
    assert values["queue.alpha"][0]["x-max-priority"] == 5
    assert values["transport.priority_steps"] == ([0, 5, 9], "app")
    assert values["transport.sep"] == (":", "app")
    assert values["transport.visibility_timeout"] == (3600, "kombu default")
    assert values["task_default_priority"] == (None, "Celery default")
    assert shown["effective"]["drift"] == []
    broken = run(
        "profile",
        "add",
        "broken",
        "--broker",
        "redis://h/0",
        "--app",
        "nosuchmodule",
        "--workdir",
        str(tmp_path),
        "--from-app",
    )
    assert broken.returncode == 1
    assert "No module named 'nosuchmodule'" in broken.stderr


def test_tasks_json_prints_args_kwargs_and_result_as_json_values(services: Services) -> None:
    """The journal keeps Celery's event reprs and the backend's JSON as text; `--json` prints
    the values they stand for, and text that is neither stays text."""
    journal = Journal(services.journal_path(services.profiles.get("embedded")))
    now = time.time()
    state = ClusterState()
    diff = state.apply(
        [  # the fields Celery's task-received and task-succeeded events carry
            {"type": "task-received", "uuid": "from-events", "hostname": "w@h",
             "timestamp": now, "name": "workers.tasks.t1", "args": "(1, 2)",
             "kwargs": "{'message': 'hi', 'ok': True}"},
            {"type": "task-succeeded", "uuid": "from-events", "hostname": "w@h",
             "timestamp": now + 1, "result": "'1 + 2 = 3, message: hi'", "runtime": 0.5},
            {"type": "task-received", "uuid": "not-literal", "hostname": "w@h",
             "timestamp": now + 2, "name": "workers.tasks.add",
             "args": "(<object object at 0x7f3a>, '50%')",
             "kwargs": "{'at': datetime.datetime(2024, 1, 1, 0, 0)}"},
            {"type": "task-succeeded", "uuid": "not-literal", "hostname": "w@h",
             "timestamp": now + 3, "result": "{1, 2}", "runtime": 0.1},
        ]
    )  # fmt: skip
    journal.write([*diff.tasks_added, *diff.tasks_changed], diff.events)
    # What the panel records when it sends, then the result backend's answer (JSON).
    journal.record_submitted("from-backend", "workers.tasks.xsum", queue="tasks", priority=3)
    journal.set_final("from-backend", "SUCCESS", '{"total": 3, "parts": [1, 2.5, null]}', now)
    journal.close()

    listed = run("tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {row["id"]: row for row in json.loads(listed.stdout)}
    assert by_id["from-events"]["args"] == [1, 2]
    assert by_id["from-events"]["kwargs"] == {"message": "hi", "ok": True}
    assert by_id["from-events"]["result"] == "1 + 2 = 3, message: hi"
    assert by_id["from-backend"]["result"] == {"total": 3, "parts": [1, 2.5, None]}
    assert by_id["from-backend"]["args"] is None and by_id["from-backend"]["priority"] == 3
    assert by_id["not-literal"]["args"] == "(<object object at 0x7f3a>, '50%')"
    assert by_id["not-literal"]["kwargs"] == "{'at': datetime.datetime(2024, 1, 1, 0, 0)}"
    assert by_id["not-literal"]["result"] == "{1, 2}"  # a set: JSON has none, the text stays

    human = run("tasks")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert len(lines) == 3 and "Traceback" not in human.stderr
    assert lines[0].split()[:3] == ["from-backend", "SUCCESS", "workers.tasks.xsum"]
    assert any(line.split()[:2] == ["from-events", "SUCCESS"] for line in lines)


def test_a_password_protected_redis_with_only_the_broker_tests_clean(
    isolated_config: Paths, embedded_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`profile add p --broker redis://:PASSWORD@host:port/0` and no --backend, with the shipped
    app (which uses its broker as result backend): the backend is the app's own, read with the
    broker's password, so `profile test` passes; the password shows nowhere."""
    monkeypatch.delenv("CELERY_DESK_QUEUE_PREFIX", raising=False)
    url = embedded_redis.url(5)
    password = urls.password_of(url)
    assert password
    added = run("profile", "add", "p", "--broker", url)
    assert added.returncode == 0, added.stderr
    tested = run("profile", "test", "p")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "broker ok" in tested.stdout and "result backend ok" in tested.stdout
    for output in (added.stdout, added.stderr, tested.stdout, tested.stderr):
        assert password not in output
    for path in isolated_config.config_dir.rglob("*"):
        if path.is_file() and path.name != "secrets.json":
            assert password not in path.read_text(errors="replace")


def test_a_changed_setting_is_shown_as_drift_until_refreshed(
    isolated_config: Paths, tmp_path: Path
) -> None:
    app = tmp_path / "driftapp.py"
    app.write_text(
        "from celery import Celery\napp = Celery('driftapp')\n"
        "app.conf.broker_transport_options = {'priority_steps': [0, 3, 6, 9]}\n"
    )
    base = ["--app", "driftapp", "--workdir", str(tmp_path)]
    assert run("profile", "add", "d", "--broker", "redis://127.0.0.1:6399/0", *base).returncode == 0
    shown = json.loads(run("profile", "show", "d", "--json").stdout)
    assert shown["effective"]["drift"] == []
    app.write_text(app.read_text().replace("[0, 3, 6, 9]", "list(range(10))"))
    shown = json.loads(run("profile", "show", "d", "--json").stdout)
    assert [c["key"] for c in shown["effective"]["drift"]] == ["transport.priority_steps"]
    text = run("profile", "show", "d").stdout
    assert "changed since the profile last read the app (1)" in text
    assert "transport.priority_steps: [0, 3, 6, 9] → [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in text
    refreshed = run("profile", "refresh", "d")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "changed: transport.priority_steps" in refreshed.stdout
    shown = json.loads(run("profile", "show", "d", "--json").stdout)
    assert shown["effective"]["drift"] == []
    assert shown["app_fingerprint"] == shown["effective"]["fingerprint"]
