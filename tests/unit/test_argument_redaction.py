"""Values under secret-like argument names hidden: in argsrepr text, in JSON values, in event
fields, in everything the journal writes (rows, timelines, what the panel sent, what the
result backend gave), in every read of a journal that keeps real values (revealed only when
asked), and in broker messages by the profile's own names."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.base.argument_redaction import MASK, ArgumentRedactor
from desktop.core.base.task_record import Submitted
from desktop.core.broker import retrying
from desktop.core.broker.queue_messages import decode_envelope, decode_unacked
from desktop.core.local.worker_keeper import HiddenLines
from desktop.core.monitor.argument_reveal import (
    NOTHING_HIDDEN,
    STORED_BEFORE,
    STORED_HIDDEN,
    Revealed,
    reveal,
)
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
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


def _journal_of(tmp_path: Path, *, keep: bool, names: list[str] | None = None) -> Journal:
    """A journal with one task "a" whose args and kwargs hold SECRET under hidden names (and
    one "plain" with nothing hidden), written the way the event stream writes them."""
    journal = Journal(
        tmp_path / "j.sqlite3",
        redactor=ArgumentRedactor(names) if names is not None else None,
        keep_argument_values=keep,
    )
    kwargs = f"{{'Password': '{SECRET}', 'cfg': {{'db': {{'api_key': '{SECRET}'}}}}, 'n': 1}}"
    journal.write(
        [task_row("a", name="t", root_id="a", args=f"(1, {{'token': '{SECRET}'}})",
                  kwargs=kwargs),
         task_row("plain", name="t", root_id="a", args="(1, 2)", kwargs="{}")],
        [EventRecord("a", "task-received", 1.0, json.dumps(
            {"type": "task-received", "kwargs": kwargs, "authorization": SECRET}))],
    )  # fmt: skip
    return journal


def _every_read(reader: JournalReader) -> str:
    """What every reader of the journal hands out for showing, as one text."""
    reads = [
        reader.page(), reader.page(after=(None, "zzz")), reader.rows(["a"]), reader.get("a"),
        reader.workflow("a"), reader.timeline("a"),
    ]  # fmt: skip
    return json.dumps(reads, default=str)


def test_a_journal_keeping_real_values_shows_them_hidden_and_gives_them_only_when_asked(
    tmp_path: Path,
) -> None:
    journal = _journal_of(tmp_path, keep=True)
    reader = JournalReader(journal.path, redactor=journal.redactor)
    try:
        for source in (journal, reader):
            shown = _every_read(source)
            assert SECRET not in shown
            assert "'Password': '****'" in shown and "'api_key': '****'" in shown
            assert "'token': '****'" in shown
            assert SECRET not in json.dumps(source.timeline("a"))
        real = reader.get("a", real=True)
        assert real is not None and f"'api_key': '{SECRET}'" in str(real["kwargs"])
        assert SECRET in str(reader.rows(["a"], real=True)["a"]["args"])
        assert SECRET in json.dumps(reader.timeline("a", real=True))
        found = reveal(reader, "a", keeps_values=True)
        assert found is not None and found.revealed and SECRET in str(found.kwargs)
        nothing = Revealed("plain", why_not=NOTHING_HIDDEN)
        assert reveal(reader, "plain", keeps_values=True) == nothing
        assert reveal(reader, "gone", keeps_values=True) is None
    finally:
        reader.close()
        journal.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite3*"))
    assert SECRET.encode() in stored  # kept, as the profile asked


def test_a_journal_storing_hidden_values_has_nothing_to_reveal_and_says_why(tmp_path: Path) -> None:
    journal = _journal_of(tmp_path, keep=False)
    try:
        found = reveal(journal, "a", keeps_values=False)
        assert found == Revealed("a", why_not=STORED_HIDDEN)
        assert "Keep real argument values" in found.why_not
        # Kept hidden before the profile changed its mind: said so, never "nothing hidden".
        assert reveal(journal, "a", keeps_values=True) == Revealed("a", why_not=STORED_BEFORE)
        assert SECRET not in json.dumps(journal.get("a", real=True))
    finally:
        journal.close()


def test_reads_hide_by_the_profile_s_own_names_even_what_was_stored_before(tmp_path: Path) -> None:
    """A name added to the profile later hides values the journal stored before it: the
    reads redact, not only the writes."""
    journal = _journal_of(tmp_path, keep=True, names=["cfg"])
    try:
        row = journal.get("a")
        assert row is not None
        assert row["kwargs"] == f"{{'Password': '{SECRET}', 'cfg': '****', 'n': 1}}"
    finally:
        journal.close()


def test_hides_value_tells_a_real_value_from_one_already_hidden() -> None:
    assert hidden.hides_value(f"{{'token': '{SECRET}'}}")
    assert hidden.hides_value(f"Obj(secret='{SECRET}', n=1)")
    for shown in ("{'token': '****'}", '{"token": "****"}', "Obj(secret='****')", "(1, 2)", None):
        assert not hidden.hides_value(shown)


def test_broker_messages_hide_the_profile_s_names_not_only_the_defaults() -> None:
    body = [[{"pin": 1234, "nested": {"Credit_Card": SECRET}}], {"passwd": SECRET}, {}]
    raw = json.dumps({
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-type": "application/json",
        "headers": {"task": "t", "id": "i"}, "properties": {"body_encoding": "base64"},
    })  # fmt: skip
    default = decode_envelope(raw)
    assert default.args == [{"pin": 1234, "nested": {"Credit_Card": MASK}}]
    assert default.kwargs == {"passwd": MASK}
    own = decode_envelope(raw, ArgumentRedactor(["pin"]))
    assert own.args == [{"pin": MASK, "nested": {"Credit_Card": SECRET}}]
    assert decode_unacked(json.dumps([json.loads(raw), "", "q"]), ArgumentRedactor(["pin"]))[
        1
    ].args == [{"pin": MASK, "nested": {"Credit_Card": SECRET}}]


def test_a_local_worker_s_log_keeps_no_hidden_value_even_split_between_two_reads() -> None:
    """The keeper copies the worker's output in pieces of whatever the pipe gave; a worker at
    DEBUG logs each task's arguments (its pool's "TaskPool: Apply ... args")."""
    lines = HiddenLines(None)
    body = f'[[{{"db": {{"API_KEY": "{SECRET}"}}}}]'
    line = f"[DEBUG] TaskPool: Apply (args:(b'{body}', {{}})\n"
    written = b"".join(lines.feed(line.encode()[i : i + 7]) for i in range(0, len(line), 7))
    written += lines.feed(f"plain line\nunfinished password={SECRET}".encode()) + lines.flush()
    assert SECRET.encode() not in written
    assert b"\"API_KEY\": '****'" in written and b"plain line\n" in written
    assert written.count(b"\n") == 2 and written.endswith(b"password='****'")
    assert HiddenLines(["pin"]).feed(b"pin=1234, token=abc\n") == b"pin='****', token=abc\n"
