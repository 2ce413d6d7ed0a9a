"""Demo tasks covering the tutorial: routing, groups, chains, priorities, retries, progress.

They are shared tasks so that every app `create_app()` builds (the panel's clients, tests,
the worker's own) gets them, each bound to its own broker and queue prefix. None of them names
a queue: routes and the default queue come from the app, so a queue prefix is always honoured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from celery import Task, shared_task


def _task(**options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Celery ships no type hints: this typed decorator keeps each task body checked."""
    return cast(Callable[[Callable[..., Any]], Task], shared_task(**options))


def _ran_on(task: Task) -> str:
    delivery = task.request.delivery_info or {}
    queue = delivery.get("routing_key") or "no queue (run locally)"
    return f"{task.name.rsplit('.', 1)[-1]} ran on {queue}"


@_task(bind=True)
def task1(self: Task) -> str:
    time.sleep(0.5)
    return _ran_on(self)


@_task(bind=True)
def task2(self: Task) -> str:
    time.sleep(0.5)
    return _ran_on(self)


@_task()
def demo1(seconds: float = 1.0) -> int:
    time.sleep(seconds)
    return 1


@_task()
def demo2(seconds: float = 2.0) -> str:
    time.sleep(seconds)
    return f"demo2 slept {seconds}s"


@_task()
def demo3(previous_value: int, seconds: float = 1.0) -> int:
    """Takes the previous result, so in a chain it needs s() where demo2/demo4 use si()."""
    time.sleep(seconds)
    return previous_value + 10


@_task()
def demo4(seconds: float = 2.0) -> str:
    time.sleep(seconds)
    return f"demo4 slept {seconds}s"


@_task()
def t1(a: int, b: int, message: str = "None") -> str | int:
    # The tutorial's own shape: the message (even the string "None") turns the sum into prose.
    if message:
        return f"{a} + {b} = {a + b}, message: {message}"
    return a + b


@_task()
def t2(seconds: float = 2.0) -> str:
    time.sleep(seconds)
    return "t2"


@_task()
def t3(seconds: float = 2.0) -> str:
    time.sleep(seconds)
    return "t3"


@_task()
def add(x: int, y: int) -> int:
    return x + y


@_task()
def mul(x: int, y: int) -> int:
    return x * y


@_task()
def xsum(numbers: list[int]) -> int:
    return sum(numbers)


@_task()
def fail(message: str = "this task always fails") -> None:
    raise ValueError(message)


@_task(bind=True, max_retries=5)
def flaky(self: Task, succeed_on_attempt: int = 3) -> int:
    attempt = int(self.request.retries) + 1
    if attempt >= succeed_on_attempt:
        return attempt
    raise self.retry(countdown=1, max_retries=5)


@_task(bind=True)
def long_running(self: Task, steps: int = 10, delay: float = 0.5) -> dict[str, int]:
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"current": i, "total": steps})
        time.sleep(delay)
    return {"steps": steps}


@_task(rate_limit="10/m")
def rate_limited(n: int = 0) -> int:
    return n


@_task()
def sleep(seconds: float = 5.0) -> float:
    """A task that is still running when a worker is told to stop (warm shutdown tests)."""
    time.sleep(seconds)
    return seconds
