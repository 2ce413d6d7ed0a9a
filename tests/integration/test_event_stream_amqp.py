"""The RabbitMQ event reader (pika) against a real RabbitMQ, in a vhost of the test's own: the
queue Celery would declare, the events kombu would decode, nothing it must not decode, and the
stream back after the broker closes its connection."""

from __future__ import annotations

import json
import pickle
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest
from celery import Celery

from desktop.core.monitor.amqp_events import PREFETCH
from desktop.core.monitor.events import EventStream, receiver_app
from tests.conftest import management_api
from tests.factories import app_config
from tests.integration.test_event_stream import (
    Collected,
    Exploding,
    send_task_sent,
    start,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def _event_queues(url: str) -> list[dict[str, Any]]:
    """The vhost's event queues as RabbitMQ's management API lists them."""
    vhost = urllib.parse.urlsplit(url).path.lstrip("/")
    return [
        q
        for q in management_api("GET", f"/api/queues/{vhost}")
        if q["name"].startswith("celeryev.")
    ]


def _publish_raw(url: str, body: bytes, content_type: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().basic_publish(
            "celeryev",
            "task.sent",
            body,
            pika.BasicProperties(content_type=content_type, content_encoding="binary"),
        )
    finally:
        connection.close()


def test_events_arrive_through_pika_on_the_queue_celery_would_declare(
    rabbit_url: str, streams: list[EventStream]
) -> None:
    config = app_config(event_queue_ttl=7.5, event_queue_expires=90.0)  # the app's own values
    seen = Collected()
    stream = start(EventStream(receiver_app(rabbit_url, config), seen.batch), streams)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for task_id in ids:
        send_task_sent(rabbit_url, task_id)
    wait_for(lambda: set(ids) <= seen.ids(), 10, "the three events")
    assert stream.stats.undecodable == 0
    event = next(e for e in seen.events if e.get("uuid") == ids[0])
    assert event["type"] == "task-sent" and event["args"] == "(1, 2)"
    assert "local_received" in event  # Celery's event_from_message ran
    queues = wait_for(lambda: _event_queues(rabbit_url), 10, "the management API's queue list")
    assert len(queues) == 1
    assert queues[0]["arguments"] == {"x-message-ttl": 7500, "x-expires": 90000}
    assert queues[0]["auto_delete"] is True and queues[0]["durable"] is False


def test_undecodable_messages_are_counted_and_never_unpickled(
    rabbit_url: str, streams: list[EventStream], tmp_path: Path
) -> None:
    seen = Collected()
    stream = start(EventStream(receiver_app(rabbit_url), seen.batch), streams)
    marker = tmp_path / "unpickled"
    _publish_raw(rabbit_url, pickle.dumps(Exploding(marker)), "application/x-python-serialize")
    _publish_raw(rabbit_url, b"\x00\xff not json", "application/json")
    good = {"type": "task-sent", "uuid": str(uuid.uuid4()), "hostname": "c@t", "timestamp": 1.0}
    _publish_raw(rabbit_url, json.dumps([good, 42]).encode(), "application/json")
    wait_for(lambda: good["uuid"] in seen.ids(), 10, "the valid event after the bad ones")
    assert stream.stats.undecodable == 3  # the pickle, the bytes, the 42 in the list
    assert not marker.exists(), "a pickled event was unpickled"


def test_the_stream_comes_back_after_rabbitmq_closes_its_connection(
    rabbit_url: str, streams: list[EventStream]
) -> None:
    seen = Collected()
    stream = start(EventStream(receiver_app(rabbit_url), seen.batch), streams)
    vhost = urllib.parse.urlsplit(rabbit_url).path.lstrip("/")

    def ours() -> list[dict[str, Any]]:
        listed = management_api("GET", "/api/connections")
        return [
            c
            for c in listed
            if c.get("vhost") == urllib.parse.unquote(vhost)
            and (c.get("client_properties") or {}).get("connection_name") == "celery-desk events"
        ]

    connection = wait_for(lambda: ours(), 15, "the events connection in the management API")[0]
    management_api("DELETE", "/api/connections/" + urllib.parse.quote(connection["name"], safe=""))
    wait_for(lambda: stream.stats.reconnects >= 1, 10, "the stream to notice the closed connection")
    wait_for(lambda: stream.state == "connected", 15, "the stream to consume again")
    task_id = str(uuid.uuid4())
    time.sleep(0.2)
    send_task_sent(rabbit_url, task_id)
    wait_for(lambda: task_id in seen.ids(), 10, "an event sent after the reconnection")


def test_a_panel_slower_than_the_queues_ttl_loses_nothing(
    rabbit_url: str, streams: list[EventStream]
) -> None:
    """The app's queue keeps events 1 s; the panel's first batch takes 3 s while more events
    arrive than RabbitMQ keeps in flight. They wait in the panel's memory, read and acked, not
    in the queue to expire."""
    seen = Collected()
    slow_once = {"done": False}

    def slow_batch(batch: list[dict[str, Any]]) -> None:
        if not slow_once["done"]:
            slow_once["done"] = True
            time.sleep(3.0)
        seen.batch(batch)

    config = app_config(event_queue_ttl=1.0)
    stream = start(EventStream(receiver_app(rabbit_url, config), slow_batch), streams)
    first = str(uuid.uuid4())
    send_task_sent(rabbit_url, first)
    wait_for(lambda: slow_once["done"], 10, "the slow first batch to start")
    ids = [str(uuid.uuid4()) for _ in range(PREFETCH + 1000)]  # more than RabbitMQ has in flight
    sender = Celery("sender", broker=rabbit_url, set_as_current=False)
    try:
        with (
            sender.connection_for_write() as connection,
            sender.events.Dispatcher(connection, hostname="client@test") as dispatcher,
        ):
            for task_id in ids:
                dispatcher.send("task-sent", uuid=task_id, name="workers.tasks.add")
    finally:
        sender.close()
    wait_for(lambda: set(ids) <= seen.ids(), 30, "every event sent while the panel was busy")
    assert stream.stats.undecodable == 0
