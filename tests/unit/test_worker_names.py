"""A local worker's suggested name: said by its queues, always a valid node name, never one
already taken."""

from __future__ import annotations

from desktop.core.local.worker_spec import WorkerSpec, suggested_name


def test_the_name_says_the_queues_and_is_free() -> None:
    assert suggested_name(["queue1"], set()) == "queue1"
    assert suggested_name(["queue1", "queue2"], set()) == "queue1-queue2"
    assert suggested_name([], set()) == "worker"
    assert suggested_name(["queue1"], {"queue1", "queue1-2"}) == "queue1-3"


def test_queue_names_a_node_name_cannot_hold_still_give_a_valid_name() -> None:
    for queues in (["celery:1"], ["a b/c"], ["::"], ["x" * 200], ["-.q"]):
        name = suggested_name(queues, set())
        assert WorkerSpec(name=name, queues=["q"]).problems(["q"]).get("name") is None, name
