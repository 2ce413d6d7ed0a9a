"""Celery messages as the broker holds them, decoded for showing: JSON only, never unpickled.

Everything here is outside input (anyone who can write to the broker wrote it): every decode
returns a Message, decoded or "not decoded" with why, and never raises; nesting is bounded
(MAX_DEPTH) so showing or re-encoding a message can never recurse out.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from desktop.core.base.argument_redaction import ArgumentRedactor

JSON_TYPES = ("application/json", "text/json")
MAX_DEPTH = 100  # the panel's own bound on nesting in a message it shows (Celery sets none)
# Values under secret-like argument names, hidden in every message read off the broker: by
# the profile's own names where the caller knows the profile (its inspector's `hidden`), else
# by Celery Desk's defaults.
HIDDEN = ArgumentRedactor()


@dataclass(frozen=True)
class Message:
    """A Celery message as the broker holds it, decoded from JSON when it is JSON."""

    id: str | None = None
    task: str | None = None
    args: Any = None
    kwargs: Any = None
    priority: int | None = None
    eta: str | None = None
    expires: str | None = None  # after this the worker that takes it discards it (REVOKED)
    retries: int | None = None
    parent_id: str | None = None
    root_id: str | None = None
    sent_at: float | None = None  # when it was published, if the publisher stamped it
    content_type: str = ""
    decoded: bool = True
    note: str = ""  # why it is not decoded, or that RabbitMQ marked it redelivered

    def to_json(self) -> dict[str, Any]:
        found = {
            "id": self.id,
            "task": self.task,
            "priority": self.priority,
            "args": self.args,
            "kwargs": self.kwargs,
            "eta": self.eta,
            "expires": self.expires,
            "retries": self.retries,
            "parent_id": self.parent_id,
            "root_id": self.root_id,
            "sent_at": self.sent_at,
        }
        if not self.decoded:
            found["not_decoded"] = self.note or self.content_type
        return found


def not_decoded(content_type: str, why: str) -> Message:
    return Message(content_type=content_type, decoded=False, note=f"not decoded: {why}")


def _body(raw: Any, encoding: str) -> Any:
    if encoding == "base64":
        raw = base64.b64decode(raw, validate=True)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return load_json(raw)


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH: refused rather than risk a RecursionError later."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def load_json(raw: Any) -> Any:
    """json.loads bounded in nesting, where the panel reads JSON the broker holds: deeper than
    MAX_DEPTH is TooDeep (a ValueError), so showing or re-encoding it can never recurse out."""
    if isinstance(raw, str | bytes | bytearray) and _openings(raw) <= MAX_DEPTH:
        return json.loads(raw)  # cannot nest deeper than it has brackets
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeep from None
    if deeper_than(value, MAX_DEPTH):
        raise TooDeep
    return value


def _openings(raw: str | bytes | bytearray) -> int:
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest deeper than `limit`, walked without recursion."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
    return False


def _fields(
    headers: dict[str, Any],
    body: Any,
    properties: dict[str, Any],
    kind: str,
    hidden: ArgumentRedactor,
) -> Message:
    priority = properties.get("priority")
    if isinstance(body, list) and len(body) == 3 and "task" in headers:  # protocol 2
        args, kwargs = body[0], body[1]
        source = headers
    elif isinstance(body, dict) and "task" in body:  # protocol 1
        args, kwargs = body.get("args"), body.get("kwargs")
        source = body
    else:
        return not_decoded(kind, "JSON, but not a Celery task message")
    retries = source.get("retries")
    return Message(
        id=_text(source.get("id")),
        task=_text(source.get("task")),
        args=hidden.value(args),  # what a screen or a command shows: no secret values
        kwargs=hidden.value(kwargs),
        priority=priority if isinstance(priority, int) else None,
        eta=_text(source.get("eta")),
        expires=_text(source.get("expires")),
        retries=retries if isinstance(retries, int) else None,
        parent_id=_text(source.get("parent_id")),
        root_id=_text(source.get("root_id")),
        sent_at=published_at(properties, headers),
        content_type=kind,
    )


MS_PER_S = 1000.0


def published_at(properties: dict[str, Any], headers: dict[str, Any]) -> float | None:
    """When the message was published, in Unix seconds, if anything in it says so. Celery's
    own messages do not (protocol 2 carries no send time); a publisher may set the AMQP
    `timestamp` property (whole seconds; RabbitMQ's message_timestamp plugin sets it and the
    `timestamp_in_ms` header), which kombu's Redis transport keeps in the envelope's properties.
    Not a number, or not a plausible time (before 2000 or a day ahead), is "not said"."""
    stamped = _plausible(headers.get("timestamp_in_ms"), MS_PER_S)
    return stamped if stamped is not None else _plausible(properties.get("timestamp"), 1.0)


def _plausible(value: Any, per_second: float) -> float | None:
    """`value` in Unix seconds, if it is a number that could be a publish time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value) / per_second
    return seconds if EPOCH_2000 <= seconds <= time.time() + 86_400 else None


EPOCH_2000 = 946_684_800


def _text(value: Any) -> str | None:
    """A field as text that can be printed and shown: lone surrogates JSON allows become �."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "replace").decode("utf-8")


def decode_envelope(raw: Any, hidden: ArgumentRedactor = HIDDEN) -> Message:
    """A message as kombu's Redis transport stores it: a JSON envelope around the body."""
    try:
        envelope = load_json(raw)
    except TooDeep as exc:
        return not_decoded("", f"the stored message is {exc}")
    except (ValueError, TypeError, UnicodeDecodeError):
        return not_decoded("", "the stored message is not JSON (broken or cut short)")
    return _from_envelope(envelope, hidden)


def decode_envelope_headers(raw: Any, hidden: ArgumentRedactor = HIDDEN) -> Message:
    """What dates a stored message, from its envelope's headers and properties only: the body
    (arguments, possibly large, possibly not JSON) is not decoded, since the Queues screen reads
    every list's oldest message on each refresh (queue_redis.RedisQueues.counts). A protocol 1
    message keeps its id in the body: decoded whole (decode_envelope)."""
    try:
        envelope = load_json(raw)
    except (ValueError, TypeError, UnicodeDecodeError):
        return decode_envelope(raw, hidden)  # says why in its own words
    headers = _as_dict(envelope.get("headers")) if isinstance(envelope, dict) else {}
    if "task" not in headers:
        return _from_envelope(envelope, hidden)
    properties = _as_dict(envelope.get("properties"))
    priority = properties.get("priority")
    return Message(
        id=_text(headers.get("id")),
        task=_text(headers.get("task")),
        priority=priority if isinstance(priority, int) else None,
        eta=_text(headers.get("eta")),
        sent_at=published_at(properties, headers),
        content_type=_text(envelope.get("content-type")) or "",
    )


def _from_envelope(envelope: Any, hidden: ArgumentRedactor) -> Message:
    if not isinstance(envelope, dict):
        return not_decoded("", "the stored message is not a kombu envelope")
    properties = _as_dict(envelope.get("properties"))
    return _decoded(
        _text(envelope.get("content-type")) or "",
        envelope.get("body"),
        _text(properties.get("body_encoding")) or "",
        _as_dict(envelope.get("headers")),
        properties,
        hidden,
    )


def decode_management(item: Any, hidden: ArgumentRedactor = HIDDEN) -> Message:
    """A message as RabbitMQ's management API returns it from a queue's "get"."""
    if not isinstance(item, dict):
        return not_decoded("", "the management API's entry is not a message")
    if deeper_than(item, MAX_DEPTH + 3):  # the entry, its properties, its headers
        return not_decoded("", f"the message's headers are {TooDeep()}")
    properties = _as_dict(item.get("properties"))  # the API sends [] for no properties
    return _decoded(
        _text(properties.get("content_type")) or "",
        item.get("payload"),
        _text(item.get("payload_encoding")) or "",
        _as_dict(properties.get("headers")),
        properties,
        hidden,
    )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decoded(
    kind: str,
    raw: Any,
    encoding: str,
    headers: dict[str, Any],
    properties: dict[str, Any],
    hidden: ArgumentRedactor,
) -> Message:
    """Where either source's message is decoded: JSON bodies only, never anything else."""
    if kind not in JSON_TYPES:
        return not_decoded(kind, kind or "no content type")
    try:
        body = _body(raw, encoding)
    except TooDeep as exc:
        return not_decoded(kind, f"the body is {exc}")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return not_decoded(kind, "the body is not valid JSON (broken or cut short)")
    return _fields(headers, body, properties, kind, hidden)


def decode_unacked(value: Any, hidden: ArgumentRedactor = HIDDEN) -> tuple[str, Message]:
    """An entry of the unacked hash: kombu stores [message, exchange, routing_key], and the
    routing key names the queue ("" when the entry cannot be read)."""
    try:
        entry = load_json(value)
    except TooDeep as exc:
        return "", not_decoded("", f"the unacked entry is {exc}")
    except (ValueError, TypeError, UnicodeDecodeError):
        entry = None
    if not isinstance(entry, list) or len(entry) != 3:
        return "", not_decoded("", "the unacked entry is not kombu's [message, exchange, key]")
    raw, _exchange, routing_key = entry
    if isinstance(raw, dict):
        return _text(routing_key) or "", _from_envelope(raw, hidden)
    message = decode_envelope(_text(raw), hidden)
    return _text(routing_key) or "", message
