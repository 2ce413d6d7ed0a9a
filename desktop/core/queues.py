"""What waits in each queue, in the order the broker will deliver it, without consuming it.

Redis keeps one list per priority step (`queue`, `queue<sep><step>`, all under the global key
prefix); kombu pushes with LPUSH and its BRPOP asks the steps lowest first, so each step's list
read from its tail, steps in ascending order, is the exact delivery order. Messages a worker
took but has not acknowledged sit in the `unacked` hash. RabbitMQ gives counts by a passive
declare; contents only through the management API, whose "get" requeues what it reads, so
RabbitMQ marks those messages redelivered: that is said wherever contents are shown.

Message bodies are decoded from JSON only; anything else is "not decoded" with its content type.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import redis

from desktop.core.effective_config import EffectiveConfig

JSON_TYPES = ("application/json", "text/json")
UNACKED_KEY = "unacked"
HTTP_TIMEOUT_S = 5.0
PEEK_NOTE = (
    "RabbitMQ shows message contents only by taking them and putting them back (management "
    "API, ack_requeue_true): the messages shown are now marked redelivered."
)


class QueueError(RuntimeError):
    """The broker could not be asked; the message says why in a sentence."""


@dataclass(frozen=True)
class Message:
    """A Celery message as the broker holds it, decoded from JSON when it is JSON."""

    id: str | None = None
    task: str | None = None
    args: Any = None
    kwargs: Any = None
    priority: int | None = None
    eta: str | None = None
    retries: int | None = None
    parent_id: str | None = None
    root_id: str | None = None
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
            "retries": self.retries,
            "parent_id": self.parent_id,
            "root_id": self.root_id,
        }
        if not self.decoded:
            found["not_decoded"] = self.note or self.content_type
        return found


@dataclass(frozen=True)
class Waiting:
    """A message at its place in the delivery order (0: delivered next)."""

    position: int
    step: int | None  # the Redis priority step list it sits in
    message: Message
    raw: bytes | None = None  # Redis: the stored value, to remove exactly this message


@dataclass(frozen=True)
class Held:
    """A message a worker took and has not acknowledged yet."""

    queue: str
    delivery_tag: str
    message: Message


@dataclass
class QueueCounts:
    queue: str
    waiting: int | None
    unacked: int | None = None
    consumers: int | None = None
    steps: dict[int, int] = field(default_factory=dict)  # Redis: waiting per priority step
    rate_in: float | None = None  # messages/s, when the broker says
    rate_out: float | None = None
    error: str = ""


# -- the Celery envelope ------------------------------------------------------------------------
def _not_decoded(content_type: str, why: str) -> Message:
    return Message(content_type=content_type, decoded=False, note=f"not decoded: {why}")


def _body(raw: Any, encoding: str) -> Any:
    if encoding == "base64":
        raw = base64.b64decode(raw, validate=True)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


def _fields(headers: dict[str, Any], body: Any, properties: dict[str, Any], kind: str) -> Message:
    priority = properties.get("priority")
    if isinstance(body, list) and len(body) == 3 and "task" in headers:  # protocol 2
        args, kwargs = body[0], body[1]
        source = headers
    elif isinstance(body, dict) and "task" in body:  # protocol 1
        args, kwargs = body.get("args"), body.get("kwargs")
        source = body
    else:
        return _not_decoded(kind, "JSON, but not a Celery task message")
    retries = source.get("retries")
    return Message(
        id=_text(source.get("id")),
        task=_text(source.get("task")),
        args=args,
        kwargs=kwargs,
        priority=priority if isinstance(priority, int) else None,
        eta=_text(source.get("eta")),
        retries=retries if isinstance(retries, int) else None,
        parent_id=_text(source.get("parent_id")),
        root_id=_text(source.get("root_id")),
        content_type=kind,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def decode_envelope(raw: bytes | str) -> Message:
    """A message as kombu's Redis transport stores it: a JSON envelope around the body."""
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _not_decoded("", "the stored message is not JSON (broken or cut short)")
    if not isinstance(envelope, dict):
        return _not_decoded("", "the stored message is not a kombu envelope")
    properties = _as_dict(envelope.get("properties"))
    return _decoded(
        str(envelope.get("content-type") or ""),
        envelope.get("body"),
        str(properties.get("body_encoding") or ""),
        _as_dict(envelope.get("headers")),
        properties,
    )


def decode_management(item: dict[str, Any]) -> Message:
    """A message as RabbitMQ's management API returns it from a queue's "get"."""
    properties = _as_dict(item.get("properties"))  # the API sends [] for no properties
    return _decoded(
        str(properties.get("content_type") or ""),
        item.get("payload"),
        str(item.get("payload_encoding") or ""),
        _as_dict(properties.get("headers")),
        properties,
    )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decoded(
    kind: str, raw: Any, encoding: str, headers: dict[str, Any], properties: dict[str, Any]
) -> Message:
    """Where either source's message is decoded: JSON bodies only, never anything else."""
    if kind not in JSON_TYPES:
        return _not_decoded(kind, kind or "no content type")
    try:
        body = _body(raw, encoding)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return _not_decoded(kind, "the body is not valid JSON (broken or cut short)")
    return _fields(headers, body, properties, kind)


# -- Redis ------------------------------------------------------------------------------------
class RedisQueues:
    """Reads the lists kombu's Redis transport keeps, never popping anything."""

    def __init__(self, url: str, config: EffectiveConfig) -> None:
        """The lists, separator, steps and key prefix are the app's effective ones (what its
        workers read), so what is shown is what they will take."""
        # The panel's bounds (bounds.py): redis-py would retry a timeout 3 times with backoff.
        self.client = redis.Redis.from_url(
            url, socket_timeout=HTTP_TIMEOUT_S, socket_connect_timeout=HTTP_TIMEOUT_S, retry=None
        )
        self.config = config
        self.prefix = config.global_keyprefix
        self.routing = config.routing()  # routing key -> queue
        self._unacked: dict[Any, Any] | None = None  # read by counts(), for unacked()

    def close(self) -> None:
        self.client.close()

    def step_keys(self, queue: str) -> list[tuple[int, str]]:
        """(step, key) in the order a worker's BRPOP asks them: lowest step first."""
        return [(step, self.config.step_key(queue, step)) for step in self.config.stored_steps]

    def counts(self, queues: list[str], with_unacked: bool = True) -> list[QueueCounts]:
        """Every queue's every step, and the unacked hash, in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        keys = {queue: self.step_keys(queue) for queue in queues}
        for queue in queues:
            for _step, key in keys[queue]:
                pipe.llen(key)
        if with_unacked:
            pipe.hgetall(self.prefix + UNACKED_KEY)
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        held: dict[str, int] = {}
        if with_unacked:
            self._unacked = replies.pop()
            for value in self._unacked.values():
                routed = self._queue_of(_routing_key(value))
                held[routed] = held.get(routed, 0) + 1
        found = []
        at = 0
        for queue in queues:
            steps = {step: int(replies[at + i]) for i, (step, _key) in enumerate(keys[queue])}
            at += len(keys[queue])
            found.append(
                QueueCounts(
                    queue,
                    sum(steps.values()),
                    held.get(queue, 0) if with_unacked else None,
                    steps={s: n for s, n in steps.items() if n},
                )
            )
        return found

    def waiting(self, queue: str, offset: int = 0, limit: int = 50) -> list[Waiting]:
        """One page of the delivery order, read atomically in one round trip (a Lua script
        on the server), so a step emptied or filled meanwhile cannot skip or repeat one;
        only the list ranges the page covers are read."""
        keys = self.step_keys(queue)
        try:
            pages = self.client.eval(
                PAGE_SCRIPT, len(keys), *[key for _step, key in keys], offset, limit
            )
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        found = []
        for step_index, first, items in pages:
            step = keys[int(step_index) - 1][0]
            for index, raw in enumerate(reversed(items)):
                found.append(Waiting(int(first) + index, step, decode_envelope(raw), bytes(raw)))
        return found

    def remove(self, queue: str, entry: Waiting) -> int:
        """Delete exactly this stored message (LREM of its value): 1, or 0 if it has gone."""
        key = dict(self.step_keys(queue)).get(entry.step if entry.step is not None else 0)
        if key is None or entry.raw is None:
            return 0
        try:
            return int(self.client.lrem(key, 1, entry.raw))  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc

    def _queue_of(self, routing_key: str) -> str:
        return self.routing.get(routing_key, routing_key)

    def unacked(self, queue: str | None = None) -> list[Held]:
        """Messages taken and not yet acknowledged (by any worker), optionally of one queue."""
        entries: dict[Any, Any] | None
        entries, self._unacked = self._unacked, None  # what counts() just read, if it did
        if entries is None:
            try:
                entries = dict(self.client.hgetall(self.prefix + UNACKED_KEY))
            except redis.RedisError as exc:
                raise QueueError(f"Redis did not answer: {exc}") from exc
        found = []
        for tag, value in entries.items():
            routing_key, message = _unacked_entry(value)
            routed = self._queue_of(routing_key)
            if queue is None or routed == queue:
                name = tag.decode(errors="replace") if isinstance(tag, bytes) else str(tag)
                found.append(Held(routed, name, message))
        return found

    def purge(self, queue: str) -> int:
        """Delete every waiting message of the queue (all its steps); the count deleted."""
        keys = [key for _step, key in self.step_keys(queue)]
        try:
            pipe = self.client.pipeline(transaction=True)
            for key in keys:
                pipe.llen(key)
            pipe.delete(*keys)
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        return sum(int(n) for n in replies[:-1])


def _unacked_entry(value: bytes | str) -> tuple[str, Message]:
    """kombu stores [message, exchange, routing_key]; the routing key names the queue."""
    try:
        raw, _exchange, routing_key = json.loads(value)
    except (ValueError, TypeError, UnicodeDecodeError):
        return "", _not_decoded("", "the unacked entry is not kombu's [message, exchange, key]")
    text = json.dumps(raw) if isinstance(raw, dict) else str(raw)
    return str(routing_key), decode_envelope(text)


def _routing_key(value: bytes | str) -> str:
    try:
        entry = json.loads(value)
        return str(entry[2]) if isinstance(entry, list) and len(entry) == 3 else ""
    except (ValueError, TypeError, UnicodeDecodeError):
        return ""


# What waiting() runs on the server: LLEN and LRANGE of the steps in delivery order, atomically.
PAGE_SCRIPT = """
local offset = tonumber(ARGV[1])
local stop = offset + tonumber(ARGV[2])
local start = 0
local out = {}
for i, key in ipairs(KEYS) do
  if start >= stop then break end
  local length = redis.call('LLEN', key)
  local first = math.max(offset, start)
  local last = math.min(stop, start + length)
  if first < last then
    local items = redis.call('LRANGE', key, -(last - start), -(first - start) - 1)
    table.insert(out, {i, first, items})
  end
  start = start + length
end
return out
"""


# -- RabbitMQ ---------------------------------------------------------------------------------
class RabbitQueues:
    """Counts by passive declare; contents and rates through the management API when known."""

    def __init__(self, broker_url: str, management_url: str = "") -> None:
        self.broker_url = broker_url
        self.management_url = management_url.rstrip("/")
        parts = urllib.parse.urlsplit(broker_url)
        self.vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._user = urllib.parse.unquote(parts.username or "guest")
        self._password = urllib.parse.unquote(parts.password or "guest")

    def close(self) -> None:
        """Nothing stays open between calls."""

    def counts(self, queues: list[str], with_unacked: bool = True) -> list[QueueCounts]:
        """Waiting and consumers exact, by passive declare; unacked and rates from the
        management API, whose statistics lag by up to its collection interval (5 s)."""
        found = self._counts_by_declare(queues)
        if self.management_url and with_unacked:
            try:
                managed = {c.queue: c for c in self._counts_from_management(queues)}
            except QueueError as exc:
                for counts in found:
                    counts.error = counts.error or f"unacked not known: {exc}"
                return found
            for counts in found:
                other = managed.get(counts.queue)
                if other is not None and counts.waiting is not None:
                    counts.unacked = other.unacked
                    counts.rate_in, counts.rate_out = other.rate_in, other.rate_out
        return found

    def _counts_by_declare(self, queues: list[str]) -> list[QueueCounts]:
        from kombu.connection import Connection

        found = []
        try:
            with Connection(self.broker_url, connect_timeout=HTTP_TIMEOUT_S) as connection:
                channel = connection.channel()
                for queue in queues:
                    try:
                        _name, waiting, consumers = channel.queue_declare(queue, passive=True)
                        found.append(QueueCounts(queue, int(waiting), None, int(consumers)))
                    except _connection_errors() as exc:
                        found.append(QueueCounts(queue, None, error=_declare_error(exc)))
                        channel = connection.channel()  # a failed passive declare closes it
        except (OSError, *_connection_errors()) as exc:  # type: ignore[misc]
            raise QueueError(f"RabbitMQ did not answer: {exc}") from exc
        return found

    def _api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        parts = urllib.parse.urlsplit(self.management_url)
        user = urllib.parse.unquote(parts.username or self._user)
        password = urllib.parse.unquote(parts.password or self._password)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        request = urllib.request.Request(
            base + path,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise QueueError(f"the management API answered {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise QueueError(f"the management API did not answer: {exc}") from exc

    def check_management(self) -> None:
        """QueueError, saying why, when the management API does not answer."""
        self._api("/api/overview")

    def _queue_path(self, queue: str = "") -> str:
        vhost = urllib.parse.quote(self.vhost, safe="")
        return f"/api/queues/{vhost}" + (f"/{urllib.parse.quote(queue, safe='')}" if queue else "")

    def _counts_from_management(self, queues: list[str]) -> list[QueueCounts]:
        listed = self._api(self._queue_path() + "?columns=name,messages_ready,"
                           "messages_unacknowledged,consumers,message_stats")  # fmt: skip
        by_name = {item.get("name"): item for item in listed if isinstance(item, dict)}
        found = []
        for queue in queues:
            item = by_name.get(queue)
            if item is None:
                found.append(QueueCounts(queue, None, error="no such queue on the broker"))
                continue
            stats = item.get("message_stats") or {}
            found.append(
                QueueCounts(
                    queue,
                    int(item.get("messages_ready") or 0),
                    int(item.get("messages_unacknowledged") or 0),
                    int(item.get("consumers") or 0),
                    rate_in=_rate(stats, "publish_details"),
                    rate_out=_rate(stats, "deliver_get_details"),
                )
            )
        return found

    def waiting(self, queue: str, offset: int = 0, limit: int = 50) -> list[Waiting]:
        """Through the management API only (they come back marked redelivered: PEEK_NOTE);
        without it, QueueError says contents need the management URL."""
        if not self.management_url:
            raise QueueError(
                "RabbitMQ shows message contents only through its management API: "
                "set the profile's management URL"
            )
        got = self._api(
            self._queue_path(queue) + "/get",
            {"count": offset + limit, "ackmode": "ack_requeue_true", "encoding": "auto",
             "truncate": 100_000},
        )  # fmt: skip
        found = []
        for index, item in enumerate(got[offset:], start=offset):
            found.append(Waiting(index, None, decode_management(item)))
        return found

    def unacked(self, queue: str | None = None) -> list[Held]:
        """RabbitMQ does not show which messages a consumer holds; workers' `inspect` does."""
        return []

    def purge(self, queue: str) -> int:
        from kombu.connection import Connection

        try:
            with Connection(self.broker_url, connect_timeout=HTTP_TIMEOUT_S) as connection:
                return int(connection.channel().queue_purge(queue) or 0)
        except (OSError, *_connection_errors()) as exc:  # type: ignore[misc]
            raise QueueError(f"RabbitMQ did not purge {queue}: {exc}") from exc


def _rate(stats: dict[str, Any], key: str) -> float | None:
    details = stats.get(key)
    return float(details.get("rate", 0.0)) if isinstance(details, dict) else None


def _declare_error(exc: BaseException) -> str:
    return (
        "no such queue on the broker" if "404" in str(exc) or "NOT_FOUND" in str(exc) else str(exc)
    )


def _connection_errors() -> tuple[type[Exception], ...]:
    from amqp.exceptions import AMQPError
    from kombu.exceptions import OperationalError

    return (AMQPError, OperationalError)


@dataclass(frozen=True)
class Management:
    """Which RabbitMQ management API the panel uses, and a sentence saying how it was found."""

    url: str  # the profile's (even when it failed), the conventional one, or "" for none
    note: str
    answered: bool = False


MANAGEMENT_PORT = {"amqp": 15672, "pyamqp": 15672, "amqps": 15671}


def conventional_management_url(broker_url: str) -> str:
    """The management API where RabbitMQ puts it by default: the broker's host, port 15672
    (15671 over TLS). Its credentials and vhost are the broker's own (RabbitQueues)."""
    parts = urllib.parse.urlsplit(broker_url)
    scheme = parts.scheme.lower()
    web = "https" if scheme == "amqps" else "http"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{web}://{host}:{MANAGEMENT_PORT.get(scheme, 15672)}"


def find_management(broker_url: str, chosen: str = "") -> Management:
    """The profile's management URL when it has one; else the conventional one if it answers
    with the broker's credentials. The note says which, or why none, and how to set one."""
    if chosen:
        try:
            RabbitQueues(broker_url, chosen).check_management()
        except QueueError as exc:
            return Management(chosen, f"the profile's management API at {chosen} failed: {exc}")
        return Management(chosen, f"management API: {chosen} (the profile's)", True)
    guess = conventional_management_url(broker_url)
    try:
        RabbitQueues(broker_url, guess).check_management()
    except QueueError as exc:
        return Management(
            "",
            f"no management API: none set, and {guess} (RabbitMQ's default, with the broker's "
            f"credentials) did not answer ({exc}). Set one with `celery-desk profile add … "
            "--management-url URL` or in the profile; message contents and unacked counts "
            "need it.",
        )
    return Management(guess, f"management API: {guess} (found at RabbitMQ's default port)", True)


Inspector = RedisQueues | RabbitQueues


def inspector(broker_url: str, config: EffectiveConfig, management_url: str = "") -> Inspector:
    if broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return RabbitQueues(broker_url, management_url)
    return RedisQueues(broker_url, config)


@dataclass
class Snapshot:
    """One refresh of the Queues screen: every queue's counts, the selected queue's page."""

    counts: list[QueueCounts]
    queue: str | None = None  # the queue the page and the held list were read for
    waiting: list[Waiting] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    waiting_error: str = ""

    def priorities_seen(self) -> dict[str, int]:
        """Task id -> priority of every message read (waiting or taken and unacknowledged):
        the priority of tasks the panel did not send, which no event carries."""
        found: dict[str, int] = {}
        for message in [w.message for w in self.waiting] + [h.message for h in self.held]:
            if message.id and isinstance(message.priority, int):
                found[message.id] = message.priority
        return found


def snapshot(
    source: Inspector, names: list[str], selected: str | None, limit: int, peek: bool
) -> Snapshot:
    """`peek`: read RabbitMQ contents (which marks them redelivered); Redis is always read,
    since looking at its lists takes nothing."""
    taken = Snapshot(source.counts(names), selected)
    if selected is None:
        return taken
    if isinstance(source, RedisQueues) or peek:
        try:
            taken.waiting = source.waiting(selected, 0, limit)
        except QueueError as exc:
            taken.waiting_error = str(exc)
    else:
        taken.waiting_error = (
            "RabbitMQ shows contents only by taking messages and putting them back, which marks "
            "them redelivered: tick 'Show contents' to do that."
        )
    taken.held = source.unacked(selected)
    return taken


def report(
    source: Inspector,
    queues: list[str],
    limit: int,
    consumers: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """What `celery-desk queues --json` prints: counts, and the next `limit` messages in
    delivery order. `consumers` (from workers' `inspect active_queues`) fills what Redis
    cannot say; RabbitMQ counts its own consumers."""
    found = []
    for counts in source.counts(queues):
        entry: dict[str, Any] = {
            "queue": counts.queue,
            "waiting": counts.waiting,
            "unacked": counts.unacked,
            "consumers": counts.consumers
            if counts.consumers is not None
            else (consumers or {}).get(counts.queue, 0 if consumers is not None else None),
        }
        if counts.steps:
            entry["steps"] = {str(step): n for step, n in sorted(counts.steps.items())}
        if counts.error:
            entry["error"] = counts.error
        next_messages: list[dict[str, Any]] = []
        if limit > 0 and counts.waiting:
            try:
                page = source.waiting(counts.queue, 0, limit)
                next_messages = [item.message.to_json() for item in page]
            except QueueError as exc:
                entry["next_error"] = str(exc)
        entry["next"] = next_messages
        found.append(entry)
    return found
