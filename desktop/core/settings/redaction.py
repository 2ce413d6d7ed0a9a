"""Passwords out of what is shown and stored: URLs masked, secret-like keys blanked, known
passwords taken out of text a child process printed."""

from __future__ import annotations

from typing import Any

from desktop.core.settings import urls

_SECRET_WORDS = ("password", "passwd", "secret", "token")


def redact(value: Any) -> Any:
    """A value safe to show and to store: passwords inside URLs and under secret-like keys
    (a sentinel's password in transport options, say) become ****."""
    if isinstance(value, dict):
        return {
            k: urls.MASK if any(w in str(k).lower() for w in _SECRET_WORDS) and v else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return urls.mask(value)
    return value


def hide_secrets(text: str, *secrets: str | None) -> str:
    """Text from a child (its error, the traceback's tail) with every known password masked:
    user code may print its settings."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, urls.MASK)
    return text
