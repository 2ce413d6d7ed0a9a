"""Hostile broker content as kombu's Redis transport would store it: text built by hand, since
nesting this deep cannot go through json.dumps (which is the point)."""

from __future__ import annotations

import base64
import json
import uuid

DEEP = 100_000  # nested lists: far past Python's recursion limit


def deeply_nested(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def envelope(body: str, headers: str = "", *, task: str = "workers.tasks.add") -> str:
    """kombu's envelope around a protocol 2 body (JSON text), base64-encoded as kombu does;
    `headers` (JSON object text) replaces the task headers when given."""
    task_id = str(uuid.uuid4())
    headers = headers or json.dumps({"task": task, "id": task_id, "lang": "py"})
    encoded = base64.b64encode(body.encode()).decode()
    properties = json.dumps(
        {"priority": 0, "body_encoding": "base64", "delivery_tag": task_id,
         "delivery_info": {"exchange": "", "routing_key": "celery"}}
    )  # fmt: skip
    return (
        f'{{"body": "{encoded}", "content-encoding": "utf-8", '
        f'"content-type": "application/json", "headers": {headers}, '
        f'"properties": {properties}}}'
    )


def good_message(task: str = "workers.tasks.add") -> str:
    return envelope(json.dumps([[1, 2], {}, {"callbacks": None}]), task=task)


def deep_args_message() -> str:
    """A task whose args nest 100,000 lists deep."""
    return envelope(f"[{deeply_nested()}, {{}}, {{}}]")


def deep_headers_message() -> str:
    """A task whose headers (in the envelope itself) nest 100,000 lists deep."""
    headers = f'{{"task": "workers.tasks.add", "id": "deep", "argsrepr": {deeply_nested()}}}'
    return envelope("[[], {}, {}]", headers)


def unacked_entry(message: str, routing_key: str) -> str:
    """What kombu's Redis transport keeps in the unacked hash: [message, exchange, key]."""
    return f'[{message}, "", {json.dumps(routing_key)}]'
