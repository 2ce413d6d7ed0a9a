"""'Test connection' tells each failure apart, against real servers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from desktop.core.broker.connection import Outcome, check_broker
from desktop.core.settings import urls


def test_good_redis_reports_the_version(embedded_redis: Any) -> None:
    report = check_broker(embedded_redis.url())
    assert report.outcome is Outcome.OK
    assert report.server and report.server.startswith("Redis ")


def test_wrong_password(embedded_redis: Any) -> None:
    url = urls.join_password(urls.split_password(embedded_redis.url()).url, "wrong")
    report = check_broker(url)
    assert report.outcome is Outcome.AUTH_FAILED
    assert "wrong password" in report.message
    assert "wrong" not in urls.mask(url)


def test_missing_password(embedded_redis: Any) -> None:
    report = check_broker(urls.split_password(embedded_redis.url()).url)
    assert report.outcome is Outcome.AUTH_FAILED
    assert "requires a password" in report.message


def test_refused_port(unused_port: int) -> None:
    port = unused_port
    report = check_broker(f"redis://127.0.0.1:{port}/0")
    assert report.outcome is Outcome.REFUSED
    assert str(port) in report.message


def test_unresolvable_host() -> None:
    report = check_broker("redis://no-such-host.invalid:6379/0", timeout=5)
    assert report.outcome is Outcome.NAME_NOT_RESOLVED
    assert "no-such-host.invalid" in report.message


def test_tls_against_a_plain_port(embedded_redis: Any) -> None:
    plain = embedded_redis.url()
    report = check_broker("rediss" + plain[len("redis") :], timeout=1)
    assert report.outcome is Outcome.TLS_FAILED
    assert report.elapsed_s < 3


def test_unsupported_scheme() -> None:
    assert check_broker("sqs://x").outcome is Outcome.UNSUPPORTED


@pytest.mark.rabbitmq
def test_rabbitmq_outcomes(amqp_url: str, unused_port: int) -> None:
    good = check_broker(amqp_url)
    assert good.outcome is Outcome.OK and good.server and "RabbitMQ" in good.server
    bare = urls.split_password(amqp_url).url
    assert check_broker(urls.join_password(bare, "not-the-password")).outcome is (
        Outcome.AUTH_FAILED
    )
    parts = urlsplit(amqp_url)
    no_vhost = f"{parts.scheme}://{parts.netloc}/celery-desk-no-such-vhost"
    missing = check_broker(no_vhost)
    assert missing.outcome is Outcome.VHOST_MISSING
    assert "celery-desk-no-such-vhost" in missing.message
    port = unused_port
    assert check_broker(f"amqp://guest:guest@127.0.0.1:{port}//").outcome is Outcome.REFUSED
