"""Brokers and workers under faults, with real processes: nothing the result backend knows is
missing from the journal, and the recorder said what happened while it happened.

Every scenario floods a real `celery worker` of the demo app with a few hundred fast tasks,
records with a real `celery-desk record` (or the window, or the Monitor in this process), causes
its fault in the middle, and ends with `assert_journal_matches_backend`. The result backend is
a Redis of its own that no fault touches, so its truth survives the fault; the figures of each
run are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

import workers.tasks  # noqa: F401
from desktop.core.base.task_states import FINISHED_STATES
from desktop.core.monitor.events import CONNECTED
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import RECONCILE_STALE_EVERY_S, Monitor
from desktop.core.monitor.state import StateDiff, WorkerRow
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.conftest import redis_server
from tests.faults.conftest import (
    Bench,
    Flood,
    KeptWorker,
    Recorder,
    bench,
    close_rabbit_connections,
    killable_redis,
    own_vhost,
    waiting_in_rabbit_broker,
)
from tests.faults.truth import (
    JournalMismatch,
    Tally,
    assert_journal_matches_backend,
    backend_states,
    journal_states,
    verdict,
    wait_backend_settled,
    waiting_in_redis_broker,
)
from tests.integration.worker_process import REPO_ROOT, running_worker
from tests.waiting import wait_for
from workers import create_app

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PROFILE = "faults"
FLOOD_TASKS = 300
FLOOD_PER_SECOND = 30.0
OUTAGES = 3
JOURNAL_CATCH_UP_S = RECONCILE_STALE_EVERY_S + 5.0  # one reconciliation pass, and a margin


@dataclass
class Outcome:
    """What one run of a scenario measured, for the tests that judge it."""

    tally: Tally
    problems: str  # every difference between the journal and the backend ("" when none)
    faults: list[tuple[float, float]]  # (fault began, fault ended), time.monotonic()
    recorder: Recorder
    seconds: float
    worker_deaths: list[str]  # the last log lines of each worker that died and was restarted
    still_in_broker: int = 0  # sent, unfinished, and still held by the broker (not lost)
    # Redis only: each task sent and neither finished nor held by the broker, with the seconds
    # between its publish and the start of the next fault (None: sent after the last one)
    vanished_before_fault: dict[str, float | None] = field(default_factory=dict)
    worker_logs: str = ""  # every worker's log, whole


def _save_profile(broker_url: str, backend_url: str) -> Path:
    services = Services.open()
    profile = Profile(name=PROFILE, broker_url=broker_url, result_backend=backend_url)
    services.profiles.save(profile, create=True)
    return services.journal_path(profile)


def _flood_through_faults(
    place: Bench,
    broker_url: str,
    backend_url: str,
    cause_fault: Callable[[], None],
    faults: int,
    reconnects: Recorder | None = None,
) -> tuple[Flood, list[tuple[float, float]], list[str]]:
    """Flood one worker (started again if it dies) and cause `faults` faults 2 s apart in the
    middle; wait until the backend is settled. `cause_fault()` returns when the fault is over;
    with `reconnects` the next fault waits until that recorder is connected again. Returns the
    flood, the fault windows and the last lines of each worker that died."""
    client = create_app(broker_url, backend_url, queue_prefix=place.prefix)
    if broker_url.startswith("amqp"):
        # Without publisher confirms RabbitMQ drops, with no error to the sender, a message
        # written as it closes the connection (1 of 300 in a CI run): "sent" would promise what
        # the broker never took. With them, a publish the broker did not confirm raises (and
        # kombu's retry sends it again): a careful app's setting, not the panel's.
        client.conf.broker_transport_options = {
            **client.conf.broker_transport_options,
            "confirm_publish": True,
        }
    windows = []
    try:
        with KeptWorker(
            client, lambda n: place.worker(broker_url, backend_url, f"flooded-{n}", concurrency=2)
        ) as kept:
            flood = Flood(client, FLOOD_TASKS, FLOOD_PER_SECOND).start()
            for _ in range(faults):
                time.sleep(2.0)
                began = time.monotonic()
                cause_fault()
                windows.append((began, time.monotonic()))
                if reconnects is not None:
                    reconnects.wait_said("connected:", 60, after=windows[-1][1])
            flood.wait(120)
            wait_backend_settled(
                backend_url, flood.sent, quiet_s=10, timeout=90, woke=kept.last_started
            )
    finally:
        client.close()
    return flood, windows, kept.died


def _recorded_scenario(
    place: Bench,
    broker_url: str,
    backend_url: str,
    cause_fault: Callable[[], None],
    faults: int = OUTAGES,
    reconnects: bool = True,
) -> Outcome:
    """Record with `celery-desk record` while the flood runs through the faults."""
    started = time.monotonic()
    journal = _save_profile(broker_url, backend_url)
    recorder = Recorder(PROFILE, place.root / "record.log")
    try:
        recorder.wait_said("connected:", 60)
        flood, windows, deaths = _flood_through_faults(
            place, broker_url, backend_url, cause_fault, faults, recorder if reconnects else None
        )
        tally, problems = verdict(journal, backend_url, flood.sent, JOURNAL_CATCH_UP_S)
        held = 0
        vanished: dict[str, float | None] = {}
        if broker_url.startswith("redis"):
            states = backend_states(backend_url)
            unfinished = {i for i in flood.sent if states.get(i) not in FINISHED_STATES}
            held_ids = unfinished & waiting_in_redis_broker(broker_url)
            held = len(held_ids)
            for task_id in unfinished - held_ids:
                sent_at = flood.sent_at[task_id]
                ahead = [began - sent_at for began, _ in windows if began >= sent_at]
                vanished[task_id] = min(ahead, default=None)
        else:
            held = waiting_in_rabbit_broker(broker_url)
    finally:
        recorder.stop()
    seconds = time.monotonic() - started
    logs = "\n".join(log.read_text(errors="replace") for log in place.root.glob("flooded-*.log"))
    return Outcome(tally, problems, windows, recorder, seconds, deaths, held, vanished, logs)


# What Celery's Redis transport says as it dies restoring unacknowledged messages on a
# connection a broker SIGKILL closed; it removes a message from the unacked hash before it puts
# it back in its queue, so a message it was restoring when it died is gone from the broker.
KOMBU_RESTORE_CRASH = "'NoneType' object has no attribute 'hostname'"

# Celery's Redis transport takes a message with BRPOP (gone from the list at once) and only then
# writes it to the unacked hash, in a second round trip (kombu's `QoS.append`, before the message
# reaches Celery); a broker killed between the two loses the message: no worker ever logs it
# received and the broker holds it nowhere (the at-most-once window of kombu issue #305). Such a
# task was published at most this long before the kill, with the worker keeping up.
BRPOP_WINDOW_S = 1.0


def _lost_in_kombus_brpop_window(outcome: Outcome) -> bool:
    """Every vanished task was sent just before a broker kill and never reached a worker."""
    return bool(outcome.vanished_before_fault) and all(
        ahead is not None and ahead <= BRPOP_WINDOW_S and task_id not in outcome.worker_logs
        for task_id, ahead in outcome.vanished_before_fault.items()
    )


def _loses_nothing(outcome: Outcome, what: str) -> None:
    if outcome.problems:
        raise JournalMismatch(f"{what}: {outcome.problems} ({outcome.tally})")
    finished_or_held = outcome.tally.finished + outcome.still_in_broker
    vanished = outcome.tally.sent - finished_or_held
    if vanished and any(KOMBU_RESTORE_CRASH in lines for lines in outcome.worker_deaths):
        # The journal agreed with the backend on every task (checked above); the broker itself
        # lost these in Celery's transport crash. Shown as an expected failure, never a pass.
        pytest.xfail(
            f"{what}: {vanished} task(s) gone from the broker when Celery's Redis transport "
            f"died restoring unacknowledged messages ({KOMBU_RESTORE_CRASH}); the journal "
            f"matched the backend ({outcome.tally})"
        )
    if vanished and _lost_in_kombus_brpop_window(outcome):
        pytest.xfail(
            f"{what}: {vanished} task(s) taken from the broker by a worker's BRPOP just as the "
            f"broker was killed, before kombu wrote them to its unacked hash (never received by "
            f"a worker, held nowhere: Celery's Redis transport's own at-most-once window); the "
            f"journal matched the backend ({outcome.tally}; seconds before a kill: "
            f"{list(outcome.vanished_before_fault.values())})"
        )
    assert finished_or_held == outcome.tally.sent, (
        f"tasks neither finished nor held by the broker: {outcome.tally}, "
        f"{outcome.still_in_broker} still in the broker; vanished (id: seconds before a fault): "
        f"{outcome.vanished_before_fault}"
    )
    if outcome.still_in_broker:
        print(f"  {outcome.still_in_broker} task(s) still in the broker's unacked set or queue")
    restarted = f"; worker restarted {len(outcome.worker_deaths)}x" if outcome.worker_deaths else ""
    print(f"{what}: {outcome.tally}; {outcome.seconds:.0f} s{restarted}")
    for last_lines in outcome.worker_deaths:
        print(f"  a worker died (Celery's own error, restarted as the panel would):\n{last_lines}")


def _said_during_each_fault(outcome: Outcome, text: str, grace_s: float) -> None:
    """`text` on record's stderr during each fault (or within `grace_s` of its end)."""
    for began, ended in outcome.faults:
        said = outcome.recorder.said(text, began, ended + grace_s)
        assert said, (
            f"record said no {text!r} between {began:.1f} and {ended + grace_s:.1f}:\n"
            f"{outcome.recorder.text()}"
        )


# -- Redis killed and restarted ---------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_killed(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """SIGKILL of the broker's redis-server x3 mid-flood, each restarted on its port 1 s later.
    The backend is another Redis: the truth survives."""
    root = tmp_path_factory.mktemp("redis-killed")
    with (
        bench(root) as place,
        killable_redis(root / "broker") as broker,
        redis_server(root / "backend") as backend,
    ):

        def kill_and_restart() -> None:
            broker.kill()
            time.sleep(1.0)
            broker.start()

        outcome = _recorded_scenario(place, broker.url(0), backend.url(0), kill_and_restart)
    return outcome  # the servers are gone: the verdict was taken inside


def test_redis_killed_three_times_loses_nothing(redis_killed: Outcome) -> None:
    _loses_nothing(redis_killed, f"Redis SIGKILL x{OUTAGES}")


def test_redis_killed_is_said_while_it_is_down(redis_killed: Outcome) -> None:
    _said_during_each_fault(redis_killed, "reconnecting:", grace_s=1.0)


# -- Redis paused -----------------------------------------------------------------------------
PAUSE_S = 30.0


@pytest.fixture(scope="module")
def redis_paused(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """SIGSTOP of the broker's redis-server for 30 s mid-flood, then SIGCONT: no connection
    closes, every client just stops hearing from it."""
    root = tmp_path_factory.mktemp("redis-paused")
    with (
        bench(root) as place,
        killable_redis(root / "broker") as broker,
        redis_server(root / "backend") as backend,
    ):

        def pause() -> None:
            broker.pause()
            time.sleep(PAUSE_S)
            broker.resume()

        outcome = _recorded_scenario(
            place, broker.url(0), backend.url(0), pause, faults=1, reconnects=False
        )
    return outcome


def test_redis_paused_loses_nothing(redis_paused: Outcome) -> None:
    _loses_nothing(redis_paused, f"Redis SIGSTOP {PAUSE_S:.0f} s")


def test_redis_paused_is_said_while_it_lasts(redis_paused: Outcome) -> None:
    (began, ended), *_ = redis_paused.faults
    said = [
        line
        for line in redis_paused.recorder.said("", began + 1.0, ended)
        if not line.startswith("events ")  # the 10 s count line says nothing of the pause
    ]
    assert said, f"record said nothing during the pause:\n{redis_paused.recorder.text()}"


# -- RabbitMQ connections closed --------------------------------------------------------------
@pytest.fixture(scope="module")
def rabbit_closed(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """`rabbitmqctl close_all_connections` x3 mid-flood on the run's own virtual host; the
    backend is an embedded Redis."""
    root = tmp_path_factory.mktemp("rabbit-closed")
    with (
        own_vhost() as vhost_url,
        bench(root) as place,
        redis_server(root / "backend") as backend,
    ):

        def close_connections() -> None:
            assert close_rabbit_connections(vhost_url) >= 2  # the worker's and the recorder's

        outcome = _recorded_scenario(place, vhost_url, backend.url(0), close_connections)
    return outcome


@pytest.mark.rabbitmq
def test_rabbitmq_connections_closed_three_times_loses_nothing(rabbit_closed: Outcome) -> None:
    _loses_nothing(rabbit_closed, f"RabbitMQ close_all_connections x{OUTAGES}")


@pytest.mark.rabbitmq
def test_rabbitmq_connections_closed_is_said_at_once(rabbit_closed: Outcome) -> None:
    _said_during_each_fault(rabbit_closed, "reconnecting:", grace_s=3.0)


# -- A worker SIGKILLed mid-task, acks_late --------------------------------------------------
def _started_on(backend_url: str, task_id: str, timeout: float = 30.0) -> str:
    """The node running a task, from its STARTED state in the result backend."""
    client = redis.Redis.from_url(backend_url, socket_timeout=5)
    try:

        def started() -> str | None:
            raw = client.get(f"celery-task-meta-{task_id}")
            meta = json.loads(raw) if raw else {}
            if meta.get("status") == "STARTED":
                return str((meta.get("result") or {}).get("hostname"))
            return None

        return str(wait_for(started, timeout, f"{task_id} to start"))
    finally:
        client.close()


def _worker_killed_mid_task(root: Path, broker_url: str, backend_url: str, prefix: str) -> None:
    """Two workers of the demo app (acks_late, prefetch 1); the one running a 3 s task is
    SIGKILLed with its pool. The broker gives the message back, the other worker runs it, the
    journal says SUCCESS, and the Workers screen's rule shows the killed one offline."""
    from desktop.core.monitor.state import OFFLINE_AFTER_S
    from desktop.ui.workers.model import WorkersModel

    workers_seen: dict[str, WorkerRow] = {}

    def on_diff(diff: StateDiff) -> None:
        workers_seen.update((w.hostname, w) for w in diff.workers_changed)

    journal_path = root / "journal.sqlite3"
    journal = Journal(journal_path)
    monitor = Monitor(broker_url, backend_url, journal, on_diff=on_diff)
    monitor.start()
    place = Bench(root, prefix)
    client = create_app(broker_url, backend_url, queue_prefix=prefix)
    pair = [place.worker(broker_url, backend_url, n, concurrency=1) for n in ("first", "second")]
    try:
        wait_for(lambda: monitor.stream.state == CONNECTED, 30, "the Monitor to connect")
        for worker in pair:
            worker.start()
        for worker in pair:
            worker.wait_until_ready(client, timeout=60)
        task_id = str(uuid.uuid4())
        client.send_task("workers.tasks.sleep", args=[3], task_id=task_id)
        running_on = _started_on(backend_url, task_id)
        victim, survivor = sorted(pair, key=lambda w: w.nodename != running_on)
        wait_for(lambda: victim.nodename in workers_seen, 10, "the panel to see the worker")
        assert victim.proc is not None
        os.killpg(victim.proc.pid, signal.SIGKILL)  # the worker and its pool, as an OOM kill
        finished = wait_backend_settled(backend_url, [task_id], quiet_s=60, timeout=60)
        assert finished == 1, "the killed worker's task never finished"
        assert_journal_matches_backend(journal_path, backend_url, [task_id], JOURNAL_CATCH_UP_S)
        row = journal.rows([task_id])[task_id]
        assert row["state"] == "SUCCESS" and row["worker"] == survivor.nodename, row
        wait_for(
            lambda: not WorkersModel.online(workers_seen[victim.nodename]),
            OFFLINE_AFTER_S + 10,
            f"the panel to show {victim.nodename} offline",
        )
        assert WorkersModel.online(workers_seen[survivor.nodename]), "the survivor shown offline"
    finally:
        for worker in pair:
            worker.stop(timeout=10)
        client.close()
        monitor.stop()
        journal.close()


def test_worker_killed_mid_task_on_redis_runs_it_again(tmp_path: Path, prefix: str) -> None:
    """Redis gives the message back after the app's visibility_timeout (4 s here)."""
    with redis_server(tmp_path / "broker") as broker, redis_server(tmp_path / "backend") as backend:
        _worker_killed_mid_task(tmp_path, broker.url(0), backend.url(0), prefix)


@pytest.mark.rabbitmq
def test_worker_killed_mid_task_on_rabbitmq_runs_it_again(
    tmp_path: Path, prefix: str, rabbit_vhost: str
) -> None:
    """RabbitMQ gives the message back as soon as the consumer's connection dies."""
    with redis_server(tmp_path / "backend") as backend:
        _worker_killed_mid_task(tmp_path, rabbit_vhost, backend.url(0), prefix)


# -- The window SIGKILLed mid-flood -----------------------------------------------------------
def test_window_killed_mid_flood_then_record_fills_the_gap(tmp_path: Path, prefix: str) -> None:
    """The real window (offscreen) records a flood; kill -9 of it; 4 s later `record` starts:
    every task the backend knows ends in the journal with its state."""
    with redis_server(tmp_path / "broker") as broker, redis_server(tmp_path / "backend") as backend:
        broker_url, backend_url = broker.url(0), backend.url(0)
        journal = _save_profile(broker_url, backend_url)
        log = (tmp_path / "window.log").open("wb")
        window = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", PROFILE],
            cwd=REPO_ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = create_app(broker_url, backend_url, queue_prefix=prefix)
        worker = Bench(tmp_path, prefix).worker(broker_url, backend_url, "flooded", concurrency=2)
        recorder: Recorder | None = None
        try:
            with running_worker(client, worker, ready_timeout=60):
                flood = Flood(client, FLOOD_TASKS, FLOOD_PER_SECOND).start()
                wait_for(
                    lambda: len(journal_states(journal)) >= 30, 60, "the window to journal tasks"
                )
                window.kill()
                assert window.wait(10) == -signal.SIGKILL
                time.sleep(4.0)  # tasks run and finish with nobody listening
                recorder = Recorder(PROFILE, tmp_path / "record.log")
                recorder.wait_said("connected:", 60)
                flood.wait(120)
                wait_backend_settled(backend_url, flood.sent, quiet_s=10, timeout=90)
            tally = assert_journal_matches_backend(
                journal, backend_url, flood.sent, JOURNAL_CATCH_UP_S
            )
            print(f"window SIGKILL mid-flood: {tally}")
        finally:
            client.close()
            if recorder is not None:
                recorder.stop()
            if window.poll() is None:
                window.kill()
                window.wait(10)
            log.close()
