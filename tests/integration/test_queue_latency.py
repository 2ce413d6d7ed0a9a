"""Queue latency on real brokers: the demo app's tasks wait with nobody consuming, and the age of
the oldest is read from what dates it (its timestamp, the journal, the panel's first sight),
in core and in `celery-desk queues --json`; an empty queue has none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from desktop.core.broker import queue_latency, queues
from desktop.core.broker.queue_rabbitmq import RabbitQueues
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.monitor.journal import Journal
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.desk_cli import celery_desk
from tests.factories import app_config
from tests.integration.worker_process import REPO_ROOT, delete_rabbitmq_entities
from workers import create_app

pytestmark = pytest.mark.slow
WAITED_S = 2.2


def _redis_inspector(url: str, app: Any) -> RedisQueues:
    """The lists the demo app's workers would read (its priority steps and separator)."""
    return RedisQueues(url, app_config(broker_transport_options=app.conf.broker_transport_options))


def test_redis_oldest_is_dated_by_first_sight_the_journal_and_the_message(
    embedded_redis: Any, tmp_path: Path
) -> None:
    url = embedded_redis.url(0)
    prefix = f"lat{uuid.uuid4().hex[:6]}-"
    app = create_app(url, "", queue_prefix=prefix)
    plain, journaled, stamped, empty = (prefix + n for n in ("plain", "journaled", "stamped", "e"))
    journal = Journal(tmp_path / "journal.sqlite3")
    source = _redis_inspector(url, app)
    try:
        names = [plain, journaled, stamped, empty]
        memory = queue_latency.FirstSeen()
        # Priority 9 seen first, then 0: the oldest of `plain` is not the one delivered next.
        app.send_task("workers.tasks.add", args=(1, 2), queue=plain, priority=9)
        queues.snapshot(source, names, None, 0, False, journal, memory)
        time.sleep(0.3)
        app.send_task("workers.tasks.add", args=(3, 4), queue=plain, priority=0)
        sent = app.send_task("workers.tasks.add", args=(5, 6), queue=journaled)
        journal.record_submitted(str(sent.id), "workers.tasks.add", queue=journaled)
        app.send_task("workers.tasks.add", queue=stamped, timestamp=int(time.time()))
        first = queues.snapshot(source, names, None, 0, False, journal, memory)
        assert first.oldest[plain].source == queue_latency.FROM_FIRST_SEEN
        assert first.oldest[plain].age_s is not None and first.oldest[plain].age_s < 1
        time.sleep(WAITED_S)
        later = queues.snapshot(source, names, None, 0, False, journal, memory)
        ages = {name: later.oldest[name].age_s for name in (plain, journaled, stamped)}
        assert all(age is not None and age < 10 for age in ages.values()), ages
        assert ages[plain] >= WAITED_S and ages[journaled] >= WAITED_S  # type: ignore[operator]
        # AMQP timestamps are whole seconds: up to one second early.
        assert ages[stamped] >= WAITED_S - 1.0  # type: ignore[operator]
        assert [later.oldest[n].source for n in (plain, journaled, stamped)] == [
            queue_latency.FROM_FIRST_SEEN, queue_latency.FROM_JOURNAL, queue_latency.FROM_MESSAGE
        ]  # fmt: skip
        assert later.oldest[plain].step == 9  # both steps' heads read, the older one chosen
        # A head still there is not sent again: the script answers "still there" for it.
        known = memory.last_heads()
        again = {c.queue: c.heads for c in source.counts(names, known=known)}
        assert [h.step for h in again[plain]] == [0, 9]
        assert all(head is known[(plain, head.step)] for head in again[plain])
        assert [h.task_id for h in source.counts([plain])[0].heads] == [
            h.task_id for h in again[plain]
        ]  # read afresh, the same messages
        assert later.oldest[journaled].task_id == sent.id
        assert empty not in later.oldest
        # Without memory (a one-shot CLI run) the undated head is unknown, not "just seen".
        report = {e["queue"]: e for e in queues.report(source, names, 0, None, journal)}
        assert report[plain]["oldest_age_s"] is None and report[plain]["oldest_source"] is None
        assert report[journaled]["oldest_source"] == "journal"
        assert WAITED_S <= report[journaled]["oldest_age_s"] < 10
        assert report[empty]["oldest_age_s"] is None and report[empty]["waiting"] == 0
        # Once the head is taken, the next one is dated from when it was first seen there.
        source.purge(plain)
        fresh = app.send_task("workers.tasks.add", queue=plain, priority=9)  # a known step
        after = queues.snapshot(source, names, None, 0, False, journal, memory)
        assert after.oldest[plain].age_s is not None and after.oldest[plain].age_s < 1
        assert after.oldest[plain].task_id == fresh.id  # not taken for the one it replaced
    finally:
        for name in (plain, journaled, stamped):
            source.purge(name)
        source.close()
        journal.close()
        app.close()


@pytest.fixture
def recorder(broker_url: str, embedded_redis: Any) -> Any:
    """A profile on the broker and `celery-desk record` journaling its events, subscribed."""
    services = Services.open()
    queue, empty = f"lat{uuid.uuid4().hex[:8]}", f"lat{uuid.uuid4().hex[:8]}-empty"
    profile = Profile(
        name="lat",
        broker_url=broker_url,
        result_backend=embedded_redis.url(1),
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10), QueueSpec(empty, 10)],
    )
    services.profiles.save(profile, create=True)
    running = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--profile", "lat", "record"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    journal = services.journal_path(services.profiles.get("lat"))
    deadline = time.monotonic() + 20
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # subscribed by now
    try:
        yield queue, empty, journal
    finally:
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=15)
        if broker_url.startswith("amqp"):
            delete_rabbitmq_entities(broker_url, [queue, empty])


def test_the_cli_prints_the_oldest_age_from_the_journal(
    request: pytest.FixtureRequest, broker_url: str, recorder: Any
) -> None:
    """The demo app's tasks carry no send time: the task-sent events the recorder journaled
    date them (on RabbitMQ, the head read through the management API names the task)."""
    queue, empty, journal_path = recorder
    rabbit = broker_url.startswith("amqp")
    if rabbit:
        request.getfixturevalue("management_url")
    app = create_app(broker_url, "", queue_prefix="")
    try:
        ids = [str(app.send_task("workers.tasks.add", args=(i, i), queue=q).id)
               for i, q in enumerate((queue, queue, empty))]  # fmt: skip
    finally:
        app.close()
    inspector = RabbitQueues(broker_url) if rabbit else None
    if inspector is not None:
        inspector.purge(empty)
    deadline = time.monotonic() + 10  # the recorder's batch reaches the journal
    journal = Journal(journal_path, read_only=True)
    try:
        while not all(journal.get(i) for i in ids[:2]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all((journal.get(i) or {}).get("sent") for i in ids[:2])
    finally:
        journal.close()
    if not rabbit:
        _redis_inspector(broker_url, create_app(broker_url, "", queue_prefix="")).purge(empty)
    time.sleep(WAITED_S)
    done = celery_desk("queues", "--profile", "lat", "--json", "--limit", "1")
    assert done.returncode == 0, done.stderr
    listed = {item["queue"]: item for item in json.loads(done.stdout)}
    entry = listed[queue]
    assert entry["waiting"] == 2
    assert entry["oldest_source"] == "journal" and entry["oldest_id"] == ids[0]
    assert WAITED_S <= entry["oldest_age_s"] < 10
    assert listed[empty]["waiting"] == 0 and listed[empty]["oldest_age_s"] is None
    text = celery_desk("queues", "--profile", "lat", "--queue", queue, "--limit", "0")
    assert text.returncode == 0, text.stderr
    if rabbit:  # no message read (--limit 0): RabbitMQ's statistics name no head to date
        assert "oldest ? (nothing dates it" in text.stdout
    else:
        assert f"{queue}: waiting 2" in text.stdout and "s (journal)" in text.stdout


def test_rabbitmq_dates_the_head_by_its_timestamp_without_taking_it(
    amqp_url: str, management_url: str
) -> None:
    """The management API's queue statistics carry the head's AMQP timestamp: read with the
    counts, no message taken (RabbitMQ's statistics are up to 5 s behind)."""
    queue = f"lat{uuid.uuid4().hex[:8]}"
    app = create_app(amqp_url, "", queue_prefix="")
    source = RabbitQueues(amqp_url, management_url)
    try:
        sent = app.send_task("workers.tasks.add", queue=queue, timestamp=int(time.time()))
        app.send_task("workers.tasks.add", queue=queue)
        sent_at = time.monotonic()
        while not source.counts([queue])[0].heads and time.monotonic() < sent_at + 15:
            time.sleep(0.5)
        time.sleep(max(0.0, sent_at + WAITED_S - time.monotonic()))
        taken = queues.snapshot(source, [queue], None, 0, False, None, queue_latency.FirstSeen())
        oldest = taken.oldest[queue]
        assert oldest.source == queue_latency.FROM_MESSAGE, taken.counts
        assert oldest.age_s is not None and WAITED_S - 1.0 <= oldest.age_s < 20
        message = source.waiting(queue, 0, 1)[0].message
        assert message.id == sent.id and message.sent_at is not None
    finally:
        app.close()
        delete_rabbitmq_entities(amqp_url, [queue])


def test_a_damaged_journal_leaves_the_ages_unknown_and_the_queues_listed(
    embedded_redis: Any,
) -> None:
    services = Services.open()
    queue = f"lat{uuid.uuid4().hex[:8]}"
    profile = Profile(
        name="damaged",
        broker_url=embedded_redis.url(0),
        result_backend="",
        workdir=str(REPO_ROOT),
        queues=[QueueSpec(queue, 10)],
    )
    services.profiles.save(profile, create=True)
    journal = services.journal_path(profile)
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(b"not a journal at all " * 100)
    app = create_app(embedded_redis.url(0), "", queue_prefix="")
    try:
        app.send_task("workers.tasks.add", queue=queue)
        done = celery_desk("queues", "--profile", "damaged", "--queue", queue, "--json")
        assert done.returncode == 0, done.stderr
        assert "the journal was not read for send times" in done.stderr
        (entry,) = json.loads(done.stdout)
        assert entry["waiting"] == 1 and entry["oldest_age_s"] is None
    finally:
        _redis_inspector(embedded_redis.url(0), app).purge(queue)
        app.close()
