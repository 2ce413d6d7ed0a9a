"""Missed runs (core/beat/missed.py): due times walked with Celery's own schedule classes,
compared with the sends the journal heard, judged only where the journal was listening."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from desktop.core.beat.missed import (
    TOLERANCE_MAX_S,
    TOLERANCE_MIN_S,
    Watch,
    missed_runs,
    tolerance_for,
)
from desktop.core.monitor.alert_rules import BEAT_MISSED, AlertRule
from desktop.core.monitor.alerts import FIRING, RESOLVED, AlertEngine

PARIS = ZoneInfo("Europe/Paris")
EVERY_4 = {"kind": "interval", "every_s": 4.0, "relative": False}


def _cron(minute: str = "*", hour: str = "*", day_of_week: str = "*", tz: str = "") -> dict:
    return {"kind": "crontab", "minute": minute, "hour": hour, "day_of_week": day_of_week,
            "day_of_month": "*", "month_of_year": "*", "tz": tz}  # fmt: skip


def _at(*parts: int, tz: ZoneInfo = PARIS) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[misc]


def test_tolerance_is_a_quarter_bounded_and_under_half_the_interval() -> None:
    assert tolerance_for(10) == 2.5
    assert tolerance_for(4) == TOLERANCE_MIN_S  # at least a second...
    assert tolerance_for(2) == 0.98  # ...but always under half the interval
    assert tolerance_for(86400) == TOLERANCE_MAX_S


def test_an_interval_sent_on_time_misses_nothing() -> None:
    sends = [1000.0 + 4 * k + 0.003 * k for k in range(1, 20)]
    found = missed_runs("e", EVERY_4, "UTC", sends, Watch(1000.0, 1080.0))
    assert found.count == 0 and found.streak == 0 and found.judged >= 18
    assert found.last_seen == sends[-1]


def test_a_beat_stopped_for_three_intervals_misses_three_then_catches_up() -> None:
    sends = [1004.0, 1008.0, 1012.0]  # then stopped: due 1016, 1020, 1024 never sent
    found = missed_runs("e", EVERY_4, "UTC", sends, Watch(1000.0, 1025.5))
    assert found.count == 3 and found.streak == 3 and found.missed == [1016.0, 1020.0, 1024.0]
    pending = missed_runs("e", EVERY_4, "UTC", sends, Watch(1000.0, 1024.5))
    assert pending.count == 2  # 1024 is within its tolerance: not missed yet
    # started again at 1026.5: sent at once (overdue), then every 4 s from there
    again = [*sends, 1026.5, 1030.5]
    found = missed_runs("e", EVERY_4, "UTC", again, Watch(1000.0, 1031.0))
    assert found.count == 3 and found.streak == 0 and found.last_seen == 1030.5


def test_nothing_is_judged_in_a_gap_or_before_the_watch() -> None:
    found = missed_runs("e", EVERY_4, "UTC", [], Watch(1000.0, 1041.5, [(1010.0, 1030.0)]))
    # due 1004, 1008 (before the gap), 1032, 1036, 1040; 1012..1028 fall in the gap
    assert found.missed == [1004.0, 1008.0, 1032.0, 1036.0, 1040.0]
    late_watch = missed_runs("e", EVERY_4, "UTC", [], Watch(1040.0, 1041.0))
    assert late_watch.count == 0 and late_watch.judged == 0


def test_a_crontab_is_walked_in_its_own_timezone() -> None:
    weekdays = _cron("30", "7", "1-5", "Europe/Paris")
    # Friday 27 Nov 2026 to Wednesday 2 Dec: due Fri, Mon, Tue, Wed at 07:30 Paris
    watch = Watch(_at(2026, 11, 27, 6, 0), _at(2026, 12, 2, 12, 0))
    sends = [_at(2026, 11, 27, 7, 30, 1), _at(2026, 12, 1, 7, 29, 59)]
    found = missed_runs("m", weekdays, "UTC", sends, watch)
    assert found.missed == [_at(2026, 11, 30, 7, 30), _at(2026, 12, 2, 7, 30)]
    assert found.count == 2 and found.streak == 1 and found.judged == 4
    assert found.tolerance_s == TOLERANCE_MAX_S  # a day apart: the cap


def test_a_crontab_late_send_is_not_the_run_but_ends_the_streak() -> None:
    every_minute = _cron()
    start = _at(2026, 11, 30, 10, 0, 30)
    late = _at(2026, 11, 30, 10, 3, 40)  # beat back after missing 10:01, 10:02, 10:03
    found = missed_runs("c", every_minute, "Europe/Paris", [late], Watch(start, late + 5))
    assert found.count == 3 and found.streak == 0 and found.last_seen == late


def test_a_crontab_watched_from_just_before_a_due_time_keeps_its_own_tolerance() -> None:
    """The tolerance comes from the crontab's period (a minute here: 15 s), not from the time
    between the watch's start and its first due time (0.5 s: a send 0.3 s late was missed)."""
    every_minute = _cron()
    start = _at(2026, 11, 30, 10, 0, 59) + 0.5
    sends = [_at(2026, 11, 30, 10, 1, 0) + 0.3, _at(2026, 11, 30, 10, 2, 0) + 0.3]
    end = _at(2026, 11, 30, 10, 2, 30)
    found = missed_runs("c", every_minute, "Europe/Paris", sends, Watch(start, end))
    assert found.tolerance_s == tolerance_for(60.0) == 15.0
    assert found.count == 0 and found.judged >= 1  # 10:02 judged (10:01's window began earlier)


def test_a_crontab_across_the_autumn_clock_change() -> None:
    # 02:30 every day in Paris; 25 Oct 2026 the clocks go back at 03:00: still one run a day
    nightly = _cron("30", "2", tz="Europe/Paris")
    watch = Watch(_at(2026, 10, 24, 12, 0), _at(2026, 10, 26, 12, 0))
    found = missed_runs("n", nightly, "UTC", [], watch)
    assert found.count == 2
    assert [datetime.fromtimestamp(t, PARIS).hour for t in found.missed] == [2, 2]


def test_other_kinds_and_zero_intervals_are_not_judged() -> None:
    solar = missed_runs("s", {"kind": "solar", "event": "sunrise"}, "UTC", [], Watch(0, 9e4))
    assert solar.count is None and "solar" in solar.why_not
    zero = missed_runs("z", {"kind": "interval", "every_s": 0}, "UTC", [], Watch(0, 100))
    assert zero.count is None


def test_the_alert_fires_once_per_streak_and_resolves_on_the_next_send() -> None:
    engine = AlertEngine([AlertRule("beat", BEAT_MISSED, 0)])
    assert engine.watches_beat
    engine.feed_beat({"every-four": 0})
    assert engine.tick(1.0) == []
    engine.feed_beat({"every-four": 1})
    fired = engine.tick(2.0)
    assert [(a.state, a.target) for a in fired] == [(FIRING, {"entry": "every-four"})]
    assert "missed 1 due run in a row" in fired[0].message
    for streak in (2, 3):
        engine.feed_beat({"every-four": streak})
        assert engine.tick(3.0) == []  # the same streak: said once
    engine.feed_beat({})  # not read this time: unknown, not resolved
    assert engine.tick(4.0) == []
    engine.feed_beat({"every-four": 0})
    assert [a.state for a in engine.tick(5.0)] == [RESOLVED]
    engine.feed_beat({"every-four": 1})
    assert [a.state for a in engine.tick(6.0)] == [FIRING]  # a new streak
    high = AlertEngine([AlertRule("two", BEAT_MISSED, 2)])
    high.feed_beat({"e": 2})
    assert high.tick(1.0) == []
    assert AlertRule("two", BEAT_MISSED, 2).describe() == (
        "a periodic task missing more than 2 due runs in a row"
    )
