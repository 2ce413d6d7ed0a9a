"""What the panel says about a change to a periodic task before any app is imported: which
entries it may change and why not, what will not last, and the changes it refuses (nothing
that is not JSON as it is, no schedule but an interval or a crontab)."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.core.beat.entries import BeatEntry
from desktop.core.beat.writing import (
    BeatChange,
    BeatWriteError,
    check_change,
    crontab_schedule,
    interval_schedule,
    write_note,
    write_reason,
)


def _entry(source: str, in_code: bool = False) -> BeatEntry:
    return BeatEntry("nightly", "x.report", source, {"kind": "interval", "every_s": 60.0},
                     in_code=in_code)  # fmt: skip


def test_static_entries_are_not_written_and_say_where_to_change_them() -> None:
    assert write_reason(_entry("static")) == (
        "lives in the app's code (beat_schedule): change it there"
    )
    assert write_reason(_entry("django")) == "" and write_reason(_entry("redbeat")) == ""
    with pytest.raises(BeatWriteError, match="change it there") as refused:
        check_change(BeatChange("nightly", "static", "disable"))
    assert refused.value.refused


def test_a_change_to_an_entry_also_in_code_says_beat_puts_the_code_back() -> None:
    django, redbeat = _entry("django", in_code=True), _entry("redbeat", in_code=True)
    assert write_note(django, "disable") == ""  # django-celery-beat keeps its enabled flag
    assert "put back as the code has it the next time beat starts" in write_note(django, "edit")
    assert "RedBeat will have it put back" in write_note(redbeat, "disable")
    assert "re-created" in write_note(redbeat, "delete")
    assert write_note(_entry("redbeat"), "edit") == ""


def test_schedules_in_beat_entrys_own_shape() -> None:
    assert interval_schedule(10) == {"kind": "interval", "every_s": 10.0}
    assert crontab_schedule("*/5 8-17 * * 1-5") == {
        "kind": "crontab", "minute": "*/5", "hour": "8-17", "day_of_month": "*",
        "month_of_year": "*", "day_of_week": "1-5",
    }  # fmt: skip
    with pytest.raises(BeatWriteError, match=r"5 fields.*not 3"):
        crontab_schedule("0 9 *")


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"action": "rename"}, "unknown change 'rename'"),
        ({"source": "shelve"}, "not 'shelve'"),
        ({"action": "add", "schedule": interval_schedule(5)}, "needs its task's name"),
        ({"action": "add", "task": "x.y"}, "needs its task's name and a schedule"),
        ({"action": "edit"}, "nothing to change"),
        ({"action": "edit", "schedule": {"kind": "interval", "every_s": 0}}, "above 0"),
        ({"action": "edit", "schedule": {"kind": "interval", "every_s": True}}, "above 0"),
        ({"action": "edit", "schedule": {"kind": "solar", "event": "dawn"}}, "a solar schedule"),
        ({"action": "edit", "schedule": {"kind": "crontab", "minute": [1]}}, "crontab field"),
        ({"action": "edit", "args": {"a": 1}}, "arguments must be a JSON list"),
        ({"action": "edit", "args": [{1, 2}]}, "arguments must be a JSON list"),
        ({"action": "edit", "kwargs": {1: "a"}}, "keyword arguments must be a JSON object"),
        ({"action": "edit", "options": {"expires": object()}}, "options must be a JSON object"),
    ],
)
def test_changes_refused_before_the_app_is_imported(fields: dict[str, Any], said: str) -> None:
    change = BeatChange(**{"name": "nightly", "source": "redbeat", "action": "enable", **fields})
    with pytest.raises(BeatWriteError, match=said) as refused:
        check_change(change)
    assert refused.value.refused and str(refused.value).startswith("nightly: ")


def test_what_the_child_is_given_is_json() -> None:
    change = BeatChange("nightly", "django", "edit", schedule=crontab_schedule("0 9 * * *"),
                        args=("a", 1), kwargs={"k": [1]})  # fmt: skip
    check_change(change)
    request = change.request()
    assert request["args"] == ["a", 1] and request["kwargs"] == {"k": [1]}
    assert request["options"] is None and request["task"] is None  # left as they are
    assert request["schedule"]["hour"] == "9"
