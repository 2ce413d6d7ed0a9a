"""`celery-desk record` keeps history without a window; `celery-desk tasks` reads it back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import workers.tasks  # noqa: F401
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.desk_cli import celery_desk as cli
from tests.integration.worker_process import WorkerProcess, running_worker
from workers import create_app

pytestmark = pytest.mark.slow


def test_record_then_list_tasks(embedded_redis: Any, tmp_path: Path) -> None:
    services = Services.open()
    services.profiles.save(
        Profile(name="rec", broker_url=embedded_redis.url(0), result_backend=embedded_redis.url(1))
    )
    recorder = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--profile", "rec", "record"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    client = create_app(embedded_redis.url(0), embedded_redis.url(1), queue_prefix="")
    try:
        journal = services.journal_path(services.profiles.get("rec"))
        deadline = time.monotonic() + 15
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # subscribed by now
        worker = WorkerProcess(
            queues=["tasks"],
            broker_url=embedded_redis.url(0),
            backend_url=embedded_redis.url(1),
            log_path=tmp_path / "worker.log",
        )
        with running_worker(client, worker):
            ok = client.tasks["workers.tasks.t1"].apply_async(args=[4, 5], kwargs={"message": ""})
            bad = client.tasks["workers.tasks.fail"].apply_async()
            assert ok.get(timeout=20) == 9
            with pytest.raises(ValueError):
                bad.get(timeout=20)
            deadline = time.monotonic() + 10
            rows: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                listed = cli("--profile", "rec", "tasks", "--json", "--limit", "100")
                rows = json.loads(listed.stdout) if listed.returncode == 0 else []
                states = {r["id"]: r["state"] for r in rows}
                if states.get(ok.id) == "SUCCESS" and states.get(bad.id) == "FAILURE":
                    break
                time.sleep(0.3)
        by_id = {r["id"]: r for r in rows}
        assert by_id[ok.id]["state"] == "SUCCESS", rows
        for key in ("id", "name", "state", "args", "kwargs", "result", "worker", "queue",
                    "priority", "started", "runtime"):  # fmt: skip
            assert key in by_id[ok.id]
        assert by_id[ok.id]["name"] == "workers.tasks.t1"
        assert by_id[ok.id]["result"] == 9  # JSON values, not Celery's repr text
        assert by_id[ok.id]["args"] == [4, 5] and by_id[ok.id]["kwargs"] == {"message": ""}
        assert by_id[ok.id]["queue"] == "tasks"
        assert by_id[ok.id]["started"] and by_id[ok.id]["runtime"] is not None
        failures = json.loads(
            cli("--profile", "rec", "tasks", "--state", "failure", "--json").stdout
        )
        assert [r["id"] for r in failures] == [bad.id]
        text = cli("--profile", "rec", "tasks", "--name", "workers.tasks.t1").stdout
        assert ok.id in text and bad.id not in text
    finally:
        client.close()
        recorder.send_signal(signal.SIGTERM)
        out, err = recorder.communicate(timeout=15)
    assert recorder.returncode == 0, err
    assert "stopped:" in err and "events recorded" in err
    assert embedded_redis.broker.password not in err + out


def test_tasks_without_history_says_so(isolated_config: Any) -> None:
    result = cli("tasks")
    assert result.returncode == 1
    assert "no history for profile 'embedded'" in result.stderr


def test_record_without_the_embedded_broker_running(isolated_config: Any) -> None:
    result = cli("record")
    assert result.returncode == 1
    assert "embedded broker is not running" in result.stderr
