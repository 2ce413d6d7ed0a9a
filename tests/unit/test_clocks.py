"""A sender's clock offset, measured from when its events reached the panel."""

from __future__ import annotations

import math

from celery.events.state import HEARTBEAT_DRIFT_MAX

from desktop.core.base.clocks import TRUSTED_WITHIN_S, SenderClocks, drifted


def close(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) < 1e-9


def test_the_shortest_delivery_sets_the_offset_and_times_never_pass_their_arrival() -> None:
    clocks = SenderClocks(window_s=120)
    slow_by = 45.0
    delays = [0.4, 0.002, 1.5, 0.01, 0.003]  # one quick delivery among slower ones
    sent = [(1000.0 + 2 * k, delay) for k, delay in enumerate(delays)]
    for true_time, delay in sent:
        clocks.measure("w@h", slow_by + delay, true_time + delay)
    assert close(clocks.offset("w@h"), slow_by + 0.002)
    times = [true_time - slow_by + clocks.correction("w@h") for true_time, _ in sent]
    assert all(t <= true_time + delay for t, (true_time, delay) in zip(times, sent, strict=True))
    # true times plus the shortest transit: the spacing of one sender's events is exact
    assert all(close(t, true_time + 0.002) for t, (true_time, _) in zip(times, sent, strict=True))


def test_a_clock_within_transit_of_the_panels_is_taken_at_its_word() -> None:
    clocks = SenderClocks()
    clocks.measure("client@h", 0.3, 100.3)  # 0.3 s: a slow broker or a slow clock, who knows
    assert close(clocks.offset("client@h"), 0.3)
    assert clocks.correction("client@h") == 0.0
    clocks.measure("w@h", TRUSTED_WITHIN_S + 0.5, 101.5)
    assert clocks.correction("w@h") == TRUSTED_WITHIN_S + 0.5
    assert clocks.correction("never-heard-of@h") == 0.0


def test_a_clock_stepped_either_way_is_followed() -> None:
    clocks = SenderClocks(window_s=10)
    for second in range(5):
        clocks.measure("w@h", 30.001, 100.0 + second)
    assert close(clocks.offset("w@h"), 30.001)
    # NTP sets the clock right: a smaller offset counts at once.
    clocks.measure("w@h", 0.001, 106.0)
    assert close(clocks.offset("w@h"), 0.001)
    # Stepped 20 s ahead: followed once the old measurements are older than the window.
    for second in range(7, 20):
        clocks.measure("w@h", -19.999, 100.0 + second)
    assert close(clocks.offset("w@h"), -19.999)


def test_each_sender_has_its_own_clock_and_their_number_is_bounded() -> None:
    clocks = SenderClocks(max_senders=2)
    assert clocks.offset("a@h") is None
    clocks.measure("a@h", 5.0, 15.0)
    clocks.measure("b@h", 0.5, 10.5)
    clocks.measure("a@h", 5.0, 16.0)  # a heard from last: c pushes b out
    clocks.measure("c@h", -1.0, 17.0)
    assert clocks.offset("a@h") == 5.0 and clocks.offset("c@h") == -1.0
    assert clocks.offset("b@h") is None


def test_a_timestamp_that_is_not_a_time_is_not_measured() -> None:
    clocks = SenderClocks()
    clocks.measure("w@h", -math.inf, 10.0)
    clocks.measure("w@h", math.nan, 10.0)
    assert clocks.offset("w@h") is None


def test_drift_warning_threshold_is_celerys() -> None:
    assert not drifted(None)
    assert not drifted(HEARTBEAT_DRIFT_MAX) and not drifted(-HEARTBEAT_DRIFT_MAX)
    assert drifted(HEARTBEAT_DRIFT_MAX + 0.5) and drifted(-120.0)
