from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core import urls


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
    from desktop.core.profiles import Profile, validate

    url = "redis://host:6379/0?password=s3cret&ssl_cert_reqs=none"
    assert urls.mask(url) == "redis://host:6379/0?password=****&ssl_cert_reqs=none"
    errors = validate(Profile(name="p", broker_url=url, result_backend=""))
    assert "query string" in errors["broker_url"]
