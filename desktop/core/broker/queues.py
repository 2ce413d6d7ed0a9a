"""What waits in each queue, in the order the broker will deliver it, without consuming it.

Redis keeps one list per priority step (`queue`, `queue<sep><step>`, all under the global key
prefix); kombu pushes with LPUSH and its BRPOP asks the steps lowest first, so each step's list
read from its tail, steps in ascending order, is the exact delivery order. Messages a worker
took but has not acknowledged sit in the `unacked` hash. RabbitMQ gives counts by a passive
declare; contents only through the management API, whose "get" requeues what it reads, so
RabbitMQ marks those messages redelivered: that is said wherever contents are shown.

Message bodies are decoded from JSON only; anything else is "not decoded" with its content type.
Whatever the broker holds is outside input: one message or key that cannot be read (nested too
deep, not JSON, a key of the wrong type) shows as "not decoded" or as that queue's error, and
everything else still lists.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import redis

from desktop.core.app import priorities
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import queue_of_routing_key
from desktop.core.broker.queue_messages import (
    Message as Message,  # re-exported: the screens name it queues.Message
)
from desktop.core.broker.queue_messages import (
    decode_envelope,
    decode_management,
    decode_unacked,
    not_decoded,
)

UNACKED_KEY = "unacked"
HTTP_TIMEOUT_S = 5.0
PEEK_NOTE = (
    "RabbitMQ shows message contents only by taking them and putting them back (management "
    "API, ack_requeue_true): the messages shown are now marked redelivered."
)


class QueueError(RuntimeError):
    """The broker could not be asked; the message says why in a sentence."""


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
        self._unacked: dict[Any, tuple[str, Message]] | None = None  # counts(), for unacked()

    def close(self) -> None:
        self.client.close()

    def step_keys(self, queue: str) -> list[tuple[int, str]]:
        """(step, key) in the order a worker's BRPOP asks them: lowest step first."""
        config = self.config
        return [(s, priorities.step_key(config, queue, s)) for s in priorities.stored_steps(config)]

    def counts(self, queues: list[str], with_unacked: bool = True) -> list[QueueCounts]:
        """Every queue's every step, and the unacked hash, in one pipelined round trip. A key
        of another type than kombu's (a list per step, a hash for unacked) is that queue's
        error, or the unacked count's, and the rest is still counted."""
        pipe = self.client.pipeline(transaction=False)
        keys = {queue: self.step_keys(queue) for queue in queues}
        for queue in queues:
            for _step, key in keys[queue]:
                pipe.llen(key)
        if with_unacked:
            pipe.hgetall(self.prefix + UNACKED_KEY)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        held: dict[str, int] = {}
        unacked_error = ""
        if with_unacked:
            stored = replies.pop()
            if isinstance(stored, redis.ResponseError):
                unacked_error = f"unacked not known: {self._not_read(UNACKED_KEY, 'hash')}"
                self._unacked = None
            else:
                self._unacked = {tag: decode_unacked(value) for tag, value in stored.items()}
                for routing_key, _message in self._unacked.values():
                    routed = self._queue_of(routing_key)
                    held[routed] = held.get(routed, 0) + 1
        found = []
        at = 0
        for queue in queues:
            steps: dict[int, int] = {}
            errors = []
            for i, (step, key) in enumerate(keys[queue]):
                reply = replies[at + i]
                if isinstance(reply, redis.ResponseError):
                    errors.append(self._not_read(key.removeprefix(self.prefix), "list"))
                else:
                    steps[step] = int(reply)
            at += len(keys[queue])
            found.append(
                QueueCounts(
                    queue,
                    sum(steps.values()),
                    held.get(queue, 0) if with_unacked and not unacked_error else None,
                    steps={s: n for s, n in steps.items() if n},
                    error="; ".join(errors) or unacked_error,
                )
            )
        return found

    def _not_read(self, name: str, expected: str) -> str:
        """Why a key was skipped: it holds another type than kombu's."""
        try:
            kind = self.client.type(self.prefix + name)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        except redis.RedisError:
            kind = "another type"
        return f"'{name}' is a {kind}, not a {expected}: not read"

    def waiting(self, queue: str, offset: int = 0, limit: int = 50) -> list[Waiting]:
        """One page of the delivery order, read atomically in one round trip (a Lua script
        on the server), so a step emptied or filled meanwhile cannot skip or repeat one;
        only the list ranges the page covers are read. A step key that is not a list shows
        as one "not decoded" entry where it would be, and the other steps still list."""
        keys = self.step_keys(queue)
        try:
            pages = self.client.eval(
                PAGE_SCRIPT, len(keys), *[key for _step, key in keys], offset, limit
            )
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        found = []
        for step_index, first, items in pages:
            step, key = keys[int(step_index) - 1]
            if int(first) < 0:  # not a list: [its type, its place]
                kind, place = (v.decode() if isinstance(v, bytes) else str(v) for v in items)
                why = f"'{key.removeprefix(self.prefix)}' is a {kind}, not a list: not read"
                found.append(Waiting(int(place), step, not_decoded("", why)))
                continue
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
        return queue_of_routing_key(routing_key, self.routing) or routing_key

    def unacked(self, queue: str | None = None) -> list[Held]:
        """Messages taken and not yet acknowledged (by any worker), optionally of one queue.
        An unacked key that is not a hash is one "not decoded" entry, shown for every queue."""
        entries: dict[Any, tuple[str, Message]] | None
        entries, self._unacked = self._unacked, None  # what counts() just read, if it did
        if entries is None:
            try:
                stored = dict(self.client.hgetall(self.prefix + UNACKED_KEY))
            except redis.ResponseError:
                why = self._not_read(UNACKED_KEY, "hash")
                return [Held(queue or "", "", not_decoded("", why))]
            except redis.RedisError as exc:
                raise QueueError(f"Redis did not answer: {exc}") from exc
            entries = {tag: decode_unacked(value) for tag, value in stored.items()}
        found = []
        for tag, (routing_key, message) in entries.items():
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


# What waiting() runs on the server: LLEN and LRANGE of the steps in delivery order, atomically.
PAGE_SCRIPT = """
local offset = tonumber(ARGV[1])
local stop = offset + tonumber(ARGV[2])
local start = 0
local out = {}
for i, key in ipairs(KEYS) do
  if start >= stop then break end
  local kind = redis.call('TYPE', key)['ok']
  local length = 0
  if kind == 'list' then
    length = redis.call('LLEN', key)
  elseif kind ~= 'none' and start >= offset then
    table.insert(out, {i, -1, {kind, start}})
  end
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
        opener = urllib.request.build_opener(SameServerRedirects)
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT_S) as reply:
                return json.loads(reply.read())
        except RecursionError:
            raise QueueError(
                "the management API's answer is nested deeper than Python reads (a message's "
                "headers?): not shown"
            ) from None
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
        if not isinstance(got, list):
            raise QueueError("the management API's answer is not a list of messages")
        return [
            Waiting(index, None, decode_management(item))
            for index, item in enumerate(got[offset:], start=offset)
        ]

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


class SameServerRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a management API redirect only to the same scheme, host and port: the request
    carries the broker's credentials, which must never go to another server (urllib's own
    handler resends every header to wherever it is sent)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        here, there = _server(req.full_url), _server(newurl)
        if here != there:
            scheme, host, port = there
            raise QueueError(
                f"the management API redirected to another server ({scheme}://{host}:{port}); "
                "not followed, since the request carries the broker's credentials"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _server(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or ""), port or default


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
