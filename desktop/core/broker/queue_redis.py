"""What waits in a Redis queue, in the order kombu's Redis transport will deliver it.

Redis keeps one list per priority step (`queue`, `queue<sep><step>`, all under the global key
prefix); kombu pushes with LPUSH and its BRPOP asks the steps lowest first, so each step's list
read from its tail, steps in ascending order, is the exact delivery order. Messages a worker
took but has not acknowledged sit in the `unacked` hash. Nothing here pops anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from desktop.core.app import priorities
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.base.task_record import queue_of_routing_key
from desktop.core.broker.queue_latency import head_of
from desktop.core.broker.queue_messages import (
    HIDDEN,
    Message,
    decode_envelope,
    decode_envelope_headers,
    decode_unacked,
    not_decoded,
)
from desktop.core.broker.queue_types import (
    HTTP_TIMEOUT_S,
    Head,
    Held,
    QueueCounts,
    QueueError,
    Waiting,
)

UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"  # delivery tag -> when a worker took it (kombu's zset)


class RedisQueues:
    """Reads the lists kombu's Redis transport keeps, never popping anything."""

    def __init__(
        self, url: str, config: EffectiveConfig, hidden: ArgumentRedactor = HIDDEN
    ) -> None:
        """The lists, separator, steps and key prefix are the app's effective ones (what its
        workers read), so what is shown is what they will take; arguments are shown with the
        values under `hidden`'s names (the profile's) as ****."""
        # The panel's bounds (bounds.py): redis-py would retry a timeout 3 times with backoff.
        self.client = redis.Redis.from_url(
            url, socket_timeout=HTTP_TIMEOUT_S, socket_connect_timeout=HTTP_TIMEOUT_S, retry=None
        )
        self.config = config
        self.hidden = hidden
        self.prefix = config.global_keyprefix
        self.routing = config.routing()  # routing key -> queue
        self._unacked: dict[Any, tuple[str, Message]] | None = None  # counts(), for unacked()

    def close(self) -> None:
        self.client.close()

    def step_keys(self, queue: str) -> list[tuple[int, str]]:
        """(step, key) in the order a worker's BRPOP asks them: lowest step first."""
        config = self.config
        return [(s, priorities.step_key(config, queue, s)) for s in priorities.stored_steps(config)]

    def counts(
        self,
        queues: list[str],
        with_unacked: bool = True,
        with_heads: bool = True,
        known: Mapping[tuple[str, int | None], Head] | None = None,
    ) -> list[QueueCounts]:
        """Every queue's every step, and the unacked hash, in one pipelined round trip. A key
        of another type than kombu's (a list per step, a hash for unacked) is that queue's
        error, or the unacked count's, and the rest is still counted. `with_heads`: also each
        step's tail, the message of that step waiting longest (its latency), in the same
        trip; an empty step reads nothing, and one whose tail is still the head in `known`
        ((queue, step) -> the last refresh's head) is not sent again: in steady state a
        refresh transfers no message for the ages."""
        keys = {queue: self.step_keys(queue) for queue in queues}
        every_key = [key for queue in queues for _step, key in keys[queue]]
        still = [
            _still_there((known or {}).get((queue, step))) for queue in queues
            for step, _key in keys[queue]
        ]  # fmt: skip
        pipe = self.client.pipeline(transaction=False)
        pipe.eval(COUNT_SCRIPT, len(every_key), *every_key, 1 if with_heads else 0, *still)
        if with_unacked:
            pipe.hgetall(self.prefix + UNACKED_KEY)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        if isinstance(replies[0], redis.RedisError):
            raise QueueError(f"Redis did not answer: {replies[0]}")
        held: dict[str, int] = {}
        unacked_error = ""
        if with_unacked:
            stored = replies[1]
            if isinstance(stored, redis.ResponseError):
                unacked_error = f"unacked not known: {self._not_read(UNACKED_KEY, 'hash')}"
                self._unacked = None
            else:
                self._unacked = {
                    tag: decode_unacked(value, self.hidden) for tag, value in stored.items()
                }
                for routing_key, _message in self._unacked.values():
                    routed = self._queue_of(routing_key)
                    held[routed] = held.get(routed, 0) + 1
        lengths_and_tails = replies[0]
        found = []
        at = 0
        for queue in queues:
            steps: dict[int, int] = {}
            errors = []
            heads = []
            for step, key in keys[queue]:
                length, tail = lengths_and_tails[at], lengths_and_tails[at + 1]
                at += 2
                if int(length) < 0:  # not a list
                    errors.append(self._not_read(key.removeprefix(self.prefix), "list"))
                    continue
                steps[step] = int(length)
                if tail == SAME_HEAD and known and (queue, step) in known:
                    heads.append(known[(queue, step)])
                elif tail:
                    place = sum(steps.values()) - 1  # its place in the delivery order
                    message = decode_envelope_headers(tail, self.hidden)
                    heads.append(head_of(Waiting(place, step, message, bytes(tail))))
            found.append(
                QueueCounts(
                    queue,
                    sum(steps.values()),
                    held.get(queue, 0) if with_unacked and not unacked_error else None,
                    steps={s: n for s, n in steps.items() if n},
                    error="; ".join(errors) or unacked_error,
                    heads=heads,
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
                message = decode_envelope(raw, self.hidden)
                found.append(Waiting(int(first) + index, step, message, bytes(raw)))
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
            entries = {tag: decode_unacked(value, self.hidden) for tag, value in stored.items()}
        found = []
        for tag, (routing_key, message) in entries.items():
            routed = self._queue_of(routing_key)
            if queue is None or routed == queue:
                name = tag.decode(errors="replace") if isinstance(tag, bytes) else str(tag)
                found.append(Held(routed, name, message))
        return found

    def taken_at(self, delivery_tag: str) -> float | None:
        """When a worker took this unacknowledged message (epoch seconds, kombu's own stamp):
        Redis gives it back visibility_timeout after that, at the next restore sweep."""
        try:
            score = self.client.zscore(self.prefix + UNACKED_INDEX_KEY, delivery_tag)
        except redis.ResponseError:
            return None  # not kombu's zset: not known
        except redis.RedisError as exc:
            raise QueueError(f"Redis did not answer: {exc}") from exc
        return float(score) if isinstance(score, int | float) else None

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


SAME_HEAD = b"="  # the script's answer for a tail that is still the head the caller knows


def _still_there(head: Head | None) -> str:
    """What the script looks for in a step's tail to tell it is still `head`: its id as
    kombu's envelope writes it (json.dumps: `"id": "…"`, which "root_id" and "parent_id" do not
    contain, quote first). "" (always send the tail) when the head has no task id."""
    if head is None or not head.task_id:
        return ""
    return '"id": ' + json.dumps(head.task_id)


# What counts() runs on the server: each step list's length and, when asked (ARGV[1] = 1), its
# tail (the message of that step waiting longest), only for lists that hold one; "=" instead
# of a tail that contains ARGV[i + 1] (the id of the head the caller already has: it is still
# there). A key of another type answers -1. Flat pairs, "" for no tail: Lua arrays cannot hold
# nil.
COUNT_SCRIPT = """
local heads = ARGV[1] == '1'
local out = {}
local n = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local length = redis.pcall('LLEN', key)
  if type(length) == 'table' then
    out[n + 1] = -1
    out[n + 2] = ''
  else
    out[n + 1] = length
    out[n + 2] = ''
    if heads and length > 0 then
      local tail = redis.call('LINDEX', key, -1)
      local still = ARGV[i + 1]
      if still and still ~= '' and string.find(tail, still, 1, true) then
        out[n + 2] = '='
      else
        out[n + 2] = tail
      end
    end
  end
  n = n + 2
end
return out
"""
