"""The tasks every conformance app registers: the tutorial's t1/t2/t3, a probe task and
one that always fails.

Each appends its label to the file named by ORDER_FILE when it runs, so the test reads the
order a worker took them in. `gate` holds the worker (concurrency 1) until GATE_FILE exists,
so what is sent meanwhile waits in the queue for the panel to list it.
"""

import os
import time
from pathlib import Path

from celery import shared_task


def _ran(label: str) -> str:
    with open(os.environ["ORDER_FILE"], "a", encoding="utf-8") as order:
        order.write(label + "\n")
    return label


@shared_task
def gate() -> str:
    _ran("gate")
    deadline = time.monotonic() + 120
    while not Path(os.environ["GATE_FILE"]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "opened"


@shared_task
def record(label: str) -> str:
    return _ran(label)


@shared_task
def t1() -> str:
    return _ran("t1")


@shared_task
def t2() -> str:
    return _ran("t2")


@shared_task
def t3() -> str:
    return _ran("t3")


@shared_task
def fail(number: int) -> None:
    """Fails every time, with its number in the message (a cause to group)."""
    _ran(f"fail-{number}")
    raise ValueError(f"bad input {number}")
