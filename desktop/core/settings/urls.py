"""Broker and backend URLs: parsing, masking and splitting the password out for safe storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "****"
EMBEDDED = "embedded"

BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")
BACKEND_SCHEMES = ("redis", "rediss", "rpc", "db+sqlite", "db+postgresql", "db+mysql", "file")
# Where a profile's task history is kept: the SQLite journal beside the panel (the default),
# or a shared PostgreSQL database (desktop/core/history).
HISTORY_SQLITE = "sqlite"
HISTORY_SCHEMES = ("postgresql", "postgres")


def is_shared_history(history: str) -> bool:
    """A history URL that names a PostgreSQL database, not the SQLite default."""
    return scheme_of(history) in HISTORY_SCHEMES


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


def secrets_of(url: str) -> list[str]:
    """Every way the URL's passwords may be quoted back (by psycopg, say): as meant (decoded)
    and as written (percent-encoded, or malformed: `invalid percent-encoded token: "p%zz"`),
    in its userinfo and its query; longest first, so a shorter one never leaves part of a
    longer one shown."""
    found: set[str] = set()
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            written = userinfo.split(":", 1)[1]
            found.update((written, unquote(written)))
    for match in _QUERY_PASSWORD.finditer(url):
        written = match.group(0)[len(match.group(1)) :]
        found.update((written, unquote(written)))
    return sorted((s for s in found if s), key=len, reverse=True)


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


def keeping_stored_password(url: str) -> str:
    """A URL saved back as it was read (without its password): with the mask as its password
    when it names a user, so ProfileStore.save keeps the secret stored for it, never wipes it."""
    named_user = "@" in url.split("://", 1)[-1]
    if "://" in url and password_of(url) is None and named_user:
        return join_password(url, MASK)
    return url


_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pass)=)[^&#]*", re.IGNORECASE)


def has_query_password(url: str) -> bool:
    return bool(_QUERY_PASSWORD.search(url))


def mask(url: str) -> str:
    """The URL as it may be shown or logged: any password becomes ****, and never raises.

    The password is found the way a person means it, not the way urllib splits it: a
    password holding an unencoded '/', '?' or '#' ends urllib's authority early (and kombu's
    and redis-py's, which use urllib), so the userinfo here runs to the LAST '@'. A ';'
    followed by the same scheme starts another URL, as kombu reads failover and sentinel
    lists. When a part cannot be read as host:port (a password with no '@' after it, say),
    everything between '//' and the last '@' is hidden."""
    if "://" not in url:
        return url
    url = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, url)
    scheme = url.split("://", 1)[0]
    shown = [_mask_one(part) for part in _failover_parts(url, scheme)]
    if any(part is None for part in shown):
        rest = url.split("://", 1)[1]
        return f"{scheme}://{MASK}" + (f"@{rest.rpartition('@')[2]}" if "@" in rest else "")
    return ";".join(part for part in shown if part is not None)


def _failover_parts(url: str, scheme: str) -> list[str]:
    return re.split(f";(?={re.escape(scheme)}://)", url) if scheme else [url]


def _mask_one(url: str) -> str | None:
    """One URL with its userinfo's password masked; None when it cannot be read."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    userinfo, at, after = rest.rpartition("@")
    if at:
        if ":" not in userinfo:
            return url  # a user name and no password
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:{MASK}@{after}"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if ":" in authority and not authority.endswith("]"):
        port = authority.rpartition(":")[2]
        if not port.isdigit() and port:
            return None  # not host:port: maybe a password whose '@' never came
    return url


ENCODE_HINT = (
    "a password holding '/', '?', '#' or '@' must be percent-encoded (%2F, %3F, %23, %40), "
    "or given in the password field"
)


def unreadable(url: str) -> str | None:
    """Why urllib, and so kombu and redis-py, would misread this URL, in words that never
    quote it (urllib's own errors quote the authority, password and all); None when fine."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError as exc:
        text = str(exc)
        if "Port out of range" in text:
            return "port must be between 1 and 65535"
        if "Port could not be cast" in text:
            return f"port is not a number: {ENCODE_HINT}"
        if "IPv6" in text:
            return "is not a valid URL: an unbalanced '[' or ']' around its IPv6 host"
        if "NFKC" in text:
            return (
                "is not a valid URL: its host part holds characters that Unicode reads as "
                "'/', '?', '#', '@' or ':'"
            )
        return "is not a valid URL"
    if "@" in url.partition("://")[2][len(parts.netloc) :]:
        return f"has an '@' after its host: {ENCODE_HINT}"
    return None
