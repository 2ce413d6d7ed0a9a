"""A schedule in words, from the fields the beat child reads off Celery's own schedule objects
(so each case is built by describing a real Celery schedule)."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab, schedule

from desktop.core.app.beat_probe import describe_schedule
from desktop.core.beat.words import interval_words, schedule_text, schedule_words

APP = Celery("words", set_as_current=False)


def _described(value: Any) -> dict[str, Any]:
    return describe_schedule(value, APP.timezone)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(10, "every 10 s"), (60, "every minute"), (300, "every 5 min"), (3600, "every hour"),
     (7200, "every 2 h"), (86400, "every day"), (90, "every 90 s"), (1.5, "every 1.5 s"),
     (172800, "every 2 d")],
)  # fmt: skip
def test_interval_words(seconds: float, words: str) -> None:
    assert interval_words(seconds) == words
    assert schedule_words(_described(schedule(seconds, app=APP))) == words


@pytest.mark.parametrize(
    ("kwargs", "words", "text"),
    [
        ({"minute": 30, "hour": 7, "day_of_week": "1-5"}, "at 07:30 on weekdays",
         "30 7 * * 1-5"),
        ({"minute": "*/15"}, "every 15 min", "*/15 * * * *"),
        ({}, "every minute", "* * * * *"),
        ({"minute": 5}, "every hour at :05", "5 * * * *"),
        ({"minute": 0, "hour": "0,12"}, "at 00:00 and 12:00 every day", "0 0,12 * * *"),
        ({"minute": 0, "hour": 0, "day_of_week": "sat,sun"}, "at 00:00 on weekends",
         "0 0 * * sat,sun"),
        ({"minute": 0, "hour": 3, "day_of_month": 1, "month_of_year": "1,7"},
         "at 03:00 on day 1 of the month in January and July", "0 3 1 1,7 *"),
        ({"minute": "0,30", "hour": "8-17", "day_of_week": "mon"},
         "every 30 min of hours 08-17 on Monday",
         "0,30 8-17 * * mon"),
        ({"minute": "5,20", "hour": "1,2,9-11"}, "at minute 5 and 20 of hours 01, 02 and 09-11"
         " every day", "5,20 1,2,9-11 * * *"),
        ({"minute": 0, "hour": "*/6"}, "at 00:00, 06:00, 12:00 and 18:00 every day",
         "0 */6 * * *"),
        ({"minute": "*/10", "hour": "*/2"}, "every 10 min of every 2nd hour",
         "*/10 */2 * * *"),
    ],
)  # fmt: skip
def test_crontab_words_keep_the_crontab_beside(kwargs: Any, words: str, text: str) -> None:
    described = _described(crontab(app=APP, **kwargs))
    assert schedule_words(described) == words
    assert schedule_text(described) == f"{text} (UTC)"


def test_other_kinds_say_what_they_are() -> None:
    assert schedule_words({"kind": "solar", "event": "sunset", "latitude": 1.5,
                           "longitude": -2.0}) == "at sunset (1.5, -2.0)"  # fmt: skip
    assert schedule_words({"kind": "clocked", "at": "2026-12-01T07:30:00+00:00"}) == (
        "once at 2026-12-01T07:30:00+00:00"
    )
    assert schedule_words({"kind": "custom", "text": "<mine>"}) == "<mine>"
    assert schedule_words({}) == "no schedule"
