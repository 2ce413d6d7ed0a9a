"""The one result-backend poller (desktop/core/app/results.py): reconciliation, the Builder and
`run --wait` read a result, and decide that it is final, the same way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from desktop.core.app.results import read_result


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("t", broker="memory://", backend="cache+memory://", set_as_current=False)
    yield app
    app.close()


def test_a_success_reads_as_its_value(app: Celery) -> None:
    app.backend.store_result("s", {"n": 2}, "SUCCESS")
    read = read_result(app, "s")
    assert read.finished and read.state == "SUCCESS"
    assert read.outcome == {"n": 2} and read.text == "{'n': 2}"
    assert read.date_done is not None and read.priority is None


def test_a_failure_reads_as_its_exception_type_and_message(app: Celery) -> None:
    app.backend.store_result("f", ValueError("no"), "FAILURE")
    read = read_result(app, "f")
    assert read.finished and read.outcome == read.text == "ValueError: no"


def test_unknown_and_running_tasks_are_not_final_a_rejected_one_is(app: Celery) -> None:
    """The Builder and `run --wait` kept polling a REJECTED task: only SUCCESS, FAILURE and
    REVOKED ended one there."""
    assert read_result(app, "never-sent").state == "PENDING"
    assert not read_result(app, "never-sent").finished
    app.backend.store_result("r", None, "STARTED")
    assert not read_result(app, "r").finished
    app.backend.store_result("j", None, "REJECTED")
    assert read_result(app, "j").finished
