"""What the keeper may do to a worker that answers no ping, by the worker's pool."""

from __future__ import annotations

import pytest

from desktop.core.local.worker_keeper import may_kill_for_silence


@pytest.mark.parametrize("pool", ["solo", "gevent", "eventlet"])
def test_a_pool_whose_tasks_silence_its_consumer_is_never_killed_for_silence(pool: str) -> None:
    """A long or CPU-bound task keeps these from answering: killing would lose the task."""
    assert not may_kill_for_silence(pool)


@pytest.mark.parametrize("pool", ["prefork", "processes", "threads"])
def test_a_pool_that_answers_while_busy_is_killed_when_silent(pool: str) -> None:
    """Their consumer answers from a thread or process of its own: silence means a wedge."""
    assert may_kill_for_silence(pool)
