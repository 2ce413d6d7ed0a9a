"""'Test connection': one bounded attempt that says *why* a broker cannot be reached.

A person fixing a profile needs to know whether to fix the host name, the port, the
password, TLS or the vhost, so each failure kind gets its own outcome and sentence.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from desktop.core.base.bounds import NoAnswer, within
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints

DEFAULT_TIMEOUT_S = 5.0


class Outcome(StrEnum):
    OK = "ok"
    NAME_NOT_RESOLVED = "name-not-resolved"
    REFUSED = "refused"
    AUTH_FAILED = "auth-failed"
    TLS_FAILED = "tls-failed"
    VHOST_MISSING = "vhost-missing"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    ERROR = "error"


@dataclass(frozen=True)
class ConnectionReport:
    outcome: Outcome
    message: str
    server: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or _default_port(parts.scheme)}"


def _default_port(scheme: str) -> int:
    return {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671}.get(scheme, 0)


def _timeout(url: str, timeout: float) -> ConnectionReport:
    if urls.scheme_of(url) in ("rediss", "amqps"):
        return ConnectionReport(
            Outcome.TLS_FAILED,
            f"TLS handshake with {_where(url)} did not complete within {timeout:.0f} s "
            "(does that port speak TLS?)",
        )
    return ConnectionReport(Outcome.TIMEOUT, f"{_where(url)} did not answer within {timeout:.0f} s")


def _classify_os_error(
    exc: BaseException, url: str, timeout: float = DEFAULT_TIMEOUT_S
) -> ConnectionReport | None:
    """Network-level failures look alike on both brokers; find the root cause in the chain."""
    seen: BaseException | None = exc
    host = urlsplit(url).hostname or "?"
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return ConnectionReport(
                Outcome.NAME_NOT_RESOLVED, f"host name '{host}' could not be resolved ({seen})"
            )
        if isinstance(seen, ConnectionRefusedError):
            return ConnectionReport(
                Outcome.REFUSED,
                f"connection refused at {_where(url)}: nothing listens on that port "
                "(is the broker running?)",
            )
        if isinstance(seen, ssl.SSLError):
            reason = getattr(seen, "reason", None) or str(seen)
            return ConnectionReport(
                Outcome.TLS_FAILED, f"TLS handshake with {_where(url)} failed: {reason}"
            )
        if isinstance(seen, socket.timeout | TimeoutError):
            return _timeout(url, timeout)
        seen = seen.__cause__ or seen.__context__
    return None


def _check_redis(url: str, timeout: float) -> ConnectionReport:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
    )
    try:
        client.ping()
        version = str(client.info("server").get("redis_version", "?"))
        return ConnectionReport(
            Outcome.OK, f"connected to Redis {version} at {_where(url)}", f"Redis {version}"
        )
    except redis.AuthenticationError as exc:
        text = str(exc)
        if "HELLO must be called" in text or "Authentication required" in text:
            text = "the server requires a password and the URL gives none"
        elif "invalid username-password" in text or "WRONGPASS" in text:
            text = "wrong password (or user)"
        return ConnectionReport(
            Outcome.AUTH_FAILED, f"authentication failed at {_where(url)}: {text}"
        )
    except redis.ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text or "AUTH" in text.upper():
            return ConnectionReport(
                Outcome.AUTH_FAILED, f"authentication failed at {_where(url)}: {text}"
            )
        if "DB index" in text:
            return ConnectionReport(Outcome.ERROR, f"Redis at {_where(url)} refused the db: {text}")
        return ConnectionReport(Outcome.ERROR, f"Redis at {_where(url)} answered: {text}")
    except redis.RedisError as exc:
        classified = _classify_os_error(exc, url, timeout)
        if classified:
            return classified
        text = str(exc)
        if "Connection refused" in text:
            return _classify_os_error(ConnectionRefusedError(text), url) or ConnectionReport(
                Outcome.REFUSED, text
            )
        if "Name or service not known" in text or "nodename nor servname" in text:
            return _classify_os_error(socket.gaierror(text), url) or ConnectionReport(
                Outcome.NAME_NOT_RESOLVED, text
            )
        if "SSL" in text or "certificate" in text.lower():
            return ConnectionReport(Outcome.TLS_FAILED, f"TLS with {_where(url)} failed: {text}")
        if "Timeout" in text or "timed out" in text:
            return _timeout(url, timeout)
        return ConnectionReport(Outcome.ERROR, f"cannot connect to {_where(url)}: {text}")
    finally:
        client.close()


def _check_amqp(url: str, timeout: float) -> ConnectionReport:
    import amqp.exceptions
    from kombu.connection import Connection

    vhost = unquote(urlsplit(url).path[1:]) or "/"
    connection = Connection(url, connect_timeout=timeout)
    try:
        connection.ensure_connection(max_retries=0, timeout=timeout)
        properties = connection.connection.server_properties
        product = properties.get("product", "AMQP server")
        version = properties.get("version", "?")
        return ConnectionReport(
            Outcome.OK,
            f"connected to {product} {version} at {_where(url)}, vhost '{vhost}'",
            f"{product} {version}",
        )
    except amqp.exceptions.AccessRefused as exc:
        return ConnectionReport(
            Outcome.AUTH_FAILED,
            f"authentication failed at {_where(url)}: user or password refused ({exc.reply_text})",
        )
    except amqp.exceptions.NotAllowed as exc:
        text = str(getattr(exc, "reply_text", exc))
        if "vhost" in text:
            return ConnectionReport(
                Outcome.VHOST_MISSING, f"vhost '{vhost}' does not exist at {_where(url)} ({text})"
            )
        return ConnectionReport(Outcome.AUTH_FAILED, f"not allowed at {_where(url)}: {text}")
    except Exception as exc:
        classified = _classify_os_error(exc, url, timeout)
        if classified:
            return classified
        return ConnectionReport(
            Outcome.ERROR, f"cannot connect to {_where(url)}: {type(exc).__name__}: {exc}"
        )
    finally:
        connection.release()


def check_broker(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> ConnectionReport:
    """Try `url` once; never takes much longer than `timeout`, never raises."""
    scheme = urls.scheme_of(url)
    unreadable = urls.unreadable(url) if scheme else None
    if unreadable:
        return ConnectionReport(Outcome.ERROR, f"the broker URL {unreadable}")
    if scheme in ("redis", "rediss"):
        target = _check_redis
    elif scheme in ("amqp", "amqps", "pyamqp"):
        target = _check_amqp
    else:
        return ConnectionReport(
            Outcome.UNSUPPORTED, f"cannot test '{scheme or url}' URLs; use redis:// or amqp://"
        )
    started = time.monotonic()
    # An overall deadline: a server trickling a byte a second never trips a socket timeout.
    try:
        report = within(timeout + 0.5, _where(url), target, url, timeout)
    except NoAnswer:
        report = _timeout(url, timeout)
    except Exception as exc:  # a bug in a client library must not crash the caller
        report = ConnectionReport(Outcome.ERROR, f"{type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - started
    return ConnectionReport(report.outcome, report.message, report.server, elapsed)


@dataclass(frozen=True)
class EndpointCheck:
    """One part of a profile tried once: the broker, the result backend, the management API."""

    what: str
    ok: bool
    outcome: str
    message: str


def check_profile_endpoints(
    endpoints: Endpoints, timeout: float = DEFAULT_TIMEOUT_S
) -> list[EndpointCheck]:
    """Everything the panel will connect to, each tried once ("Test connection" and
    `profile test` alike): a backend or management API that fails is as much a failure as a
    broker that does, since results or queue contents would then never show."""
    from desktop.core.broker.queue_rabbitmq import Management, find_management

    broker = check_broker(endpoints.broker_url, timeout=timeout)
    found = [EndpointCheck("broker", broker.ok, broker.outcome.value, broker.message)]
    backend = endpoints.result_backend
    scheme = urls.scheme_of(backend)
    if not backend:
        found.append(
            EndpointCheck("result backend", True, "none", "none: results and chords cannot be read")
        )
    elif scheme in ("redis", "rediss", "amqp", "amqps"):
        if backend == endpoints.broker_url:  # its failure is the broker's, said once
            if broker.ok:
                found.append(EndpointCheck("result backend", True, "ok", "the broker itself"))
        else:
            report = check_broker(backend, timeout=timeout)
            found.append(
                EndpointCheck("result backend", report.ok, report.outcome.value, report.message)
            )
    else:
        found.append(
            EndpointCheck(
                "result backend", True, "not tested", f"{urls.mask(backend)} is not tested here"
            )
        )
    if urls.scheme_of(endpoints.broker_url) in ("amqp", "amqps", "pyamqp") and broker.ok:
        chosen = bool(endpoints.management_url)
        try:
            management = within(
                timeout, "the management API", find_management, endpoints.broker_url,
                endpoints.management_url,
            )  # fmt: skip
        except NoAnswer as exc:
            management = Management(endpoints.management_url, str(exc))
        # None set and none found is not a failure of the profile: counts still work.
        found.append(
            EndpointCheck(
                "management API",
                management.answered or not chosen,
                "ok" if management.answered else ("failed" if chosen else "none"),
                management.note,
            )
        )
    return found
