"""A password passed as a task argument appears nowhere the panel writes or prints: not in the
journal's file, not in `celery-desk tasks`, `failures`, `audit` or `queues` (text or JSON), not
in `record`'s output. Real worker, real recorder, real broker; the secret is unique to the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import workers.tasks  # noqa: F401
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.conftest import redis_server
from tests.desk_cli import celery_desk as cli
from tests.integration.worker_process import REPO_ROOT, WorkerProcess, running_worker
from workers import create_app

pytestmark = pytest.mark.slow


def test_a_secret_argument_appears_in_no_output_and_no_file(tmp_path: Path) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    idle = f"idle-{uuid.uuid4().hex[:6]}"  # a queue nobody consumes: the message waits there
    with redis_server(tmp_path / "redis") as broker:
        services = Services.open()
        profile = Profile(
            name="secrets", broker_url=broker.url(0), result_backend=broker.url(1),
            workdir=str(REPO_ROOT), queues=[QueueSpec(idle, 10)],
        )  # fmt: skip
        services.profiles.save(profile)
        journal = services.journal_path(services.profiles.get("secrets"))
        recorder = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", "secrets", "record"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        worker = WorkerProcess(
            queues=["tasks"], broker_url=broker.url(0), backend_url=broker.url(1),
            log_path=tmp_path / "worker.log",
        )  # fmt: skip
        outputs: list[str] = []
        try:
            deadline = time.monotonic() + 15
            while not journal.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            with running_worker(client, worker):
                add = client.tasks["workers.tasks.add"]
                failed = add.apply_async(kwargs={"x": {"password": secret}, "y": 2})
                nested = add.apply_async(args=[{"db": {"api_key": secret}}, 1])
                client.send_task(
                    "workers.tasks.t1", args=[1, 2], kwargs={"token": secret}, queue=idle
                )
                for result in (failed, nested):
                    with pytest.raises(TypeError):
                        result.get(timeout=20)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    listed = cli("--profile", "secrets", "tasks", "--json").stdout
                    if listed.count('"FAILURE"') >= 2:
                        break
                    time.sleep(0.3)
            for command in (
                ("tasks", "--json"), ("tasks",), ("tasks", "--query", "password"),
                ("failures", "--json"), ("failures",), ("audit", "--json"),
                ("queues", "--json"), ("queues",),
            ):  # fmt: skip
                done = cli("--profile", "secrets", *command)
                assert done.returncode == 0, (command, done.stderr)
                outputs.append(done.stdout + done.stderr)
            listed = json.loads(outputs[0])
            assert {r["id"] for r in listed} >= {failed.id, nested.id}
            by_id = {r["id"]: r for r in listed}
            assert by_id[failed.id]["kwargs"]["x"] == {"password": "****"}
            queued = json.loads(outputs[6])
            (waiting,) = [q for q in queued if q["queue"] == idle]
            assert waiting["next"][0]["kwargs"] == {"token": "****"}
        finally:
            recorder.terminate()
            out, err = recorder.communicate(timeout=30)
            outputs.append(out + err)
            client.close()
    for text in outputs:
        assert secret not in text
    written = [p for p in services.paths.data_dir.rglob("*") if p.is_file()]
    written += [p for p in services.paths.config_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in written), written
    assert [p for p in written if secret.encode() in p.read_bytes()] == []
