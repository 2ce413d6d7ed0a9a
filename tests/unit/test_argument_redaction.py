"""Values under secret-like argument names hidden: in argsrepr text, in JSON values, in event
fields, and in everything the journal writes (rows, timelines, what the panel sent, what the
result backend gave)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.base.argument_redaction import MASK, ArgumentRedactor
from desktop.core.base.task_record import Submitted
from desktop.core.broker import retrying
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.state import EventRecord
from tests.factories import task_row

SECRET = "hunter2-8f14e45f"
hidden = ArgumentRedactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{{'password': '{SECRET}', 'user': 'bob'}}", "{'password': '****', 'user': 'bob'}"),
        (f"({{'db': {{'API_KEY': '{SECRET}'}}}}, 3)", "({'db': {'API_KEY': '****'}}, 3)"),
        ("{'db_password': 12345, 'n': 1}", "{'db_password': '****', 'n': 1}"),
        ("(1, 2)", "(1, 2)"),
        ("{'password': None}", "{'password': None}"),
        (f"{{'Authorization': 'Bearer {SECRET},x'}}", "{'Authorization': '****'}"),
        # Cut by Celery (not a literal any more): hidden by pattern.
        (f"{{'token': '{SECRET}', 'long': 'aaaa...'}}", "{'token': '****', 'long': 'aaaa...'}"),
        (f"Obj(secret='{SECRET}', n=1)", "Obj(secret='****', n=1)"),
    ],
)
def test_argsrepr_text_is_redacted(text: str, expected: str) -> None:
    assert hidden.text(text) == expected


def test_values_nested_in_lists_and_dicts_and_a_profile_s_own_names() -> None:
    value = [{"user": {"passwd": SECRET}}, ({"pin": 1234},)]
    assert hidden.value(value) == [{"user": {"passwd": MASK}}, ({"pin": 1234},)]
    assert ArgumentRedactor(["pin"]).value(value) == [
        {"user": {"passwd": SECRET}},
        ({"pin": MASK},),
    ]
    assert ArgumentRedactor([]).text(f"{{'password': '{SECRET}'}}") == f"{{'password': '{SECRET}'}}"


@given(st.text(max_size=200))
def test_any_text_gives_text_and_never_raises(text: str) -> None:
    assert isinstance(hidden.text(text), str)
    assert isinstance(hidden.json_text(text), str)


def test_the_journal_keeps_no_hidden_value_in_rows_timelines_sends_or_backend_reads(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        kwargs = f"{{'password': '{SECRET}', 'n': 1}}"
        journal.write(
            [task_row("a", name="t", args=f"({{'token': '{SECRET}'}},)", kwargs=kwargs)],
            [EventRecord("a", "task-received", 1.0, json.dumps(
                {"type": "task-received", "args": f"({{'token': '{SECRET}'}},)",
                 "kwargs": kwargs, "headers": {"api_key": SECRET}}))],
        )  # fmt: skip
        journal.record_submitted_many([Submitted("b", "t", kwargs=kwargs)])

        backend_kwargs = kwargs

        class FromBackend:  # backend_scan.BackendResult's fields
            task_id, name, state, queue, worker = "c", "t", "SUCCESS", None, None
            args, result, exception = f"[{{'secret': '{SECRET}'}}]", "1", None
            kwargs = backend_kwargs
            traceback, finished, retries, parent_id, root_id = None, 2.0, 0, None, None

        journal.store_backend_results([FromBackend()])
        rows = journal.rows(["a", "b", "c"])
        assert rows["a"]["kwargs"] == "{'password': '****', 'n': 1}"
        assert rows["a"]["args"] == "({'token': '****'},)"
        assert rows["b"]["kwargs"] == rows["a"]["kwargs"]
        assert rows["c"]["args"] == "[{'secret': '****'}]"
        (event,) = journal.timeline("a")
        assert SECRET not in json.dumps(event)
    finally:
        journal.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite3*"))
    assert SECRET.encode() not in stored


def test_a_task_whose_arguments_were_hidden_is_not_sent_again_with_the_mask() -> None:
    row = {"id": "a", "name": "t", "args": "()", "kwargs": "{'password': '****'}"}
    with pytest.raises(retrying.RetryRefused, match="hidden"):
        retrying.plan_one(row)
    edit = retrying.ArgumentEdit(kwargs={"password": "typed again"})
    assert retrying.plan_one(row, edit).kwargs == {"password": "typed again"}
