"""Judging why a task has not run: pure functions over gathered Facts (facts.py).

Each check answers one question with a verdict (ok / problem / unknown), the evidence it went
by and what to do. `CHECKS` is in cause order: a task that is revoked is not "waiting for a
worker", a worker that died holding it explains more than a busy cluster, so the first
`problem` in a diagnosis is the cause and the later ones are what follows from it or would
bite next. `location` comes first and is never a problem: it says where the task is now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from celery import states

from desktop.core.base.task_states import is_finished
from desktop.core.diagnosis.evidence import (
    backend_expired,
    consumers,
    failed_unregistered,
    failure_text,
    final_state,
    held_entry,
    live_workers,
    moment_of,
    revoked_events,
    shown,
    task_name,
    task_queue,
    unregistered_name,
)
from desktop.core.diagnosis.facts import Facts

Verdict = Literal["ok", "problem", "unknown"]
OK: Verdict = "ok"
PROBLEM: Verdict = "problem"
UNKNOWN: Verdict = "unknown"
RETRY_FIX = "send it again with `celery-desk retry {id}` (same name, arguments and queue)"
# A task some worker took: its journal state while that worker has it.
TAKEN_STATES = frozenset({states.RECEIVED, states.STARTED, states.RETRY})


@dataclass(frozen=True)
class Check:
    check: str  # the name the JSON uses: "no-consumer", "revoked", ...
    verdict: Verdict
    evidence: str
    fix: str = ""


@dataclass(frozen=True)
class Diagnosis:
    task_id: str
    checks: list[Check]

    @property
    def cause(self) -> Check | None:
        """The first problem: the checks are in cause order."""
        return next((c for c in self.checks if c.verdict == PROBLEM), None)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.task_id, "checks": [asdict(c) for c in self.checks]}


# -- the checks --------------------------------------------------------------------------------
def location(f: Facts) -> Check:
    """Where the task is now. Never a problem: the checks after it say why it is there."""
    name = "location"
    if (state := final_state(f)) is not None:
        where = "the result backend" if is_finished(f.result_state) else "the journal"
        failure = f": {failure_text(f)}" if state == states.FAILURE and failure_text(f) else ""
        return Check(name, OK, f"finished: {state}{failure} (by {where})")
    entry = held_entry(f)
    if entry is not None:
        worker, kind = entry.get("worker"), entry.get("kind")
        if kind == "active":
            since = (f.record.get("started") if f.record else None) or entry.get("started")
            when = f" since {shown(since)} ({f.now - since:.0f} s)" if since else ""
            return Check(name, OK, f"running on {worker}{when}")
        if kind == "scheduled":
            return Check(name, OK, f"held by {worker} until its ETA {entry.get('eta')}")
        received = f.record.get("received") if f.record else None
        held_since = f" since {shown(received)} ({f.now - received:.0f} s)" if received else ""
        return Check(
            name, OK, f"reserved (prefetched) by {worker}{held_since}, waiting for a free process"
        )
    if f.place is not None:
        ahead = ", ".join(
            f"{n} at priority {p}" for p, n in sorted(f.place.ahead_by_priority.items(),
                                                     key=lambda i: (i[0] is None, i[0] or 0))
        )  # fmt: skip
        step = "" if f.place.step is None else f" (priority list step {f.place.step})"
        return Check(
            name,
            OK,
            f"waiting in queue '{f.place.queue}'{step} at position {f.place.position} "
            f"(0 is next)" + (f"; ahead of it: {ahead}" if ahead else ""),
        )
    if f.unacked is not None:
        return Check(
            name,
            OK,
            f"taken from queue '{f.unacked.queue}' by a worker and not acknowledged (the Redis "
            "unacked hash), and no worker that answered holds it",
        )
    if f.result_state and f.result_state != states.PENDING:
        return Check(name, OK, f"in the result backend: {f.result_state}")
    if f.uncounted_waiting and f.held is not None:
        queue, count = next(iter(f.uncounted_waiting.items()))
        return Check(
            name,
            UNKNOWN,
            f"most likely waiting in queue '{queue}': it holds {count} waiting and no worker "
            "that answered holds this task (RabbitMQ shows a queue's contents only by taking "
            "them, so its position is not read)",
        )
    looked = [f.broker_note] if f.broker_note else []
    if f.queues_read is not None:
        looked.append(f"not in the queues read ({', '.join(f.queues_read) or 'none'})")
    if f.held is not None:
        looked.append("held by no worker that answered")
    if f.result_state == states.PENDING:
        looked.append("the result backend knows nothing of it (PENDING)")
    if f.record is not None:
        looked.append(f"the journal's last state: {f.record.get('state')}")
    elif f.journal_read:
        looked.append("not in the journal")
    return Check(name, UNKNOWN, "nowhere: " + ("; ".join(looked) or "no source answered"))


def expired(f: Facts) -> Check:
    name = "expired"
    fix = f"it will not run: {RETRY_FIX.format(id=f.task_id)}, with no `expires` in the past"
    gone, _others = revoked_events(f)
    if gone:
        by = gone[0].get("hostname") or "a worker"
        return Check(name, PROBLEM, f"{by} discarded it: its expiry had passed", fix)
    if backend_expired(f):
        return Check(name, PROBLEM, "the result backend says REVOKED: expired", fix)
    expires = moment_of(f, "expires")
    if expires is None:
        return Check(name, OK, "it has no expiry")
    if final_state(f) is None and expires < f.now:
        return Check(
            name,
            PROBLEM,
            f"its expiry {shown(expires)} passed {f.now - expires:.0f} s ago: the worker that "
            "takes it will discard it (REVOKED, 'expired')",
            fix,
        )
    return Check(name, OK, f"expires at {shown(expires)}")


def revoked(f: Facts) -> Check:
    name = "revoked"
    fix = f"a revoked task never runs: {RETRY_FIX.format(id=f.task_id)}"
    _expired, events = revoked_events(f)
    if events:
        event = events[-1]
        how = " and terminated" if event.get("terminated") else ""
        return Check(name, PROBLEM, f"revoked{how}: {event.get('hostname') or 'a worker'} "
                     "discarded it (task-revoked)", fix)  # fmt: skip
    if f.result_state == states.REVOKED and not backend_expired(f):
        return Check(name, PROBLEM, "the result backend says REVOKED", fix)
    if final_state(f) is not None:
        return Check(name, OK, "it finished without being revoked")
    if f.revoked_by:
        return Check(
            name,
            PROBLEM,
            f"{', '.join(f.revoked_by)} hold its revocation: whichever takes it discards it",
            fix,
        )
    if f.revoked_by is None:
        return Check(name, UNKNOWN, "the workers were not asked which ids they revoked")
    return Check(name, OK, "no worker that answered holds a revocation for it")


def worker_lost(f: Facts) -> Check:
    name = "worker-lost"
    live = live_workers(f)
    if final_state(f) is not None or held_entry(f) is not None:
        return Check(name, OK, "a live worker has it, or it finished")
    worker = f.record.get("worker") if f.record else None
    state = f.record.get("state") if f.record else None
    if live is None:
        return Check(name, UNKNOWN, "the workers did not answer: cannot tell who is alive")
    taken = worker and state in TAKEN_STATES and worker not in live
    if not taken and f.unacked is None:
        return Check(name, OK, f"{worker} answers" if worker else "no worker took it yet")
    who = f"{worker} took it ({state})" if taken else "a worker took it"
    evidence = f"{who} and no longer answers (answering: {', '.join(sorted(live)) or 'none'})"
    return Check(name, PROBLEM, f"{evidence}; {_comes_back(f)}", _lost_fix(f))


def _comes_back(f: Facts) -> str:
    """Whether the broker hands the lost task to another worker, and when."""
    config = f.config
    if not config.acks_late:
        return (
            f"{config.spelled('task_acks_late')} is off, so the message was acknowledged when "
            "taken and nothing brings it back"
        )
    if config.is_redis:
        delay = config.redelivery_delay_s()
        if f.unacked is None:
            return "acks_late is on, but the message is not in the Redis unacked hash"
        visibility = config.transport_option("visibility_timeout")
        when = ""
        if delay is not None:
            when = f" (at most {delay:.0f} s after it was taken"
            if f.unacked_since is not None and isinstance(visibility, int | float):
                when += (
                    f", {shown(f.unacked_since)}: between "
                    f"{shown(f.unacked_since + visibility)} and {shown(f.unacked_since + delay)}"
                )
            when += ")"
        return (
            "acks_late is on and the message waits in the Redis unacked hash: Redis delivers it "
            f"again once visibility_timeout ({visibility} s) has passed since it was taken, at "
            f"the next restore sweep{when}"
        )
    return "acks_late is on: the broker gives an unacknowledged message back when the "\
        "worker's connection closes"  # fmt: skip


def _lost_fix(f: Facts) -> str:
    if f.config.acks_late and (f.unacked is not None or not f.config.is_redis):
        return f"wait for the broker to deliver it again, or {RETRY_FIX.format(id=f.task_id)} "\
            "(it may then run twice)"  # fmt: skip
    spelled = f.config.spelled
    return (
        f"{RETRY_FIX.format(id=f.task_id)}; set {spelled('task_acks_late')}=True (with "
        f"{spelled('task_reject_on_worker_lost')}=True) so a dead worker's tasks come back"
    )


def eta_pending(f: Facts) -> Check:
    name = "eta-pending"
    eta = moment_of(f, "eta")
    if eta is None:
        return Check(name, OK, "no ETA or countdown")
    if final_state(f) is not None or eta <= f.now:
        return Check(name, OK, f"its ETA {shown(eta)} has passed")
    entry = held_entry(f)
    held = f"; {entry['worker']} holds it until then" if entry else ""
    evidence = f"due at {shown(eta)} (in {eta - f.now:.0f} s){held}"
    sent = f.record.get("sent") if f.record else None
    ahead = eta - (sent or f.now)
    if f.config.is_redis:
        visibility = f.config.transport_option("visibility_timeout")
        if f.config.acks_late and isinstance(visibility, int | float) and ahead > visibility:
            evidence += (
                f"; it is further away than Redis's visibility_timeout ({visibility} s), so "
                "Redis will deliver it again meanwhile and it may run twice"
            )
    elif f.config.is_rabbitmq and ahead > 1800:
        evidence += (
            "; it is further away than RabbitMQ's consumer_timeout (30 min by default), which "
            "closes the channel of a worker holding it unacknowledged"
        )
    return Check(
        name,
        PROBLEM,
        evidence,
        "it runs by itself when due; to run it now, revoke it and send it again without "
        "countdown/eta",
    )


def unregistered(f: Facts) -> Check:
    name = "unregistered"
    task, queue = task_name(f), task_queue(f)
    fix = (
        f"deploy the code that defines {task} to the workers of '{queue}' and restart them, "
        "or route it to a queue whose workers know it (check the name's spelling)"
    )
    if failed_unregistered(f):
        task = task or unregistered_name(f)
        by = f.record.get("worker") if f.record else None
        return Check(
            name,
            PROBLEM,
            f"{by or 'the worker that took it'} does not know {task}: it failed with "
            f'NotRegistered ("Received unregistered task of type {task!r}" in its log)',
            fix,
        )
    if final_state(f) is not None:
        return Check(name, OK, "it finished")
    if task is None or queue is None:
        return Check(name, UNKNOWN, "its name or queue is not known")
    if f.registered is None or f.workers is None:
        return Check(name, UNKNOWN, "the workers were not asked what they know")
    known = {node: {str(n).split(" ")[0] for n in names} for node, names in f.registered.items()}
    takers = consumers(f, queue)
    if not takers:
        return Check(name, UNKNOWN, f"no worker consumes '{queue}' to ask")
    lacking = [node for node in takers if task not in known.get(node, set())]
    if not lacking:
        return Check(name, OK, f"the workers of '{queue}' know {task}")
    app_too = "" if f.config.task(task) else f"; the app does not register {task} either"
    return Check(
        name,
        PROBLEM,
        f"{', '.join(lacking)} consume '{queue}' but do not know {task}: a worker discards "
        f'such a message ("Received unregistered task of type {task!r}" in its log){app_too}',
        fix,
    )


def no_consumer(f: Facts) -> Check:
    from desktop.core.app.priorities import unread_step

    name = "no-consumer"
    queue = task_queue(f)
    if final_state(f) is not None or held_entry(f) is not None:
        return Check(name, OK, "a worker has it, or it finished")
    if queue is None:
        return Check(name, UNKNOWN, "its queue is not known")
    if f.workers is None:
        return Check(name, UNKNOWN, "the workers were not asked which queues they consume")
    fix = (
        f"start a worker for it: `celery-desk worker start -Q {queue}` (or `celery -A "
        f"{f.config.main} worker -Q {queue}`), or add the queue to a running one"
    )
    takers = consumers(f, queue)
    if not takers:
        return Check(name, PROBLEM, f"no worker that answered consumes '{queue}' "
                     f"({len(f.workers)} answered)", fix)  # fmt: skip
    priority = f.place.message.priority if f.place else None
    if f.place is not None and (why := unread_step(f.config, priority)):
        return Check(name, PROBLEM, f"it sits in a priority list no consumer reads: {why}", fix)
    return Check(name, OK, f"'{queue}' is consumed by {', '.join(takers)}")


def rate_limited(f: Facts) -> Check:
    name = "rate-limited"
    task = task_name(f)
    info = f.config.task(task) if task else None
    limit = info.rate_limit if info else None
    if not limit:
        return Check(name, OK, "its task type has no rate limit")
    entry = held_entry(f)
    if final_state(f) is not None or (entry and entry.get("kind") == "active"):
        return Check(name, OK, f"rate limit {limit}, but it ran or runs")
    waiting = sum(1 for e in f.held or [] if e.get("task") == task and e.get("kind") == "reserved")
    if waiting:
        return Check(
            name,
            PROBLEM,
            f"{task} is limited to {limit}; {waiting} of them wait on workers for their turn",
            f"raise or lift the limit (`celery-desk worker control rate_limit`, or the task's "
            f"rate_limit) if {limit} is too slow",
        )
    return Check(name, OK, f"rate limit {limit}; none of its type wait for a turn")


def workers_busy(f: Facts) -> Check:
    name = "workers-busy"
    queue, entry = task_queue(f), held_entry(f)
    waiting = f.place is not None or (entry is not None and entry.get("kind") == "reserved")
    if final_state(f) is not None:
        return Check(name, OK, "it finished")
    if not waiting:
        if f.queues_read is None and f.held is None:
            return Check(name, UNKNOWN, "neither the queues nor the workers were read")
        return Check(name, OK, "it is not waiting for a worker")
    if queue is None or f.workers is None or f.held is None:
        return Check(name, UNKNOWN, "the workers were not asked what they run")
    takers = consumers(f, queue)
    if not takers:
        return Check(name, OK, f"no worker consumes '{queue}' (see no-consumer)")
    busy: list[tuple[str, list[dict[str, Any]]]] = []
    free: list[tuple[str, list[dict[str, Any]]]] = []
    for node in takers:
        running = [e for e in f.held if e.get("worker") == node and e.get("kind") == "active"]
        size = f.workers[node].get("concurrency") or f.workers[node].get("processes")
        text = f"{node}: {len(running)}/{size or '?'} processes busy, prefetch " \
               f"{f.workers[node].get('prefetch')}"  # fmt: skip
        (busy if size and len(running) >= size else free).append((text, running))
    if free:
        return Check(name, OK, "; ".join(t for t, _ in free))
    longest = sorted((e for _, run in busy for e in run), key=lambda e: e.get("started") or 0)
    names = ", ".join(f"{e.get('task')} {e.get('id')}{_for(f, e)}" for e in longest[:3])
    return Check(
        name,
        PROBLEM,
        f"every worker consuming '{queue}' is busy: {'; '.join(t for t, _ in busy)}"
        + (f"; running: {names}" if names else ""),
        "add workers or processes for it (`celery-desk worker start -Q "
        f"{queue}`, pool_grow, autoscale), or route long tasks to a queue of their own",
    )


def _for(f: Facts, entry: dict[str, Any]) -> str:
    """How long a worker has run a task (its own clock's start: Celery's time_start)."""
    started = entry.get("started")
    return f" (for {f.now - started:.0f} s)" if isinstance(started, int | float) else ""


def events_off(f: Facts) -> Check:
    name = "events-off"
    if not f.config.imported:
        return Check(name, UNKNOWN, f"the app's settings are not known: {f.config.error}")
    setting, spelled = f.config.setting, f.config.spelled
    off = []
    if not setting("task_send_sent_event") and not f.events("task-sent"):
        off.append(
            f"{spelled('task_send_sent_event')} (the journal knows a task only once a worker "
            "takes it)"
        )
    worker_events = ("task-received", "task-started", "task-succeeded", "task-failed")
    if not setting("worker_send_task_events") and not any(f.events(k) for k in worker_events):
        off.append(f"{spelled('worker_send_task_events')} (start workers with -E, or set it)")
    if not off:
        return Check(name, OK, "task events are on")
    return Check(name, PROBLEM, "off in the app: " + "; ".join(off),
                 "set them to True in the app's configuration")  # fmt: skip


def no_result_backend(f: Facts) -> Check:
    name = "no-result-backend"
    if f.has_result_backend:
        return Check(name, OK, "the app has a result backend")
    return Check(
        name,
        PROBLEM,
        "the app has no result backend: its state stays PENDING whatever happens",
        f"set {f.config.spelled('result_backend')} in the app (e.g. a Redis database), or "
        "follow the task by events",
    )


def ignore_result(f: Facts) -> Check:
    name = "ignore-result"
    if not f.config.imported:
        return Check(name, UNKNOWN, f"the app's settings are not known: {f.config.error}")
    task = task_name(f)
    info = f.config.task(task) if task else None
    if f.config.setting("task_ignore_result") or (info is not None and info.ignore_result):
        which = f.config.spelled("task_ignore_result") if f.config.setting(
            "task_ignore_result") else f"{task}'s ignore_result"  # fmt: skip
        return Check(
            name,
            PROBLEM,
            f"{which} is set: the backend never stores its state, so it reads PENDING for ever",
            f"set {which} to False, or follow the task by events",
        )
    return Check(name, OK, "its result is stored")


CHECKS: tuple[Callable[[Facts], Check], ...] = (
    location,
    expired,
    revoked,
    worker_lost,
    eta_pending,
    unregistered,
    no_consumer,
    rate_limited,
    workers_busy,
    events_off,
    no_result_backend,
    ignore_result,
)


def diagnose(facts: Facts) -> Diagnosis:
    """Every check, in cause order (see the module's docstring)."""
    return Diagnosis(facts.task_id, [check(facts) for check in CHECKS])
