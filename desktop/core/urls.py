"""Broker and backend URLs: parsing, masking and splitting the password out for safe storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "****"
EMBEDDED = "embedded"

BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")
BACKEND_SCHEMES = ("redis", "rediss", "rpc", "db+sqlite", "db+postgresql", "db+mysql", "file")


@dataclass(frozen=True)
class SplitUrl:
    """A URL with its password taken out; `url` is safe to write to a TOML file."""

    url: str
    password: str | None


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower() if "://" in url else ""


def _with_password(url: str, password: str | None, *, encode: bool = True) -> str:
    parts = urlsplit(url)
    if not parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0] if userinfo else ""
    if password is None:
        netloc = f"{user}@{hostport}" if user else hostport
    else:
        shown = quote(password, safe="") if encode else password
        netloc = f"{user}:{shown}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def password_of(url: str) -> str | None:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return None
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" not in userinfo:
        return None
    return unquote(userinfo.split(":", 1)[1])


def split_password(url: str) -> SplitUrl:
    """Separate the password so the profile file never holds it."""
    if "://" not in url:
        return SplitUrl(url, None)
    password = password_of(url)
    if password is None:
        return SplitUrl(url, None)
    return SplitUrl(_with_password(url, None), password)


def join_password(url: str, password: str | None) -> str:
    if password is None or "://" not in url:
        return url
    return _with_password(url, password)


_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pass)=)[^&#]*", re.IGNORECASE)


def has_query_password(url: str) -> bool:
    return bool(_QUERY_PASSWORD.search(url))


def mask(url: str) -> str:
    """The URL as it may be shown or logged: any password becomes ****."""
    if "://" not in url:
        return url
    url = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, url)
    try:
        has_password = password_of(url) is not None
    except ValueError:
        return url.split("://", 1)[0] + "://" + MASK
    return _with_password(url, MASK, encode=False) if has_password else url


def host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port
