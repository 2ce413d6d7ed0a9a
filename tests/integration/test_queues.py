"""Queue inspectors on real brokers: delivery order, custom steps, undecodable messages, purge."""

from __future__ import annotations

import base64
import json
import pickle
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.panel_app import panel_app
from desktop.core.broker import queues
from desktop.core.broker.queue_rabbitmq import RabbitQueues
from desktop.core.broker.queue_redis import RedisQueues
from desktop.core.broker.queue_types import QueueError
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.desk_cli import celery_desk
from tests.factories import app_config
from tests.integration.worker_process import REPO_ROOT, delete_rabbitmq_entities

DEMO = [("t2", 5), ("t1", 1), ("t3", 10)]  # the tutorial's priority demo, in sending order
STEPS_0_9 = {"queue_order_strategy": "priority", "priority_steps": list(range(10))}


def _redis(**options: Any) -> EffectiveConfig:
    """The effective configuration of an app with these broker transport options."""
    return app_config(broker_transport_options=options)


def _settled(count: Any, expected: Any, timeout: float = 5.0) -> Any:
    """RabbitMQ routes a publish from one connection a moment after another connection can
    already ask about the queue: ask again until the answer settles."""
    deadline = time.monotonic() + timeout
    while (got := count()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def _send_demo(broker_url: str, queue: str, config: EffectiveConfig | None) -> list[str]:
    options = config.sending_transport_options() if config else None
    app = panel_app(broker_url, "", options, [QueueSpec(queue, 10)])
    try:
        sent = [
            app.send_task(f"workers.tasks.{name}", queue=queue, priority=priority).id
            for name, priority in DEMO
        ]
    finally:
        app.close()
    return [str(task_id) for task_id in sent]


def test_redis_lists_the_priority_demo_in_delivery_order_lowest_first(embedded_redis: Any) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    transport = _redis(**STEPS_0_9)
    ids = _send_demo(embedded_redis.url(0), queue, transport)
    source = RedisQueues(embedded_redis.url(0), transport)
    try:
        waiting = source.waiting(queue)
        assert [w.message.task for w in waiting] == [
            "workers.tasks.t1", "workers.tasks.t2", "workers.tasks.t3"
        ]  # fmt: skip
        assert [w.message.id for w in waiting] == [ids[1], ids[0], ids[2]]
        # kombu caps priority at 9, so t3's 10 is served from the 9 step
        assert [(w.position, w.step, w.message.priority) for w in waiting] == [
            (0, 1, 1), (1, 5, 5), (2, 9, 10)
        ]  # fmt: skip
        assert source.waiting(queue, 1, 1)[0].message.task == "workers.tasks.t2"
        (counts,) = source.counts([queue])
        assert (counts.waiting, counts.unacked, counts.steps) == (3, 0, {1: 1, 5: 1, 9: 1})
        assert source.purge(queue) == 3
        assert source.counts([queue])[0].waiting == 0
    finally:
        source.close()


def test_custom_steps_separator_and_key_prefix_are_read_as_kombu_writes_them(
    embedded_redis: Any,
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    transport = _redis(priority_steps=[0, 3, 6, 9], sep=":", global_keyprefix="pfx-")
    app = panel_app(
        embedded_redis.url(0), "", transport.sending_transport_options(), [QueueSpec(queue, 10)]
    )
    try:
        for name, priority in (("a", 0), ("b", 5), ("c", 9), ("d", 2), ("e", 7)):
            app.send_task(f"workers.tasks.{name}", queue=queue, priority=priority)
    finally:
        app.close()
    raw = redis.Redis.from_url(embedded_redis.url(0))
    assert {k.decode() for k in raw.keys(f"pfx-{queue}*")} == {
        f"pfx-{queue}", f"pfx-{queue}:3", f"pfx-{queue}:6", f"pfx-{queue}:9"
    }  # fmt: skip
    source = RedisQueues(embedded_redis.url(0), transport)
    try:
        order = [(w.message.task, w.step) for w in source.waiting(queue)]
        assert order == [
            ("workers.tasks.a", 0), ("workers.tasks.d", 0), ("workers.tasks.b", 3),
            ("workers.tasks.e", 6), ("workers.tasks.c", 9),
        ]  # fmt: skip
        assert source.counts([queue])[0].steps == {0: 2, 3: 1, 6: 1, 9: 1}
        # A page that spans two steps reads only what it covers.
        assert [w.message.task for w in source.waiting(queue, 1, 2)] == [
            "workers.tasks.d", "workers.tasks.b"
        ]  # fmt: skip
    finally:
        source.purge(queue)
        source.close()
        raw.close()


def test_undecodable_truncated_and_pickled_messages_are_shown_as_such(
    embedded_redis: Any, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    transport = _redis(**STEPS_0_9)
    _send_demo(embedded_redis.url(0), queue, transport)
    raw = redis.Redis.from_url(embedded_redis.url(0))
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self) -> Any:
            return (open, (str(marker), "w"))

    pickled = {  # what kombu stores for a pickled task: a loader that unpickled would bite
        "body": base64.b64encode(pickle.dumps(Trap())).decode(),
        "content-type": "application/x-python-serialize",
        "content-encoding": "binary",
        "headers": {"task": "workers.tasks.add", "id": "p"},
        "properties": {"priority": 0, "body_encoding": "base64"},
    }
    good = raw.lrange(queue + "\x06\x161", 0, 0)[0]
    try:
        raw.lpush(queue, json.dumps(pickled))
        raw.lpush(queue, good[: len(good) // 2])  # cut short
        raw.lpush(queue, b"\xff\xfe not even text")
        source = RedisQueues(embedded_redis.url(0), transport)
        waiting = source.waiting(queue)
        notes = [w.message.note for w in waiting if not w.message.decoded]
        assert notes == [
            "not decoded: application/x-python-serialize",
            "not decoded: the stored message is not JSON (broken or cut short)",
            "not decoded: the stored message is not JSON (broken or cut short)",
        ]
        assert [w.message.task for w in waiting if w.message.decoded] == [
            "workers.tasks.t1", "workers.tasks.t2", "workers.tasks.t3"
        ]  # fmt: skip
        assert not marker.exists(), "a message was unpickled"
        assert source.counts([queue])[0].waiting == 6
        source.close()
    finally:
        for _step, key in RedisQueues(embedded_redis.url(0), transport).step_keys(queue):
            raw.delete(key)
        raw.close()


def test_the_cli_prints_the_next_messages_in_delivery_order(
    request: pytest.FixtureRequest, broker_url: str
) -> None:
    """The tutorial's priority demo with no worker: Redis t1, t2, t3; RabbitMQ t3, t2, t1.
    On RabbitMQ the profile names no management URL: the one at RabbitMQ's default port
    answers with the broker's own credentials, and the CLI says which it used."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    rabbit = broker_url.startswith("amqp")
    if rabbit:
        request.getfixturevalue("management_url")  # skips when no management API answers
    Services.open().profiles.save(
        Profile(
            name="qs",
            broker_url=broker_url,
            result_backend="",
            workdir=str(REPO_ROOT),
            queues=[QueueSpec(queue, 10)],
        ),
        create=True,
    )
    ids = _send_demo(broker_url, queue, None if rabbit else _redis(**STEPS_0_9))
    if rabbit:
        counting = RabbitQueues(broker_url)
        assert _settled(lambda: counting.counts([queue])[0].waiting, 3) == 3
    expected = [("t3", 10, ids[2]), ("t2", 5, ids[0]), ("t1", 1, ids[1])]
    if not rabbit:
        expected.reverse()
    try:
        done = celery_desk("queues", "--profile", "qs", "--json")
        assert done.returncode == 0, done.stderr
        listed = {item["queue"]: item for item in json.loads(done.stdout)}
        # The app's own queues and the profile's extra one.
        assert set(listed) == {"queue1", "queue2", "tasks", queue}
        entry = listed[queue]
        assert (entry["queue"], entry["waiting"], entry["unacked"], entry["consumers"]) == (
            queue, 3, 0, 0
        )  # fmt: skip
        assert [(m["task"], m["priority"], m["id"]) for m in entry["next"]] == [
            (f"workers.tasks.{name}", priority, task_id) for name, priority, task_id in expected
        ]
        assert entry["next"][0]["args"] == [] and entry["next"][0]["kwargs"] == {}
        if rabbit:
            assert "marked redelivered" in done.stderr
            assert "found at RabbitMQ's default port" in done.stderr
    finally:
        if rabbit:
            delete_rabbitmq_entities(broker_url, [queue])
        else:
            source = RedisQueues(broker_url, _redis(**STEPS_0_9))
            source.purge(queue)
            source.close()


@pytest.fixture
def rabbit_queue(amqp_url: str) -> Iterator[str]:
    name = f"q-{uuid.uuid4().hex[:8]}"
    yield name
    delete_rabbitmq_entities(amqp_url, [name])


def test_rabbitmq_counts_by_passive_declare_and_lists_highest_first(
    request: pytest.FixtureRequest, amqp_url: str, rabbit_queue: str
) -> None:
    ids = _send_demo(amqp_url, rabbit_queue, None)
    declared = RabbitQueues(amqp_url)
    assert _settled(lambda: declared.counts([rabbit_queue])[0].waiting, 3) == 3
    counts = declared.counts([rabbit_queue, rabbit_queue + "-missing"])
    assert (counts[0].waiting, counts[0].consumers) == (3, 0)
    assert counts[1].waiting is None and counts[1].error == "no such queue on the broker"
    with pytest.raises(QueueError, match="management URL"):
        declared.waiting(rabbit_queue)
    managed = RabbitQueues(amqp_url, str(request.getfixturevalue("management_url")))
    waiting = managed.waiting(rabbit_queue)
    assert [w.message.task for w in waiting] == [
        "workers.tasks.t3", "workers.tasks.t2", "workers.tasks.t1"
    ]  # fmt: skip
    assert [w.message.id for w in waiting] == [ids[2], ids[0], ids[1]]
    assert [w.message.priority for w in waiting] == [10, 5, 1]
    # Nothing was lost by looking: all three still wait (once the requeue has settled: a count
    # taken during the management API's get is short by what is in flight), and purge says
    # how many it removed.
    assert _settled(lambda: declared.counts([rabbit_queue])[0].waiting, 3) == 3
    assert declared.purge(rabbit_queue) == 3


def test_a_message_taken_and_not_acknowledged_shows_under_its_queue_and_can_be_removed(
    embedded_redis: Any,
) -> None:
    """A real kombu consumer takes a message and does not ack it: it leaves the list for
    the unacked hash, under the routing key, which the profile maps back to its queue."""
    from kombu import Connection, Consumer, Exchange, Queue

    name = f"q-{uuid.uuid4().hex[:8]}"
    key = f"rk-{name}"
    spec = QueueSpec(name, 10, routing_keys=[key])
    transport = app_config(
        broker_transport_options=STEPS_0_9, profile=Profile(name="p", queues=[spec])
    )
    bound = Queue(name, Exchange(name, type="direct"), routing_key=key)
    app = panel_app(embedded_redis.url(0), "", transport.sending_transport_options(), [spec])
    try:
        for task in ("t1", "t2"):
            app.send_task(f"workers.tasks.{task}", queue=bound, routing_key=key)
    finally:
        app.close()
    source = queues.inspector(embedded_redis.url(0), transport, "")
    assert isinstance(source, RedisQueues)
    taken: list[Any] = []
    conn = Connection(
        embedded_redis.url(0), transport_options=transport.sending_transport_options()
    )
    consumer = Consumer(conn, [bound], accept=["json"], prefetch_count=1,
                        callbacks=[lambda _body, message: taken.append(message)])  # fmt: skip
    with conn, consumer:
        conn.drain_events(timeout=5)
        assert len(taken) == 1
        (counts,) = source.counts([name])
        assert (counts.waiting, counts.unacked) == (1, 1)
        (held,) = source.unacked(name)
        assert held.queue == name and held.message.task == "workers.tasks.t1"
        (waiting,) = source.waiting(name)
        assert source.remove(name, waiting) == 1
        assert source.remove(name, waiting) == 0  # already gone: nothing else is touched
        assert source.counts([name])[0].waiting == 0
        taken[0].ack()
    assert source.counts([name])[0].unacked == 0
    source.close()
