"""The effective configuration: Celery's and kombu's own rules and defaults, never ours.

Every rule here is compared with kombu's or Celery's own code run on the same input, so a
change in kombu shows up as a failure here rather than as tasks lost on a real broker.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from hypothesis import given
from hypothesis import strategies as st
from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as kombu_virtual

from desktop.core.app import priorities
from desktop.core.app import probe as app_probe
from desktop.core.app.config import ConfigHistory, defaults_config, drift_of, from_probe
from desktop.core.app.effective_config import drift
from desktop.core.app.panel_app import client_app
from desktop.core.settings.profile_model import Endpoints, Profile, QueueSpec, TransportOverrides
from desktop.core.settings.redaction import hide_secrets, redact
from tests.factories import app_config


def test_unset_transport_options_are_kombus_own_defaults() -> None:
    """An app that sets nothing gets exactly kombu's Redis channel attributes, read from
    kombu's class (`from_transport_options`), each marked as kombu's default."""
    config = defaults_config(Profile(name="p"), "redis://", "cannot import")
    channel = kombu_redis.Channel
    expected = {name: getattr(channel, name) for name in channel.from_transport_options}
    assert json.loads(json.dumps(config.transport_options())) == json.loads(
        json.dumps(expected, default=repr)
    )
    assert config.priority_steps == list(kombu_redis.PRIORITY_STEPS)
    assert config.priority_range == (channel.min_priority, channel.max_priority)
    assert {config.transport_source(k) for k in expected} == {"kombu default"}
    assert config.imported is False and config.queue_names() == ["celery"]
    assert config.setting_source("task_default_priority") == "Celery default"


def test_app_values_and_overrides_say_where_they_come_from() -> None:
    profile = Profile(name="p", transport=TransportOverrides(visibility_timeout=60))
    config = app_config(
        broker_transport_options={"priority_steps": [0, 5], "visibility_timeout": 100},
        task_default_priority=5,
        profile=profile,
    )
    assert config.transport_source("priority_steps") == "app"
    assert config.transport_source("visibility_timeout") == "profile override"
    assert config.transport_source("sep") == "kombu default"
    assert config.transport_option("visibility_timeout") == 60
    assert config.app_transport_option("visibility_timeout") == 100
    assert config.sending_transport_options() == {
        "priority_steps": [0, 5],
        "visibility_timeout": 60,
    }
    assert [c.text() for c in config.conflicts()] == ["transport.visibility_timeout: 100 → 60"]
    assert config.setting("task_default_priority") == 5
    assert config.setting_source("task_default_priority") == "app"


@given(
    steps=st.lists(st.integers(0, 12), min_size=1, max_size=10, unique=True).map(sorted),
    priority=st.one_of(st.none(), st.integers(-5, 300)),
)
def test_the_redis_list_a_priority_lands_in_is_kombus_choice(
    steps: list[int], priority: int | None
) -> None:
    """kombu clamps the message priority (virtual Channel._get_message_priority) then picks the
    step (redis Channel.priority); the panel's one rule must agree for any steps."""
    config = app_config(broker_transport_options={"priority_steps": steps})
    channel = kombu_virtual.Channel
    clamp = SimpleNamespace(
        min_priority=channel.min_priority,
        max_priority=channel.max_priority,
        default_priority=channel.default_priority,
    )
    message: dict[str, Any] = {"properties": {"priority": priority}}
    clamped = channel._get_message_priority(clamp, message)  # type: ignore[arg-type]
    expected = kombu_redis.Channel.priority(SimpleNamespace(priority_steps=steps), clamped)  # type: ignore[arg-type]
    assert priorities.redis_step(config, priority) == expected


def test_delivery_rank_follows_each_broker() -> None:
    rabbit = app_config(
        "amqp://",
        task_queues=[
            Queue("hi", Exchange("hi"), routing_key="hi", queue_arguments={"x-max-priority": 10}),
            Queue("flat", Exchange("flat"), routing_key="flat"),
        ],
    )
    rank = priorities.delivery_rank
    assert rank(rabbit, 9, "hi") < rank(rabbit, 1, "hi")  # type: ignore[operator]
    assert rank(rabbit, 12, "hi") == rank(rabbit, 10, "hi")
    assert rank(rabbit, 9, "flat") == rank(rabbit, 1, "flat")  # no x-max-priority
    redis = app_config()
    assert rank(redis, 1, "q") < rank(redis, 9, "q")  # type: ignore[operator]
    assert rank(redis, 4, "q") == rank(redis, 5, "q")  # one step: FIFO
    assert priorities.delivery_rank(redis, None, "q") is None


def _route_test_app() -> Celery:
    def by_function(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
        return {"queue": "fast"} if name.endswith(".urgent") else None

    app = Celery("r", broker="redis://", set_as_current=False)
    app.conf.update(
        task_routes=[
            by_function,
            {"reports.*": {"queue": "slow"}, "mail.send": "mail"},
            {re.compile(r"^video\.(encode|thumb)$"): {"queue": "media"}},
        ],
        task_default_queue="work",
        task_default_priority=4,
    )
    for name, options in {
        "x.urgent": {},
        "reports.monthly": {},
        "mail.send": {},
        "plain.task": {},
        "video.encode": {},
        "own.queue": {"queue": "own", "priority": 7},
    }.items():

        def run() -> None:
            """Never run."""

        app.task(name=name, shared=False, **options)(run)
    return app


@pytest.mark.parametrize(
    "name", ["x.urgent", "reports.monthly", "mail.send", "plain.task", "video.encode", "own.queue"]
)
def test_the_panel_routes_a_registered_task_as_the_app_does(name: str) -> None:
    """Router functions, globs, plain names and a task's own queue: the panel, which never
    imports the app, sends each task where the app itself would, with the same priority."""
    app = _route_test_app()
    config = from_probe(app_probe.describe(app), Profile(name="r"))
    client = client_app(config, Endpoints("memory://", "", ""))
    task = app.tasks[name]
    options = {k: v for k, v in task._get_exec_options().items() if v is not None}
    expected = app.amqp.router.route(dict(options), name, (), {}, task)
    merged = {**config.exec_options(name)}
    found = client.amqp.router.route(dict(merged), name, (), {})
    assert found["queue"].name == expected["queue"].name == config.routed_queue(name)
    assert found.get("priority") == expected.get("priority")
    assert priorities.sent_priority(config, name, {}) == expected.get("priority")


def test_a_name_only_workers_know_follows_the_apps_plain_routes() -> None:
    config = from_probe(app_probe.describe(_route_test_app()), Profile(name="r"))
    client = client_app(config, Endpoints("memory://", "", ""))
    assert client.amqp.router.route({}, "reports.weekly")["queue"].name == "slow"
    assert client.amqp.router.route({}, "other.thing")["queue"].name == "work"


def test_queues_are_declared_exactly_as_the_app_declares_them() -> None:
    queues = [
        Queue("own-max", Exchange("own-max"), routing_key="own-max", max_priority=10,
              max_length_bytes=1024),
        Queue("t", Exchange("tx", type="topic"), routing_key="t.#",
              queue_arguments={"x-max-priority": 10, "x-queue-mode": "lazy"}),
        Queue("d", Exchange("d", durable=False), routing_key="d", auto_delete=True),
    ]  # fmt: skip
    config = app_config("amqp://", task_queues=queues, task_queue_max_priority=5)
    for original in queues:
        rebuilt = config.queue(original.name)
        assert rebuilt is not None
        again = rebuilt.to_kombu()
        assert again.as_dict(recurse=True) == original.as_dict(recurse=True)
    # task_queue_max_priority reaches queues declared without one, as Celery applies it.
    capped = app_config("amqp://", task_queues=[Queue("d", Exchange("d"), routing_key="d")],
                        task_queue_max_priority=5)  # fmt: skip
    assert priorities.max_priority_of(capped, "d") == 5
    assert (
        priorities.max_priority_of(config, "own-max") == 10
    )  # kombu's attribute counts as x-max-priority


def test_a_broadcast_queue_stays_a_broadcast() -> None:
    """Celery publishes to a Broadcast's fanout exchange and declares no queue for it."""
    from kombu.common import Broadcast

    config = app_config("amqp://", task_queues=[Broadcast("everyone")])
    (queue,) = [q for q in config.queues if q.broadcast]
    assert queue.name == "everyone" and queue.exchange.type == "fanout"
    rebuilt = queue.to_kombu()
    assert isinstance(rebuilt, Broadcast) and rebuilt.alias == "everyone"
    assert rebuilt.exchange.name == "everyone" and rebuilt.exchange.type == "fanout"


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"task_create_missing_queue_exchange_type": "topic"},
        {"task_default_exchange_type": "topic"},
        {"task_create_missing_queue_type": "quorum"},
        {"task_queue_max_priority": 10},
    ],
)
def test_an_extra_queue_is_declared_as_celery_makes_a_missing_one(settings: dict[str, Any]) -> None:
    profile = Profile(name="p", queues=[QueueSpec("extra")])
    config = app_config("amqp://", profile=profile, **settings)
    made = config.queue("extra")
    assert made is not None and made.source == "profile"
    reference = Celery("ref", broker="amqp://", set_as_current=False)
    reference.conf.update(settings)
    expected = reference.amqp.queues["extra"]
    assert made.to_kombu().as_dict(recurse=True) == expected.as_dict(recurse=True)


def test_options_that_are_not_plain_data_are_not_handed_on() -> None:
    """range(10) is plain data (a list); an int-keyed socket option is not: the panel's own
    connection leaves it to kombu, and a worker is not started with an override then."""
    config = app_config(
        broker_transport_options={"priority_steps": range(10), "socket_keepalive_options": {4: 60}},
        profile=Profile(name="p", transport=TransportOverrides(visibility_timeout=60)),
    )
    assert config.priority_steps == list(range(10))
    sending = config.sending_transport_options()
    assert sending["priority_steps"] == list(range(10))
    assert "socket_keepalive_options" not in sending and sending["visibility_timeout"] == 60


def test_an_override_is_not_drift_and_steps_read_are_both_senders() -> None:
    plain = app_config(broker_transport_options={"priority_steps": [0, 3, 6, 9]})
    overridden = app_config(
        broker_transport_options={"priority_steps": [0, 3, 6, 9]},
        profile=Profile(name="p", transport=TransportOverrides(priority_steps=[0, 5])),
    )
    assert plain.fingerprint == overridden.fingerprint
    assert priorities.stored_steps(overridden) == [0, 3, 5, 6, 9]


def test_drift_lists_what_changed_and_history_remembers(tmp_path: Any) -> None:
    profile = Profile(name="p")
    before = app_config(broker_transport_options={"priority_steps": [0, 3, 6, 9]})
    after = app_config(broker_transport_options={"priority_steps": list(range(10))})
    history = ConfigHistory(tmp_path)
    history.remember("p", before)
    profile.app_fingerprint = before.fingerprint
    assert not drift_of(profile, before, history).changed
    found = drift_of(profile, after, history)
    assert [c.key for c in found.changes] == ["transport.priority_steps"]
    assert "transport.priority_steps: [0, 3, 6, 9] → [0, 1, 2, 3" in found.summary()
    assert drift(before.snapshot(), before.snapshot()) == []


def test_no_password_in_snapshots_or_messages() -> None:
    config = app_config(
        result_backend="redis://:s3cret@h:6379/1",
        broker_transport_options={"sentinel_kwargs": {"password": "s3cret"}},
    )
    config.result_backend = "redis://:s3cret@h:6379/1"
    text = json.dumps(config.snapshot())
    assert "s3cret" not in text
    assert redact({"url": "amqp://u:s3cret@h//", "token": "t0k"}) == {
        "url": "amqp://u:****@h//",
        "token": "****",
    }
    assert hide_secrets("boom: redis://:s3cret@h", "s3cret") == "boom: redis://:****@h"
