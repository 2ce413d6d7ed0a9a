"""The judging half of `celery-desk why`: each check's verdicts from hand-made facts, and that
the first problem of a diagnosis is the cause when several hold at once."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import TaskRecord
from desktop.core.broker.queue_messages import Message
from desktop.core.broker.queue_types import Held
from desktop.core.diagnosis import CHECKS, Facts, QueuePlace, diagnose
from desktop.core.diagnosis import checks as judged
from tests.factories import app_config

NOW = 1_800_000_000.0
ID = "t-1"
TRACKED = {"task_send_sent_event": True, "worker_send_task_events": True}


def config(**settings: Any) -> EffectiveConfig:
    tasks = {
        "proj.add": {},
        "proj.slow": {"rate_limit": "1/m"},
        "proj.quiet": {"ignore_result": True},
    }
    return app_config(tasks=tasks, **{"task_acks_late": True, **TRACKED, **settings})


def worker(queues: list[str], concurrency: int = 1) -> dict[str, Any]:
    return {"queues": queues, "concurrency": concurrency, "prefetch": concurrency}


def record(**values: Any) -> TaskRecord:
    return cast(TaskRecord, {"id": ID, "name": "proj.add", "state": "PENDING", "queue": "jobs",
                             "routing_key": "jobs", "worker": None, **values})  # fmt: skip


def place(queue: str = "jobs", position: int = 0, **message: Any) -> QueuePlace:
    ahead = {5: position} if position else {}
    return QueuePlace(queue, position, 5, Message(id=ID, task="proj.add", **message), ahead)


def facts(cfg: EffectiveConfig | None = None, **values: Any) -> Facts:
    """A task the journal saw sent to `jobs`, which one idle worker consumes; override any."""
    found = Facts(ID, cfg or config(), now=NOW, journal_read=True, record=record())
    found.workers = {"w1@h": worker(["jobs"])}
    found.registered = {"w1@h": ["proj.add", "proj.slow", "proj.quiet"]}
    found.held, found.revoked_by, found.result_state = [], [], "PENDING"
    for key, value in values.items():
        setattr(found, key, value)
    return found


def verdicts(found: Facts) -> dict[str, str]:
    return {c.check: c.verdict for c in diagnose(found).checks}


def cause(found: Facts) -> str | None:
    first = diagnose(found).cause
    return first.check if first else None


def event(kind: str, at: float = NOW - 5, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": at, "fields": json.dumps(fields)}


def test_the_checks_run_in_cause_order_and_the_json_has_the_issues_shape() -> None:
    assert [c.__name__ for c in CHECKS] == [
        "location", "expired", "revoked", "worker_lost", "eta_pending", "unregistered",
        "no_consumer", "rate_limited", "workers_busy", "events_off", "no_result_backend",
        "ignore_result",
    ]  # fmt: skip
    document = diagnose(facts(place=place())).to_json()
    assert document["id"] == ID
    assert [c["check"] for c in document["checks"]][:7] == [
        "location", "expired", "revoked", "worker-lost", "eta-pending", "unregistered",
        "no-consumer",
    ]  # fmt: skip
    assert all(set(c) == {"check", "verdict", "evidence", "fix"} for c in document["checks"])


def test_a_waiting_task_with_an_idle_consumer_has_no_problem() -> None:
    found = facts(place=place(position=2))
    assert cause(found) is None
    where = diagnose(found).checks[0]
    assert "queue 'jobs'" in where.evidence and "position 2" in where.evidence
    assert "2 at priority 5" in where.evidence


def test_no_consumer_names_the_queue_and_how_to_start_one() -> None:
    found = facts(place=place(), workers={"w1@h": worker(["other"])})
    assert cause(found) == "no-consumer"
    check = judged.no_consumer(found)
    assert "'jobs'" in check.evidence and "worker start -Q jobs" in check.fix
    assert judged.no_consumer(facts(place=place(), workers=None)).verdict == "unknown"
    assert judged.no_consumer(facts(place=place(), workers={})).verdict == "problem"


def test_a_priority_list_no_consumer_reads_is_no_consumer() -> None:
    """The app's workers read kombu's steps 0, 3, 6, 9; the profile sent with 0..9, so
    priority 5 sits in the step-5 list, which its consumer never reads."""
    from desktop.core.settings.profile_model import Profile, TransportOverrides

    profile = Profile(name="p", transport=TransportOverrides(priority_steps=list(range(10))))
    steps = app_config(
        broker_transport_options={"queue_order_strategy": "priority"}, profile=profile, **TRACKED
    )
    stranded = facts(steps, place=place(priority=5))
    assert cause(stranded) == "no-consumer"
    assert "never read" in judged.no_consumer(stranded).evidence
    assert judged.no_consumer(facts(steps, place=place(priority=3))).verdict == "ok"


def test_unregistered_when_the_consumers_lack_the_name_or_it_failed_not_registered() -> None:
    found = facts(place=place(), registered={"w1@h": ["proj.other"]})
    assert cause(found) == "unregistered"
    assert "w1@h" in judged.unregistered(found).evidence
    discarded = facts(
        record=record(state="FAILURE", worker="w1@h", exception="NotRegistered('proj.add')"),
        result_state="FAILURE",
    )
    assert cause(discarded) == "unregistered"
    # The worker's task-failed event is all the journal heard (no name): the exception says it.
    nameless = facts(
        record=record(name=None, state="FAILURE", worker="w1@h",
                      exception="NotRegistered('proj.nope')"),
        result_state="FAILURE",
    )  # fmt: skip
    assert "w1@h does not know proj.nope" in judged.unregistered(nameless).evidence
    # nobody consumes the queue: not this check's to say
    assert judged.unregistered(facts(place=place(), workers={})).verdict == "unknown"


def test_workers_busy_when_every_consumer_runs_all_it_can() -> None:
    running = {"worker": "w1@h", "kind": "active", "id": "other", "task": "proj.slow",
               "started": NOW - 42}  # fmt: skip
    found = facts(place=place(), held=[running])
    assert cause(found) == "workers-busy"
    assert "1/1 processes busy" in judged.workers_busy(found).evidence
    assert "proj.slow other (for 42 s)" in judged.workers_busy(found).evidence
    roomy = facts(place=place(), held=[running], workers={"w1@h": worker(["jobs"], 2)})
    assert judged.workers_busy(roomy).verdict == "ok"


def test_eta_pending_says_when_and_warns_past_the_visibility_timeout() -> None:
    scheduled = {"worker": "w1@h", "kind": "scheduled", "id": ID, "task": "proj.add",
                 "eta": "2027-01-15T08:10:00+00:00"}  # fmt: skip
    soon = facts(held=[{**scheduled, "eta": _iso(NOW + 600)}], record=record(sent=NOW))
    assert cause(soon) == "eta-pending"
    assert "in 600 s" in judged.eta_pending(soon).evidence
    assert "run twice" not in judged.eta_pending(soon).evidence
    far = facts(held=[{**scheduled, "eta": _iso(NOW + 7200)}], record=record(sent=NOW))
    assert "run twice" in judged.eta_pending(far).evidence
    passed = facts(place=place(eta=_iso(NOW - 60)))
    assert judged.eta_pending(passed).verdict == "ok"


def test_revoked_by_event_backend_or_a_worker_holding_the_revocation() -> None:
    held = facts(place=place(), revoked_by=["w1@h"], workers={})  # no consumer too
    assert cause(held) == "revoked"
    assert "w1@h hold its revocation" in judged.revoked(held).evidence
    by_event = facts(timeline=[event("task-revoked", hostname="w1@h", terminated=True)])
    assert cause(by_event) == "revoked" and "terminated" in judged.revoked(by_event).evidence
    assert cause(facts(result_state="REVOKED")) == "revoked"
    assert judged.revoked(facts(revoked_by=None)).verdict == "unknown"


def test_expired_is_not_called_revoked_and_comes_first() -> None:
    by_event = facts(
        timeline=[event("task-revoked", hostname="w1@h", expired=True)], result_state="REVOKED",
        result_value="expired",
    )  # fmt: skip
    assert cause(by_event) == "expired"
    assert judged.revoked(by_event).verdict == "ok"
    waiting = facts(place=place(expires=_iso(NOW - 30)), workers={})
    assert cause(waiting) == "expired"
    assert "30 s ago" in judged.expired(waiting).evidence
    assert judged.expired(facts(place=place(expires=_iso(NOW + 30)))).verdict == "ok"


def test_worker_lost_says_whether_the_broker_brings_it_back() -> None:
    unacked = Held("jobs", "tag-1", Message(id=ID, task="proj.add"))
    taken = record(state="STARTED", worker="gone@h", started=NOW - 20)
    found = facts(record=taken, unacked=unacked, unacked_since=NOW - 20)
    assert cause(found) == "worker-lost"
    check = judged.worker_lost(found)
    assert "gone@h took it (STARTED) and no longer answers" in check.evidence
    assert "unacked hash" in check.evidence and "between" in check.evidence
    early = facts(config(task_acks_late=False), record=taken)
    assert "nothing brings it back" in judged.worker_lost(early).evidence
    assert "task_acks_late=True" in judged.worker_lost(early).fix
    assert judged.worker_lost(facts(record=taken, workers=None)).verdict == "unknown"
    alive = facts(record=record(state="STARTED", worker="w1@h"))
    assert judged.worker_lost(alive).verdict == "ok"


def test_rate_limited_when_its_type_waits_on_workers_for_a_turn() -> None:
    mine = {"worker": "w1@h", "kind": "reserved", "id": ID, "task": "proj.slow", "queue": "jobs"}
    found = facts(record=record(name="proj.slow"), held=[mine])
    assert cause(found) == "rate-limited" and "1/m" in judged.rate_limited(found).evidence
    assert judged.location(found).evidence.startswith("reserved (prefetched) by w1@h")
    assert judged.rate_limited(facts(place=place())).verdict == "ok"


def test_what_keeps_pending_from_ever_changing_is_named_by_its_setting() -> None:
    quiet = facts(config(task_send_sent_event=False, worker_send_task_events=False))
    assert cause(quiet) == "events-off"
    assert "task_send_sent_event" in judged.events_off(quiet).evidence
    seen = facts(config(task_send_sent_event=False, worker_send_task_events=False),
                 timeline=[event("task-sent"), event("task-received")])  # fmt: skip
    assert judged.events_off(seen).verdict == "ok"
    assert cause(facts(has_result_backend=False)) == "no-result-backend"
    assert cause(facts(record=record(name="proj.quiet"))) == "ignore-result"
    assert "task_ignore_result" in judged.ignore_result(facts(config(task_ignore_result=True))).fix


def test_settings_of_an_app_that_could_not_be_read_are_unknown_not_celerys_defaults() -> None:
    unread = config()
    unread.imported, unread.error = False, "No module named 'proj'"
    found = facts(unread)
    assert judged.events_off(found).verdict == judged.ignore_result(found).verdict == "unknown"
    assert "No module named 'proj'" in judged.events_off(found).evidence


@pytest.mark.parametrize("state", ["SUCCESS", "FAILURE"])
def test_a_finished_task_is_located_in_the_backend(state: str) -> None:
    found = facts(result_state=state, result_value=ValueError("boom"))
    assert cause(found) is None
    assert diagnose(found).checks[0].evidence.startswith(f"finished: {state}")
    if state == "FAILURE":
        assert "ValueError: boom" in diagnose(found).checks[0].evidence


def test_a_task_found_nowhere_is_unknown_not_a_problem() -> None:
    found = facts(record=None, queues_read=["jobs", "other"])
    where = judged.location(found)
    assert where.verdict == "unknown"
    assert "jobs, other" in where.evidence and "not in the journal" in where.evidence


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()
