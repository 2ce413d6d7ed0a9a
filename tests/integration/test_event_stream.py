"""The Redis event reader against a real redis-server: what kombu would receive, and nothing
it must not decode."""

from __future__ import annotations

import base64
import json
import pickle
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from desktop.core.monitor.events import CONNECTED, EventStream, receiver_app
from tests.factories import app_config
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


class Collected:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def batch(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            self.events.extend(batch)

    def ids(self) -> set[str]:
        with self.lock:
            return {str(e.get("uuid")) for e in self.events}


def start(stream: EventStream, streams: list[EventStream]) -> EventStream:
    streams.append(stream)
    stream.start()
    wait_for(lambda: stream.state == CONNECTED, 10, "the stream to subscribe")
    return stream


def send_task_sent(broker_url: str, task_id: str, options: dict[str, Any] | None = None) -> None:
    app = Celery("sender", broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = options or {}
    try:
        with (
            app.connection_for_write() as connection,
            app.events.Dispatcher(connection, hostname="client@test") as dispatcher,
        ):
            dispatcher.send("task-sent", uuid=task_id, name="workers.tasks.add", args="(1, 2)")
    finally:
        app.close()


class Exploding:
    """Unpickling this would create the marker file: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_undecodable_envelopes_are_counted_and_never_unpickled(
    embedded_redis: Any, streams: list[EventStream], tmp_path: Path
) -> None:
    url = embedded_redis.url(7)
    seen = Collected()
    stream = start(EventStream(receiver_app(url), seen.batch), streams)
    marker = tmp_path / "unpickled"
    pickled = {
        "body": base64.b64encode(pickle.dumps(Exploding(marker))).decode(),
        "content-type": "application/x-python-serialize",
        "content-encoding": "binary",
        "headers": {},
        "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "celeryev"}},
    }
    client = redis.Redis.from_url(url)
    try:
        client.publish("/7.celeryev/task.sent", b"\x00\xff not json")
        client.publish("/7.celeryev/task.sent", json.dumps(pickled))
        client.publish("/7.celeryev/task.sent", json.dumps({"body": "!!", "content-type": 1}))
    finally:
        client.close()
    task_id = str(uuid.uuid4())
    send_task_sent(url, task_id)
    wait_for(lambda: task_id in seen.ids(), 10, "the valid event after the bad ones")
    assert stream.stats.undecodable == 3
    assert not marker.exists(), "a pickled event was unpickled"
    event = next(e for e in seen.events if e.get("uuid") == task_id)
    assert event["type"] == "task-sent" and event["args"] == "(1, 2)"
    assert "local_received" in event  # Celery's event_from_message ran


def test_global_key_prefix_is_honoured(embedded_redis: Any, streams: list[EventStream]) -> None:
    url = embedded_redis.url(8)
    options = {"global_keyprefix": f"desk-{uuid.uuid4().hex[:8]}:"}
    seen = Collected()
    config = app_config(broker_transport_options=options)  # the app's own key prefix
    start(EventStream(receiver_app(url, config), seen.batch), streams)
    unprefixed, prefixed = str(uuid.uuid4()), str(uuid.uuid4())
    send_task_sent(url, unprefixed)
    send_task_sent(url, prefixed, options)
    wait_for(lambda: prefixed in seen.ids(), 10, "the event sent with the key prefix")
    time.sleep(0.3)  # the unprefixed one was sent first: it would have arrived by now
    assert unprefixed not in seen.ids()


def test_one_malformed_event_in_a_message_is_skipped_alone(
    embedded_redis: Any, streams: list[EventStream]
) -> None:
    url = embedded_redis.url(7)
    seen = Collected()
    stream = start(EventStream(receiver_app(url), seen.batch), streams)
    now = time.time()
    good = [{"type": "task-sent", "uuid": str(uuid.uuid4()), "hostname": "c@t", "timestamp": now}
            for _ in range(2)]  # fmt: skip
    body = json.dumps([good[0], 42, ["not", "an", "event"], good[1]]).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {},
        "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "celeryev"}},
    }
    client = redis.Redis.from_url(url)
    try:
        client.publish("/7.celeryev/task.multi", json.dumps(envelope))
    finally:
        client.close()
    wait_for(lambda: good[1]["uuid"] in seen.ids(), 10, "the event after the malformed ones")
    assert {good[0]["uuid"], good[1]["uuid"]} <= seen.ids()  # before: the rest was dropped
    assert stream.stats.undecodable == 2


def test_a_paused_broker_is_said_silent_and_nothing_sent_meanwhile_is_lost(
    tmp_path: Path, streams: list[EventStream]
) -> None:
    """SIGSTOP of redis-server closes no connection: before, the stream said nothing at all.
    Now it asks (PING), says `silent` while Redis does not answer, keeps its subscription,
    and what was published during the pause arrives once Redis runs again."""
    import os
    import signal

    from desktop.core.monitor.events import SILENCE_PING_AFTER_S, SILENT, SILENT_AFTER_S
    from tests.conftest import redis_server

    states: list[tuple[str, str]] = []
    with redis_server(tmp_path) as broker:
        url = broker.url(0)
        seen = Collected()
        stream = EventStream(
            receiver_app(url), seen.batch, lambda state, text: states.append((state, text))
        )
        start(stream, streams)
        pid = broker.status().pid
        assert pid is not None
        sent_meanwhile = str(uuid.uuid4())
        publisher: threading.Thread | None = None
        os.kill(pid, signal.SIGSTOP)
        try:
            # A publisher whose PUBLISH waits in Redis's socket until it runs again.
            publisher = threading.Thread(target=send_task_sent, args=(url, sent_meanwhile))
            publisher.start()
            # the stream's own 5 s + 5 s, and room for a loaded machine (make test runs three
            # pytest processes and their workers side by side): 3 s of it was once too little
            bound = SILENCE_PING_AFTER_S + SILENT_AFTER_S + 20
            wait_for(lambda: stream.state == SILENT, bound, "the stream to say it is silent")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: stream.state == CONNECTED, 10, "the stream to hear Redis again")
        wait_for(lambda: sent_meanwhile in seen.ids(), 10, "the event published in the pause")
        publisher.join(10)
        assert stream.stats.reconnects == 0  # the subscription was kept, not replaced
        said = [text for state, text in states if state == SILENT]
        assert said and "has not answered" in said[0]
        assert any("answers again" in text for state, text in states if state == CONNECTED)
        streams.remove(stream)  # stopped while its broker still runs
        assert stream.stop(), "event stream threads did not stop"
        stream.app.close()
