"""One hostile entry in a real Redis never breaks the Queues view: a message or unacked entry
nested 100,000 deep, or a key of the wrong type, shows as that one entry's "not decoded (why)"
or that queue's error, and everything else lists (core, CLI text and --json)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from desktop.core.app import priorities
from desktop.core.broker import queues
from desktop.core.broker.queue_redis import UNACKED_KEY, RedisQueues
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.desk_cli import celery_desk
from tests.factories import app_config
from tests.hostile_messages import (
    deep_args_message,
    deep_headers_message,
    good_message,
    unacked_entry,
)
from tests.integration.worker_process import REPO_ROOT

TOO_DEEP = "nested deeper than 100 levels"


@pytest.fixture
def raw(embedded_redis: Any) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(embedded_redis.url(0))
    yield client
    client.close()


@pytest.fixture
def names() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"hostile-{run}", f"calm-{run}"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return celery_desk("queues", "--profile", "h", *args)


def _profile(broker_url: str, *queue_names: str) -> None:
    Services.open().profiles.save(
        Profile(
            name="h",
            broker_url=broker_url,
            result_backend="",
            workdir=str(REPO_ROOT),
            queues=[QueueSpec(name) for name in queue_names],
        ),
        create=True,
    )


def test_deeply_nested_messages_and_unacked_entries_are_not_decoded_alone(
    embedded_redis: Any, raw: redis.Redis, names: tuple[str, str]
) -> None:
    hostile, calm = names
    config = app_config()
    unacked_key = config.global_keyprefix + UNACKED_KEY
    deep_tag, good_tag = f"deep-{hostile}", f"good-{hostile}"
    try:
        for message in (good_message(), deep_args_message(), deep_headers_message()):
            raw.lpush(hostile, message)  # delivered in this order: RPOP takes the oldest
        raw.lpush(calm, good_message("workers.tasks.calm"))
        raw.hset(unacked_key, deep_tag, unacked_entry(deep_args_message(), hostile))
        raw.hset(unacked_key, good_tag, unacked_entry(good_message(), hostile))
        source = RedisQueues(embedded_redis.url(0), config)
        try:
            counts = {c.queue: c for c in source.counts([hostile, calm])}
            assert (counts[hostile].waiting, counts[calm].waiting) == (3, 1)
            assert counts[hostile].unacked == 2 and not counts[hostile].error
            waiting = source.waiting(hostile)
            assert [(w.message.decoded, w.message.task) for w in waiting] == [
                (True, "workers.tasks.add"), (False, None), (False, None)
            ]  # fmt: skip
            assert [w.message.note for w in waiting[1:]] == [
                f"not decoded: the body is {TOO_DEEP}",
                f"not decoded: the stored message is {TOO_DEEP}",
            ]
            held = {h.delivery_tag: h for h in source.unacked(hostile)}
            assert held[good_tag].message.task == "workers.tasks.add"
            assert held[deep_tag].message.note == f"not decoded: the body is {TOO_DEEP}"
        finally:
            source.close()
        _profile(embedded_redis.url(0), hostile, calm)
        done = _cli("--json")
        assert done.returncode == 0, done.stderr[-2000:]
        listed = {entry["queue"]: entry for entry in json.loads(done.stdout)}
        assert [m["task"] for m in listed[calm]["next"]] == ["workers.tasks.calm"]
        assert [m.get("not_decoded") for m in listed[hostile]["next"]] == [
            None, f"not decoded: the body is {TOO_DEEP}",
            f"not decoded: the stored message is {TOO_DEEP}",
        ]  # fmt: skip
        text = _cli()
        assert text.returncode == 0, text.stderr[-2000:]
        assert f"not decoded: the body is {TOO_DEEP}" in text.stdout
    finally:
        raw.delete(hostile, calm)
        raw.hdel(unacked_key, deep_tag, good_tag)


def test_keys_of_the_wrong_type_fail_only_their_own_queue(
    embedded_redis: Any, raw: redis.Redis, names: tuple[str, str]
) -> None:
    """A queue name that is a hash, a priority step that is a string, the unacked hash
    that is a list: each is said where it is; every other queue and step still lists."""
    hostile, calm = names
    config = app_config(broker_transport_options={"priority_steps": [0, 3, 6, 9]})
    step_3 = priorities.step_key(config, calm, 3)
    unacked_key = config.global_keyprefix + UNACKED_KEY
    saved_unacked = raw.dump(unacked_key)
    try:
        raw.hset(hostile, "not", "a list")
        raw.lpush(calm, good_message("workers.tasks.first"))
        raw.set(step_3, "not a list either")
        raw.lpush(priorities.step_key(config, calm, 6), good_message("workers.tasks.later"))
        raw.delete(unacked_key)
        raw.rpush(unacked_key, "not a hash")
        source = RedisQueues(embedded_redis.url(0), config)
        try:
            counts = {c.queue: c for c in source.counts([hostile, calm])}
            assert counts[hostile].error.startswith(f"'{hostile}' is a hash, not a list")
            assert counts[calm].waiting == 2 and counts[calm].steps == {0: 1, 6: 1}
            assert f"'{step_3}' is a string, not a list: not read" in counts[calm].error
            assert counts[hostile].unacked is None
            waiting = source.waiting(calm)
            assert [(w.position, w.message.task or w.message.note) for w in waiting] == [
                (0, "workers.tasks.first"),
                (1, f"not decoded: '{step_3}' is a string, not a list: not read"),
                (1, "workers.tasks.later"),
            ]
            (held,) = source.unacked(calm)
            assert held.message.note == "not decoded: 'unacked' is a list, not a hash: not read"
            snap = queues.snapshot(source, [hostile, calm], hostile, 10, peek=False)
            assert snap.waiting[0].message.note.startswith(f"not decoded: '{hostile}' is a hash")
        finally:
            source.close()
        _profile(embedded_redis.url(0), hostile, calm)
        done = _cli("--json")
        assert done.returncode == 0, done.stderr[-2000:]
        listed = {entry["queue"]: entry for entry in json.loads(done.stdout)}
        assert [m["task"] for m in listed[calm]["next"] if m["task"]] == [
            "workers.tasks.first", "workers.tasks.later"
        ]  # fmt: skip
        assert "is a hash, not a list" in listed[hostile]["error"]
        text = _cli()
        assert text.returncode == 0, text.stderr[-2000:]
        assert f"'{hostile}' is a hash, not a list: not read" in text.stdout
    finally:
        raw.delete(hostile, calm, step_3, priorities.step_key(config, calm, 6), unacked_key)
        if saved_unacked is not None:
            raw.restore(unacked_key, 0, saved_unacked)
