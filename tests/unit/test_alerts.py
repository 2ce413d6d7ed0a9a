"""Alert rules evaluated from hand-made inputs: each kind's condition, edge triggering (fires
once, resolves, fires again), the rules file and its damage, the alerts log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.broker.queue_latency import FROM_JOURNAL, Oldest
from desktop.core.broker.queue_types import QueueCounts
from desktop.core.monitor.alert_log import AlertLog, read_log
from desktop.core.monitor.alert_rules import (
    AlertRule,
    load_rules,
    read_rules,
    rule_problem,
    rules_path,
    save_rules,
)
from desktop.core.monitor.alerts import FIRING, RESOLVED, Alert, AlertEngine
from desktop.core.monitor.state import OFFLINE_AFTER_S, StateDiff, WorkerRow
from desktop.core.settings.paths import Paths
from tests.factories import task_row

T0 = 1_000_000.0


def _finished(task_id: str, name: str, state: str, at: float) -> StateDiff:
    return StateDiff(tasks_changed=[task_row(task_id, name=name, state=state, finished=at)])


def _worker(host: str, online: bool, heartbeat: float | None) -> WorkerRow:
    return WorkerRow(host, online, 0, 0, None, None, heartbeat)


def _queue(engine: AlertEngine, name: str, waiting: int | None, age: float | None) -> None:
    counts = [QueueCounts(name, waiting, error="" if waiting is not None else "refused")]
    oldest = {name: Oldest(age, FROM_JOURNAL)} if waiting else {}
    engine.feed_queues(counts, oldest)


def test_task_failures_fire_once_past_n_in_the_window_then_resolve() -> None:
    rule = AlertRule("adds fail", "task-failures", 2, minutes=1, task="proj.*")
    engine = AlertEngine([rule], clock=lambda: T0)
    for i in range(3):
        engine.feed_diff(_finished(f"f{i}", "proj.add", "FAILURE", T0 + i), at=T0 + i)
    engine.feed_diff(_finished("other", "else.add", "FAILURE", T0), at=T0)
    engine.feed_diff(_finished("f0", "proj.add", "FAILURE", T0), at=T0 + 3)  # counted once
    fired = engine.tick(T0 + 5)
    assert [(a.state, a.value, a.target) for a in fired] == [(FIRING, 3, {"task": "name:proj.*"})]
    assert "3 tasks matching 'proj.*' failed" in fired[0].message
    assert engine.tick(T0 + 10) == []  # still true: no second alert
    resolved = engine.tick(T0 + 61)  # f0 left the minute's window: 2, not more than 2
    assert [(a.state, a.value) for a in resolved] == [(RESOLVED, 2)]
    for i in (8, 9):
        engine.feed_diff(_finished(f"f{i}", "proj.add", "FAILURE", T0 + 62), at=T0 + 62)
    assert [a.state for a in engine.tick(T0 + 62)] == [FIRING]  # true again: fires again


def test_a_task_query_selects_by_what_the_journal_recorded() -> None:
    rule = AlertRule("mail", "task-failures", 0, task="queue:mail state:FAILURE")
    engine = AlertEngine([rule], clock=lambda: T0)
    diff = _finished("a", "proj.send", "FAILURE", T0)
    engine.feed_diff(diff, at=T0)
    assert engine.tick(T0) == []  # no queue known for it
    diff = _finished("b", "proj.send", "FAILURE", T0)
    diff.journaled = {"b": {"queue": "mail"}}  # type: ignore[typeddict-item]
    engine.feed_diff(diff, at=T0)
    assert [a.value for a in engine.tick(T0)] == [1]


def test_failure_rate_is_failed_over_finished_and_unknown_with_nothing_finished() -> None:
    rule = AlertRule("rate", "failure-rate", 50, minutes=5)
    engine = AlertEngine([rule], clock=lambda: T0)
    assert engine.tick(T0) == []
    engine.feed_diff(_finished("a", "x", "SUCCESS", T0), at=T0)
    engine.feed_diff(_finished("b", "x", "FAILURE", T0), at=T0)
    assert engine.tick(T0) == []  # 50 % is not above 50 %
    engine.feed_diff(_finished("c", "x", "FAILURE", T0), at=T0)
    engine.feed_diff(StateDiff(tasks_changed=[task_row("d", state="STARTED")]), at=T0)
    fired = engine.tick(T0 + 1)
    assert [(a.state, round(a.value or 0)) for a in fired] == [(FIRING, 67)]
    assert engine.tick(T0 + 301) == []  # all left the window: unknown keeps it firing
    assert len(engine.firing()) == 1


def test_queue_length_per_queue_and_an_unknown_count_changes_nothing() -> None:
    engine = AlertEngine([AlertRule("long", "queue-length", 10)], clock=lambda: T0)
    _queue(engine, "a", 11, 3.0)
    _queue(engine, "b", 10, 3.0)
    fired = engine.tick(T0)
    assert [(a.target, a.value) for a in fired] == [({"queue": "a"}, 11)]
    _queue(engine, "a", None, None)  # the count failed: neither resolved nor fired again
    assert engine.tick(T0 + 1) == []
    _queue(engine, "a", 2, 1.0)
    assert [a.state for a in engine.tick(T0 + 2)] == [RESOLVED]


def test_queue_latency_on_the_oldest_age_of_the_named_queue() -> None:
    rule = AlertRule("late", "queue-latency", 5, queue="q")
    engine = AlertEngine([rule], clock=lambda: T0)
    _queue(engine, "other", 3, 60.0)  # not the rule's queue
    _queue(engine, "q", 3, 4.0)
    assert engine.tick(T0) == []
    _queue(engine, "q", 3, 5.5)
    fired = engine.tick(T0 + 1)
    assert [(a.rule, a.kind, a.value, a.threshold) for a in fired] == [
        ("late", "queue-latency", 5.5, 5)
    ]
    _queue(engine, "q", 3, 6.5)
    assert engine.tick(T0 + 2) == []
    _queue(engine, "q", 3, None)  # waiting, nothing dates it: unknown
    assert engine.tick(T0 + 3) == []
    _queue(engine, "q", 0, None)  # emptied: resolved
    assert [a.state for a in engine.tick(T0 + 4)] == [RESOLVED]


def test_worker_offline_by_its_heartbeats_or_its_offline_event() -> None:
    rule = AlertRule("gone", "worker-offline", 2, worker="w*")
    engine = AlertEngine([rule], clock=lambda: T0)
    engine.feed_workers([_worker("w1", True, T0), _worker("x1", True, T0)], at=T0)
    assert engine.tick(T0 + OFFLINE_AFTER_S + 1.9) == []  # offline 1.9 s: not more than 2
    fired = engine.tick(T0 + OFFLINE_AFTER_S + 2.5)  # x1 is not w*: never alerts
    assert [(a.target, a.value) for a in fired] == [({"worker": "w1"}, 2.5)]
    engine.feed_workers([_worker("w1", True, T0 + 30)], at=T0 + 30)  # it beats again
    assert [a.state for a in engine.tick(T0 + 30)] == [RESOLVED]
    engine.feed_workers([_worker("w1", False, None)], at=T0 + 40)  # worker-offline event
    assert engine.tick(T0 + 42) == []
    assert [a.state for a in engine.tick(T0 + 42.5)] == [FIRING]


def test_no_events_counts_from_the_last_batch() -> None:
    engine = AlertEngine([AlertRule("quiet", "no-events", 30)], clock=lambda: T0)
    assert engine.tick(T0 + 29) == []
    assert [a.state for a in engine.tick(T0 + 31)] == [FIRING]
    engine.feed_diff(StateDiff(), at=T0 + 32)
    assert [a.state for a in engine.tick(T0 + 33)] == [RESOLVED]


def test_subscribers_get_each_alert_and_one_that_raises_stops_none(tmp_path: Path) -> None:
    got: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("a window gone")

    log = AlertLog(tmp_path / "a.log.jsonl")
    engine = AlertEngine([AlertRule("quiet", "no-events", 1)], clock=lambda: T0, alert_log=log)
    engine.subscribe(broken)
    unsubscribe = engine.subscribe(got.append)
    engine.tick(T0 + 2)
    assert [a.state for a in got] == [FIRING]
    unsubscribe()
    engine.feed_diff(StateDiff(), at=T0 + 3)
    engine.tick(T0 + 3)
    assert len(got) == 1
    assert [e["state"] for e in read_log(tmp_path / "a.log.jsonl")] == [FIRING, RESOLVED]
    assert [a.state for a in log.recent] == [FIRING, RESOLVED]


def test_a_kept_rule_keeps_its_state_and_a_removed_one_is_forgotten() -> None:
    quiet = AlertRule("quiet", "no-events", 1)
    engine = AlertEngine([quiet], clock=lambda: T0)
    engine.tick(T0 + 2)
    engine.set_rules((quiet, AlertRule("long", "queue-length", 5)))
    assert engine.tick(T0 + 3) == [] and len(engine.firing()) == 1
    # The same name on another kind: its old target is never checked again, so it goes
    engine.set_rules((AlertRule("quiet", "queue-length", 5),))
    assert engine.firing() == []
    engine.set_rules((quiet,))
    engine.tick(T0 + 4)
    engine.set_rules(())
    assert engine.firing() == []


def test_rules_round_trip_through_the_file(isolated_config: Paths) -> None:
    path = rules_path(isolated_config, "prod")
    assert path == isolated_config.config_dir / "alerts" / f"{path.stem}.toml"
    assert load_rules(path).rules == () and load_rules(path).problem is None
    rules = (
        AlertRule("fails", "task-failures", 3, 10, "name:proj.* queue:mail"),
        AlertRule("late", "queue-latency", 5, queue="celery"),
        AlertRule("gone", "worker-offline", 2, worker="w@*"),
    )
    save_rules(path, rules)
    assert read_rules(path) == rules
    assert "queue-latency" in path.read_text()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[[rules]\nname = 1", "is not valid TOML"),
        ('[[rules]]\nname = "a"\nkind = "nope"\nthreshold = 1', "unknown kind 'nope'"),
        ('[[rules]]\nname = "a"\nkind = "queue-length"', "'threshold' must be a number"),
        ('[[rules]]\nname = "a"\nkind = "no-events"\nthreshold = 1\ncolour = 2', "colour"),
        ('[[rules]]\nname = "a"\nkind = "task-failures"\nthreshold = 1\ntask = "nofield:x"',
         "is not a query"),
    ],
)  # fmt: skip
def test_a_damaged_rules_file_gives_no_rules_and_says_why(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    loaded = load_rules(path)
    assert loaded.rules == ()
    assert loaded.problem is not None and said in loaded.problem and str(path) in loaded.problem
    save_rules(path, (AlertRule("quiet", "no-events", 60),))  # the damaged one kept aside
    assert path.with_name("rules.toml.damaged").read_text() == text


def test_unfit_rules_are_refused() -> None:
    assert rule_problem(AlertRule("r", "failure-rate", 100)) is not None
    assert rule_problem(AlertRule("r", "task-failures", 1, minutes=0)) is not None
    assert rule_problem(AlertRule(" r", "no-events", 1)) is not None
    assert rule_problem(AlertRule("r", "no-events", float("nan"))) is not None
    taken = (AlertRule("r", "no-events", 1),)
    assert "already" in (rule_problem(AlertRule("r", "no-events", 2), taken) or "")


def test_an_alert_is_json_a_command_can_read() -> None:
    alert = Alert("late", "queue-latency", FIRING, "m", 5.5, 5.0, T0, {"queue": "q"})
    assert json.loads(json.dumps(alert.to_json()))["target"] == {"queue": "q"}


def test_a_flood_is_counted_up_to_the_bound_and_the_count_stays_true(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.core.monitor import alerts

    monkeypatch.setattr(alerts, "MAX_FINISHED_KEPT", 3)
    engine = AlertEngine([AlertRule("rate", "failure-rate", 50)], clock=lambda: T0)
    states = ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS", "FAILURE"]  # the last 3: 1 of 3 failed
    for i, state in enumerate(states):
        engine.feed_diff(_finished(f"t{i}", "x", state, T0 + i), at=T0 + i)
    assert engine.tick(T0 + 5) == []
    engine.feed_diff(_finished("t9", "x", "FAILURE", T0 + 6), at=T0 + 6)  # 2 of 3
    assert [round(a.value or 0) for a in engine.tick(T0 + 6)] == [67]
