from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.settings import urls


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:****@host:6379/0"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:****@127.0.0.1:5672//"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("amqp://user@host//", "amqp://user@host//"),
        ("embedded", "embedded"),
        ("rpc://", "rpc://"),
    ],
)
def test_mask_hides_every_password(url: str, shown: str) -> None:
    assert urls.mask(url) == shown


def test_split_and_join_keep_special_characters() -> None:
    url = "amqp://user:p%40ss%3Aw%2Frd@host:5672/vhost"
    split = urls.split_password(url)
    assert split.password == "p@ss:w/rd"
    assert split.url == "amqp://user@host:5672/vhost"
    assert urls.join_password(split.url, split.password) == url


@given(st.text(min_size=1, max_size=40))
def test_any_password_round_trips_and_never_shows_masked(password: str) -> None:
    joined = urls.join_password("redis://user@example.org:6379/0", password)
    assert urls.password_of(joined) == password
    assert urls.split_password(joined).url == "redis://user@example.org:6379/0"
    masked = urls.mask(joined)
    assert "****" in masked
    if len(password) > 3 and password not in "redis://user@example.org:6379/0****":
        assert password not in masked


def test_a_password_in_the_query_string_is_masked_and_refused() -> None:
    from desktop.core.settings.profile_checks import validate
    from desktop.core.settings.profile_model import Profile

    url = "redis://host:6379/0?password=s3cret&ssl_cert_reqs=none"
    assert urls.mask(url) == "redis://host:6379/0?password=****&ssl_cert_reqs=none"
    errors = validate(Profile(name="p", broker_url=url, result_backend=""))
    assert "query string" in errors["broker_url"]


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("redis://:pa/ss@host:6379/0", "pa/ss"),
        ("rediss://user:se?cr3t@host:6380", "se?cr3t"),
        ("amqp://user:p#w0rd@host:5672/vhost", "p#w0rd"),
        ("amqps://user:a/b#c?d@host/vhost?heartbeat=10", "a/b#c?d"),
        ("redis://:p@ss/w0rd@host:6379/0", "p@ss/w0rd"),
        ("sentinel://:pa/ss@h1:26379;sentinel://:pa/ss@h2:26379", "pa/ss"),
        ("redis://:nohostatall", "nohostatall"),
    ],
)
def test_mask_hides_a_password_holding_unencoded_slash_hash_question_or_at(
    url: str, password: str
) -> None:
    """urllib (and so kombu and redis-py) ends the authority at the first '/', '?' or '#':
    the password as the person wrote it runs to the last '@', and all of it is hidden."""
    masked = urls.mask(url)
    assert password not in masked
    assert not any(piece in masked for piece in password.replace("?", "/").replace("#", "/")
                   .replace("@", "/").split("/") if len(piece) > 2)  # fmt: skip
    assert urls.MASK in masked


def test_sentinel_lists_keep_every_host_and_user() -> None:
    assert urls.mask("sentinel://u:pw1@h1:26379;sentinel://u:pw1@h2:26379/0") == (
        "sentinel://u:****@h1:26379;sentinel://u:****@h2:26379/0"
    )


@pytest.mark.parametrize(
    "url", ["redis://:Zq7/Wk9x@host:6379/0", "amqp://u:Zq7#Wk9x@host//", "redis://:Zq7?Wk9x@h"]
)
def test_why_a_url_cannot_be_read_never_quotes_it(url: str) -> None:
    from desktop.core.settings.profile_checks import validate
    from desktop.core.settings.profile_model import Profile

    problem = urls.unreadable(url)
    assert problem is not None and "percent-encoded" in problem
    errors = validate(Profile(name="p", broker_url=url, result_backend=""))
    assert "Zq7" not in errors["broker_url"] and "Wk9x" not in errors["broker_url"]
