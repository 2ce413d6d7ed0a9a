"""A secret passed as a task argument, under each of the default hidden names (in other cases,
nested in dicts), appears nowhere the panel shows, writes or prints: not in any screen of the
real window (every table cell and tooltip, the Tasks detail pane of every task, the Failures
screen's groups, members and example, its copied Markdown report, the Queues screen's waiting
message), not in `celery-desk tasks` (list, one task, its local worker's log lines), `why`,
`failures`, `audit` or `queues` (text or JSON), not in `record`'s output, and not in any file
the panel writes: the local worker's log (the worker logs at DEBUG, which prints every task's
arguments) and, when the profile stores hidden values (the default), the journal. A profile
that keeps the real values shows the same, has them in its journal file, and shows one task's
only on an explicit "Reveal arguments", which the audit log keeps.

Real worker (started by the panel, as a person would), real recorder, real broker; the secret
is unique to the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import workers.tasks  # noqa: F401
from desktop.core.base.argument_redaction import DEFAULT_REDACTED_NAMES
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.conftest import redis_server
from tests.desk_cli import celery_desk as cli
from tests.integration.worker_process import REPO_ROOT
from workers import create_app

pytestmark = pytest.mark.slow


def secret_calls(secret: str) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """Task name -> (args, kwargs) putting `secret` under every default hidden name, in other
    cases, inside longer names and nested dicts; each call fails (a dict where numbers go)."""
    calls = {
        "add": ([], {"x": {"Password": secret, "db_passwd": secret,
                           "nested": {"SECRET": secret, "my_token": secret}}, "y": 2}),
        "mul": ([{"db": {"api_key": secret, "Authorization": f"Bearer {secret}"},
                  "card": {"Credit_Card": secret}}, 1], {}),
    }  # fmt: skip
    said = json.dumps(calls).lower()
    assert all(f'"{n}' in said or f"_{n}" in said for n in DEFAULT_REDACTED_NAMES), said
    return calls


@contextmanager
def recording(profile: str) -> Iterator[list[str]]:
    """`celery-desk record` for the profile, from when it receives events; everything it
    printed is in the list after."""
    said: list[str] = []
    recorder = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--profile", profile, "record"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )  # fmt: skip
    pump = threading.Thread(target=lambda: said.extend(recorder.stdout or ()), daemon=True)
    pump.start()
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("connected:") for line in said):
            assert time.monotonic() < deadline and recorder.poll() is None, said
            time.sleep(0.1)
        yield said
    finally:
        recorder.terminate()
        recorder.wait(timeout=30)
        pump.join(timeout=10)


@pytest.mark.parametrize("keep", [False, True], ids=["stored-hidden", "kept-real"])
def test_a_secret_argument_appears_in_no_screen_output_or_file(
    tmp_path: Path, qtbot: Any, keep: bool
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    idle = f"idle-{uuid.uuid4().hex[:6]}"  # a queue nobody consumes: the message waits there
    outputs: list[str] = []
    with redis_server(tmp_path / "redis") as broker:
        services = Services.open()
        profile = Profile(
            name="secrets", broker_url=broker.url(0), result_backend=broker.url(1),
            workdir=str(REPO_ROOT), queues=[QueueSpec(idle, 10)], keep_argument_values=keep,
        )  # fmt: skip
        services.profiles.save(profile)
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        started = cli("--profile", "secrets", "worker", "start", "-Q", "tasks", "-n", "redact",
                      "-c", "1", "-l", "DEBUG", "--timeout", "60", timeout=90)  # fmt: skip
        try:
            assert started.returncode == 0, started.stderr[-2000:]
            outputs.append(started.stdout + started.stderr)
            with recording("secrets") as recorded:
                failed = [
                    client.tasks[f"workers.tasks.{name}"].apply_async(args, kwargs)
                    for name, (args, kwargs) in secret_calls(secret).items()
                ]
                client.send_task(
                    "workers.tasks.t1", args=[1, 2], queue=idle,
                    kwargs={"token": secret, "headers": {"AUTHORIZATION": secret}},
                )  # fmt: skip
                for result in failed:
                    with pytest.raises(TypeError):
                        result.get(timeout=30)
                deadline = time.monotonic() + 20
                while cli("--profile", "secrets", "tasks", "--json").stdout.count('"FAILURE"') < 2:
                    assert time.monotonic() < deadline, "the recorder journaled no failure"
                    time.sleep(0.3)
                outputs += _in_the_window(qtbot, services, profile, failed[0].id, idle, secret)
                outputs += _from_the_command_line(failed[0].id, idle, keep)
            outputs.append("".join(recorded))
        finally:
            stopped = cli("--profile", "secrets", "worker", "stop", "--all", timeout=90)
            outputs.append(stopped.stdout + stopped.stderr)
            client.close()
    leaked = [text[:300] for text in outputs if secret in text]
    assert leaked == []
    written = [p for p in services.paths.data_dir.rglob("*") if p.is_file()]
    written += [p for p in services.paths.config_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in written), written
    worker_logs = [p for p in written if p.suffix == ".log" and "redact" in p.name]
    assert worker_logs and b"TaskPool: Apply" in b"".join(p.read_bytes() for p in worker_logs)
    holding = {p.name for p in written if secret.encode() in p.read_bytes()}
    if keep:  # the journal alone holds it, as the profile asked
        assert holding and all(".sqlite3" in name for name in holding), holding
    else:
        assert holding == set()


def _in_the_window(
    qtbot: Any, services: Services, profile: Profile, task_id: str, idle: str, secret: str
) -> list[str]:
    """Every text of the real window with each task's details, each failure group's members
    and example, the copied Markdown report and the idle queue's waiting message shown; then,
    when the journal keeps real values, one "Reveal arguments" (which must show the secret,
    and hide it again when another task is selected)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QGuiApplication

    from tests.support import every_text, window_on

    shown: list[str] = []
    with window_on(qtbot, profile, saved=True) as window:
        tasks, failures, queues = window.tasks, window.failures, window.queues
        window.tabs.setCurrentWidget(tasks)
        qtbot.waitUntil(lambda: tasks.model.rowCount() >= 2, timeout=15000)
        for row in range(tasks.model.rowCount()):
            tasks.table.selectRow(row)
            current = tasks.model.task_id(row)
            qtbot.waitUntil(lambda: not tasks.jobs.running("details"), timeout=5000)
            assert current and current in tasks.detail.toPlainText()
            shown += [tasks.detail.toPlainText(), *every_text(tasks)]
        window.tabs.setCurrentWidget(failures)
        qtbot.waitUntil(lambda: failures.groups.rowCount() >= 1, timeout=15000)
        for row in range(failures.groups.rowCount()):
            failures.groups_view.selectRow(row)
            qtbot.waitUntil(lambda: "kwargs:" in failures.example.toPlainText(), timeout=5000)
            failures.failure_actions.copy_report()
            shown += [QGuiApplication.clipboard().text(), *every_text(failures)]
        assert "****" in QGuiApplication.clipboard().text()
        window.tabs.setCurrentWidget(queues)
        queues.select_queue(idle)
        qtbot.waitUntil(lambda: queues.waiting.model().rowCount() >= 1, timeout=15000)
        shown += list(every_text(window))
        assert "'****'" in " ".join(shown) or '"****"' in " ".join(shown)
        if profile.keep_argument_values:
            tasks.table.selectRow(next(r for r in range(tasks.model.rowCount())
                                       if tasks.model.task_id(r) == task_id))  # fmt: skip
            window.tabs.setCurrentWidget(tasks)
            qtbot.waitUntil(lambda: not tasks.jobs.running("details"), timeout=5000)
            assert f'href="reveal:{task_id}"' in tasks.detail.toHtml()  # offered in the pane
            tasks.detail.anchorClicked.emit(QUrl(f"reveal:{task_id}"))  # and clicked
            qtbot.waitUntil(lambda: secret in tasks.detail.toPlainText(), timeout=5000)
            tasks.table.selectRow(0 if tasks.model.task_id(0) != task_id else 1)
            qtbot.waitUntil(lambda: secret not in tasks.detail.toPlainText(), timeout=5000)
            shown += list(every_text(window))
            audited = JournalReader(services.journal_path(profile))
            try:
                qtbot.waitUntil(lambda: any(e.action == "reveal arguments" and e.target ==
                                            task_id for e in audited.audit_entries()))  # fmt: skip
            finally:
                audited.close()
    return shown


def _from_the_command_line(task_id: str, idle: str, keep: bool) -> list[str]:
    """Every command that shows tasks, failures, queues, the audit log or a diagnosis, in
    text and JSON."""
    said = []
    for command in (
        ("tasks", "--json"), ("tasks",), ("tasks", "--query", "password"),
        ("tasks", task_id), ("tasks", task_id, "--json", "--logs"),
        ("why", task_id, "--json"), ("failures", "--json"), ("failures",),
        ("audit", "--json"), ("audit",), ("queues", "--json"), ("queues",),
    ):  # fmt: skip
        done = cli("--profile", "secrets", *command)
        allowed = (0, 1) if command[0] == "why" else (0,)  # why: 1 when a source is silent
        assert done.returncode in allowed, (command, done.stderr)
        said.append(done.stdout + done.stderr)
    one = json.loads(said[4])
    assert one["kwargs"]["x"]["Password"] == "****" and one["kwargs"]["x"]["nested"] == {
        "SECRET": "****", "my_token": "****"}  # fmt: skip
    assert any(task_id in line for line in one["logs"])  # the local worker's lines were read
    (waiting,) = [q for q in json.loads(said[10]) if q["queue"] == idle]
    assert waiting["next"][0]["kwargs"] == {"token": "****", "headers": {"AUTHORIZATION": "****"}}
    if keep:
        assert "reveal arguments" in said[8]
    return said
