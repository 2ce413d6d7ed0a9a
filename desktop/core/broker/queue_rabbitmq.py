"""What waits in a RabbitMQ queue: counts by a passive declare (AMQP), contents, unacked counts
and rates through the management API.

The management API's "get" requeues what it reads, so RabbitMQ marks those messages
redelivered: that is said wherever contents are shown (PEEK_NOTE). Its requests carry the
broker's credentials, so a redirect is followed only to the same server.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.broker.queue_messages import HIDDEN, decode_management, published_at
from desktop.core.broker.queue_types import (
    HTTP_TIMEOUT_S,
    Head,
    Held,
    QueueCounts,
    QueueError,
    Waiting,
)

PEEK_NOTE = (
    "RabbitMQ shows message contents only by taking them and putting them back (management "
    "API, ack_requeue_true): the messages shown are now marked redelivered."
)


class RabbitQueues:
    """Counts by passive declare; contents and rates through the management API when known."""

    def __init__(
        self, broker_url: str, management_url: str = "", hidden: ArgumentRedactor = HIDDEN
    ) -> None:
        """`hidden`: the names whose argument values messages show as **** (the profile's)."""
        self.hidden = hidden
        self.broker_url = broker_url
        self.management_url = management_url.rstrip("/")
        parts = urllib.parse.urlsplit(broker_url)
        self.vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._user = urllib.parse.unquote(parts.username or "guest")
        self._password = urllib.parse.unquote(parts.password or "guest")

    def close(self) -> None:
        """Nothing stays open between calls."""

    def counts(
        self,
        queues: list[str],
        with_unacked: bool = True,
        known: Mapping[tuple[str, int | None], Head] | None = None,
    ) -> list[QueueCounts]:
        """Waiting and consumers exact, by passive declare; unacked, rates and the head's
        timestamp from the management API, whose statistics lag by up to its collection
        interval (5 s). `known` is Redis' (no message is read here)."""
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
                    counts.heads = other.heads if counts.waiting else []
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
        self.overview()

    def overview(self) -> Any:
        """The management API's `/api/overview` as it answered (server_info reads it)."""
        return self._api("/api/overview")

    def _queue_path(self, queue: str = "") -> str:
        vhost = urllib.parse.quote(self.vhost, safe="")
        return f"/api/queues/{vhost}" + (f"/{urllib.parse.quote(queue, safe='')}" if queue else "")

    def _counts_from_management(self, queues: list[str]) -> list[QueueCounts]:
        listed = self._api(self._queue_path() + "?columns=name,messages_ready,"
                           "messages_unacknowledged,consumers,message_stats,"
                           "head_message_timestamp")  # fmt: skip
        by_name = {item.get("name"): item for item in listed if isinstance(item, dict)}
        found = []
        for queue in queues:
            item = by_name.get(queue)
            if item is None:
                found.append(QueueCounts(queue, None, error="no such queue on the broker"))
                continue
            stats = item.get("message_stats") or {}
            # The head's AMQP timestamp, when its publisher set one: read without taking it.
            stamped = published_at({"timestamp": item.get("head_message_timestamp")}, {})
            found.append(
                QueueCounts(
                    queue,
                    int(item.get("messages_ready") or 0),
                    int(item.get("messages_unacknowledged") or 0),
                    int(item.get("consumers") or 0),
                    rate_in=_rate(stats, "publish_details"),
                    rate_out=_rate(stats, "deliver_get_details"),
                    heads=[Head(None, sent_at=stamped)] if stamped is not None else [],
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
            Waiting(index, None, decode_management(item, self.hidden))
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
