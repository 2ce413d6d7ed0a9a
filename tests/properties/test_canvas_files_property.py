"""Canvas files from outside (issue 13): 10,000 generated files through load and the checks.

Whatever the text, `format.loads` gives a canvas or raises CanvasError, and the checks never
raise; whatever passes both is sent by Celery's and kombu's own sending code (JSON messages on
kombu's in-memory transport, a chord's bookkeeping in an in-memory result backend), so nothing
that passed can crash at the publish, as countdowns of 1e12 and 4301-digit numbers used to.

Hypothesis draws a seed per file and the file is made from it with `random` (drawing whole
canvases through strategies costs ~15 ms each, too slow for 10,000): valid canvases from
tests/canvas_strategies.py, drawn once, spoiled with wild values (numbers past Python's 4300
digits, infinities, NaN, 1e308, times at the ends of the datetime range, nesting past the
bounds), plus random node trees, random JSON, random bytes, cut-off files and deep nesting.
A failure prints the file."""

from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.app.panel_app import panel_app
from desktop.core.canvas import checks as canvas_checks
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas import model as canvas
from desktop.core.canvas import sending as canvas_sending
from desktop.core.canvas.edit import task_count
from desktop.core.canvas.format import CanvasError
from tests.canvas_strategies import canvases

CASES = int(os.environ.get("CANVAS_PROPERTY_CASES", "10000"))
HUGE = "9" * (sys.get_int_max_str_digits() + 1)  # one digit more than Python reads
HUGE_MARK = "@@huge@@"
NUMBERS = [
    0,
    1,
    -1,
    5e-324,
    0.5,
    1e11,
    1e12,
    3.2e11,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    2**31,
    2**63,
    2**64,
    10**30,
    315_360_000,
    315_360_001,
    255,
    256,
]
TIMES = [
    "2026-11-24T18:00:00+00:00",
    "2030-01-01",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-30T00:00:00",
    "0001-01-02T00:00:00",
    "9999-12-31T23:59:59.999999",
    "2026-13-01",
    "now",
    "",
    "2026-11-24T18:00:00+14:30",
]
KEYS = [*canvas_format.OPTION_TYPES, "type", "task", "args", "kwargs", "children", "header", "body",
        "options", "immutable", "retry", ""]  # fmt: skip


def _wild(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(NUMBERS)
    if roll < 0.35:
        return HUGE_MARK
    if roll < 0.5:
        return rng.choice(TIMES)
    if roll < 0.6:
        return rng.choice([None, True, False, "", "tasks", "x" * rng.randint(0, 50)])
    if roll < 0.7:
        return rng.uniform(-1e15, 1e15) if rng.random() < 0.5 else rng.randint(-(10**20), 10**20)
    if depth > 3:
        return rng.randint(-5, 5)
    if roll < 0.85:
        return [_wild(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): _wild(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _random_node(rng: random.Random, depth: int = 0) -> Any:
    """A node-like object: mostly well formed, sometimes not."""
    kind = rng.choice(["task"] * 3 + ["chain", "group", "chord", "star"])
    if kind == "task" or depth > 4:
        node: dict[str, Any] = {"type": "task", "task": rng.choice(["t.add", "", " ", "a.b"])}
        if rng.random() < 0.7:
            node["args"] = [_wild(rng) for _ in range(rng.randint(0, 3))]
    elif kind == "chord":
        node = {"type": "chord", "header": [_random_node(rng, depth + 1)
                                            for _ in range(rng.randint(0, 3))],
                "body": _random_node(rng, depth + 1)}  # fmt: skip
    else:
        node = {"type": kind, "children": [_random_node(rng, depth + 1)
                                           for _ in range(rng.randint(0, 3))]}  # fmt: skip
    if rng.random() < 0.5:
        node["options"] = {rng.choice(KEYS): _wild(rng) for _ in range(rng.randint(0, 2))}
    return node


def _nodes(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _spoiled(rng: random.Random, document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(_nodes(document["root"]) or [document["root"]])
        where = rng.random()
        options, args, kwargs = (node.get(k) for k in ("options", "args", "kwargs"))
        if where < 0.4 and isinstance(options, dict):
            options[rng.choice(KEYS)] = _wild(rng)
        elif where < 0.6 and isinstance(args, list):
            args.append(_wild(rng))
        elif where < 0.7 and isinstance(kwargs, dict):
            kwargs[rng.choice(["a", "b", ""])] = _wild(rng)
        elif where < 0.85:
            node[rng.choice(KEYS)] = _wild(rng)
        elif node:
            node.pop(rng.choice(list(node)))
    return document


def _nested(rng: random.Random) -> str:
    depth = rng.choice([rng.randint(1, 130), rng.randint(1, 1200)])
    if rng.random() < 0.5:
        args = "[" * depth + "]" * depth
        return ('{"format": "celery-desk/canvas", "version": 1, "root": {"type": "task", '
                f'"task": "t", "args": {args}}}}}')  # fmt: skip
    node = '{"type": "task", "task": "t"}'
    kind = rng.choice(["chain", "group"])
    for _ in range(depth):
        node = f'{{"type": "{kind}", "children": [{node}]}}'
    return f'{{"format": "celery-desk/canvas", "version": 1, "root": {node}}}'


def _file(rng: random.Random, pool: list[dict[str, Any]]) -> str:
    """One canvas file's text."""
    roll = rng.random()
    if roll < 0.45:
        document: Any = _spoiled(rng, rng.choice(pool))
    elif roll < 0.6:
        document = rng.choice(pool)
    elif roll < 0.75:
        document = {"format": canvas_format.FORMAT, "version": 1, "root": _random_node(rng)}
    elif roll < 0.82:
        document = _wild(rng)
    elif roll < 0.9:
        text = json.dumps(rng.choice(pool))
        return text[: rng.randint(0, len(text))]  # cut off
    elif roll < 0.95:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 120))).decode("latin-1")
    else:
        return _nested(rng)
    return json.dumps(document).replace(f'"{HUGE_MARK}"', HUGE)


@pytest.fixture(scope="module")
def pool() -> list[dict[str, Any]]:
    """Valid canvases from the shared strategies, as file documents."""
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(canvases)
    def collect(value: canvas.Canvas) -> None:
        drawn.append(json.loads(canvas_format.dumps(value)))

    collect()
    return drawn


@pytest.fixture(scope="module")
def app() -> Iterator[Celery]:
    sender = panel_app("memory://", "cache+memory://")
    yield sender
    sender.close()


def test_any_canvas_file_is_refused_clearly_or_sent(
    pool: list[dict[str, Any]], app: Celery
) -> None:
    seen = {"refused by the loader": 0, "refused by the checks": 0, "sent": 0}
    started = time.monotonic()

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.integers(0, 2**64))
    def one(seed: int) -> None:
        text = _file(random.Random(seed), pool)
        try:
            loaded = canvas_format.loads(text)
        except CanvasError as exc:
            assert exc.path and exc.message, text[:2000]
            seen["refused by the loader"] += 1
            return
        problems = canvas_checks.check(loaded, canvas_checks.Target())
        if any(p.level == canvas_checks.ERROR for p in problems):
            seen["refused by the checks"] += 1
            return
        try:
            sent = canvas_sending.send(loaded, app)
        except Exception as exc:
            message = f"passed the checks, failed to send: {exc}\n{text[:2000]}"
            raise AssertionError(message) from exc
        assert len(sent.nodes) == task_count(loaded.root)
        seen["sent"] += 1

    one()
    took = time.monotonic() - started
    print(f"\n{CASES} canvas files in {took:.1f} s: {seen}")
    assert sum(seen.values()) >= CASES and all(seen.values()), seen
