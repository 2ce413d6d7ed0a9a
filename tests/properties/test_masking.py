"""Masking, over generated passwords and URL shapes: the password a person wrote (any printable
character, '/', '#', '?', '@', ':', '%' and Unicode included) never shows, and nothing raises.

10,000 cases each (see docs/RELIABILITY.md for the timings)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from desktop.core.settings import urls
from desktop.core.settings.profile_checks import validate
from desktop.core.settings.profile_model import Profile

pytestmark = pytest.mark.slow  # ~5-35 s each: 10,000 generated cases
CASES = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMES = ("redis", "rediss", "amqp", "amqps", "sentinel")

passwords = st.text(
    st.one_of(
        st.sampled_from("/#?@:%;&=+[] "),
        st.characters(exclude_categories=("Cs", "Cc")),  # printable, any script
    ),
    min_size=4,
    max_size=24,
)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
NAME = st.text(LETTERS + "0123456789-", max_size=10)
users = st.one_of(st.just(""), st.builds(lambda a, b: a + b, st.sampled_from(LETTERS), NAME))
hosts = st.one_of(
    st.builds(lambda a, b, tld: a + b + tld, st.sampled_from(LETTERS), NAME,
              st.sampled_from(["", ".org", ".example.com"])),
    st.sampled_from(["127.0.0.1", "[::1]", "localhost"]),
)  # fmt: skip
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
paths = st.one_of(
    st.just(""), st.just("/"), st.just("//"), st.integers(0, 15).map(lambda n: f"/{n}"),
    st.text(LETTERS + "_", min_size=1, max_size=10).map(lambda name: "/" + name),
)  # fmt: skip
queries = st.one_of(
    st.just(""),
    st.lists(
        st.sampled_from(["ssl_cert_reqs=none", "heartbeat=10", "socket_timeout=5",
                         "master_name=mymaster", "virtual_host=v"]),
        min_size=1, max_size=3,
    ).map(lambda items: "?" + "&".join(items)),
)  # fmt: skip


@st.composite
def urls_with_a_password(draw: Any) -> tuple[str, str, str]:
    """(url, the password in it, the same url with **** for the password)."""
    scheme = draw(st.sampled_from(SCHEMES))
    user, password = draw(users), draw(passwords)
    assume(f";{scheme}://" not in password)  # kombu too would read that as a second URL
    hosts_count = draw(st.integers(1, 3)) if scheme == "sentinel" else 1
    tails = [draw(hosts) + draw(ports) for _ in range(hosts_count)]
    tail = draw(paths) + draw(queries)

    def build(secret: str) -> str:
        return ";".join(f"{scheme}://{user}:{secret}@{where}{tail}" for where in tails)

    return build(password), password, build(urls.MASK)


@CASES
@given(urls_with_a_password())
def test_a_generated_password_never_shows_in_the_masked_url(case: tuple[str, str, str]) -> None:
    url, password, skeleton = case
    masked = urls.mask(url)
    assert urls.MASK in masked
    if password not in skeleton:  # not a host, user or scheme that happens to hold it
        assert password not in masked, (url, masked)


@CASES
@given(urls_with_a_password())
def test_a_refused_url_never_quotes_its_password(case: tuple[str, str, str]) -> None:
    """What `profile add` and every --broker say about a URL, readable or not."""
    url, password, skeleton = case
    said, said_of_skeleton = _said(url), _said(skeleton)
    assert said.count(password) <= said_of_skeleton.count(password), (url, said)


def _said(url: str) -> str:
    errors = validate(Profile(name="p", broker_url=url, result_backend=""))
    return " ".join(errors.values()) + str(urls.unreadable(url))


@CASES
@given(st.text(max_size=80))
def test_mask_never_raises_on_any_text(text: str) -> None:
    for candidate in (text, "redis://" + text, "amqp://u:" + text):
        assert isinstance(urls.mask(candidate), str)
        urls.unreadable(candidate)
