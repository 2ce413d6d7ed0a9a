"""Failures from a real worker, grouped and retried from the command line as a person would:
`celery-desk record` beside a `celery worker`, then `celery-desk failures --json` and
`celery-desk retry --failure-group`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import workers.tasks  # noqa: F401
from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.conftest import redis_server
from tests.desk_cli import celery_desk as cli
from tests.integration.worker_process import WorkerProcess, running_worker
from workers import create_app

pytestmark = pytest.mark.slow

# Three causes, each with what varies from task to task (a number, an address) in its text.
BAD_INPUT, UNREACHABLE, WRONG_TYPE = 100, 40, 60


def _failures(profile: str) -> list[dict[str, Any]]:
    listed = cli("--profile", profile, "failures", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def _wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.5)


def test_two_hundred_failures_of_three_causes_grouped_and_one_cause_retried(
    tmp_path: Path,
) -> None:
    with redis_server(tmp_path / "redis") as broker:
        services = Services.open()
        profile = Profile(name="fails", broker_url=broker.url(0), result_backend=broker.url(1))
        services.profiles.save(profile)
        journal_path = services.journal_path(services.profiles.get("fails"))
        recorder = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", "fails", "record"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        client = create_app(broker.url(0), broker.url(1), queue_prefix="")
        worker = WorkerProcess(
            queues=["tasks"],
            broker_url=broker.url(0),
            backend_url=broker.url(1),
            log_path=tmp_path / "worker.log",
            concurrency=4,
        )
        try:
            _wait_for(journal_path.exists, 15, "record opened the journal")
            time.sleep(1.0)  # subscribed to the events by now
            with running_worker(client, worker):
                fail, add = client.tasks["workers.tasks.fail"], client.tasks["workers.tasks.add"]
                sent = [fail.delay(f"bad input {n}").id for n in range(BAD_INPUT)]
                sent += [fail.delay(f"cannot reach 10.0.0.{n}:6379").id for n in range(UNREACHABLE)]
                sent += [add.delay(n, "x").id for n in range(WRONG_TYPE)]
                total = BAD_INPUT + UNREACHABLE + WRONG_TYPE

                def all_grouped() -> list[dict[str, Any]]:
                    groups = _failures("fails")
                    return groups if sum(g["count"] for g in groups) == total else []

                groups = _wait_for(all_grouped, 90, f"{total} failures in the journal")
                counts = {g["fingerprint"]: g["count"] for g in groups}
                assert counts == {
                    "ValueError('bad input <n>')": BAD_INPUT,
                    "TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")": WRONG_TYPE,
                    "ValueError('cannot reach <addr>')": UNREACHABLE,
                }, counts
                assert [g["task_names"] for g in groups] == [
                    ["workers.tasks.fail"], ["workers.tasks.add"], ["workers.tasks.fail"]
                ]  # fmt: skip

                dry = cli("--profile", "fails", "retry", "--failure-group",
                          "ValueError('cannot reach <addr>')", "--dry-run", "--json")  # fmt: skip
                assert dry.returncode == 0, dry.stderr
                assert len(json.loads(dry.stdout)["sent"]) == UNREACHABLE

                retried = cli("--profile", "fails", "retry", "--failure-group",
                              "ValueError('bad input <n>')", "--json")  # fmt: skip
                assert retried.returncode == 0, retried.stderr
                document = json.loads(retried.stdout)
                links = {s["retry_of"]: s["id"] for s in document["sent"]}
                assert set(links) == set(sent[:BAD_INPUT]) and document["refused"] == []

                def failed_again() -> list[dict[str, Any]]:
                    groups = _failures("fails")
                    return groups if groups[0]["count"] == 2 * BAD_INPUT else []

                audited = json.loads(cli("--profile", "fails", "audit", "--json").stdout)
                assert [(e["action"], e["target"], e["source"]) for e in audited] == [
                    ("retry", f"{BAD_INPUT} task(s)", "cli")
                ]  # the dry run sent nothing, so it is not an action on the cluster
                assert json.loads(audited[0]["reply"])["sent"] == BAD_INPUT
                groups = _wait_for(failed_again, 60, "the retried tasks failed again")
                assert {g["fingerprint"]: g["count"] for g in groups}[
                    "ValueError('cannot reach <addr>')"
                ] == UNREACHABLE  # the other causes were not sent again
        finally:
            recorder.terminate()
            recorder.wait(timeout=30)
            client.close()
        journal = Journal(journal_path, read_only=True)
        try:
            old = journal.rows(links)
            new = journal.rows(links.values())
            for old_id, new_id in links.items():
                assert new[new_id]["retry_of"] == old_id
                assert journal.retries_of(old_id) == [new_id]
                assert new[new_id]["args"] == old[old_id]["args"]
                assert new[new_id]["name"] == "workers.tasks.fail"
                assert new[new_id]["state"] == "FAILURE"
        finally:
            journal.close()
