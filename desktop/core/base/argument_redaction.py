"""Task arguments with secrets hidden: values under argument names like `password` or `token`.

A task's arguments reach the panel as Celery's argsrepr/kwargsrepr text (events) or as JSON
(the broker's messages, the result backend's extended results). Any keyword argument, or key
of a dict anywhere inside the arguments, whose name contains one of the profile's names
(case-insensitive) has its value replaced by MASK, before the journal keeps it and before a
screen or a command shows a message it read off the broker.

Text that reads back as a Python literal is redacted as a value and written again with repr
(what Celery's argsrepr would have been); text that does not (cut at 1024 characters, an
object's repr) is redacted by pattern: `'name': value` and `name=value`, where the value is a
quoted string or runs to the next `,`, `}` or `)`. Either way no value under such a name is
left, which is what matters; the pattern may also hide a little more than the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from desktop.core.base.literals import LiteralRefused, read_literal

MASK = "****"
DEFAULT_REDACTED_NAMES: tuple[str, ...] = (
    "password", "passwd", "secret", "token", "api_key", "authorization", "credit_card",
)  # fmt: skip
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""


class ArgumentRedactor:
    """Redaction by the profile's list of names (DEFAULT_REDACTED_NAMES unless it says)."""

    def __init__(self, names: Iterable[str] = DEFAULT_REDACTED_NAMES) -> None:
        self.names: tuple[str, ...] = tuple(n.lower() for n in names if n.strip())
        if self.names:
            words = "|".join(re.escape(n) for n in self.names)
            name = rf"[\w-]*(?:{words})[\w-]*"
            self._pattern: re.Pattern[str] | None = re.compile(
                rf"(?P<key>(?P<q>['\"]){name}(?P=q)\s*:\s*|\b{name}\s*=\s*)"
                rf"(?P<value>{_QUOTED}|[^,}})\]]+)",
                re.IGNORECASE,
            )
        else:
            self._pattern = None

    def mentions(self, text: str) -> bool:
        """A cheap first look (no regex): whether any name appears in `text` at all. The
        event path asks this of every event."""
        lowered = text.lower()
        return any(name in lowered for name in self.names)

    def hides(self, key: Any) -> bool:
        lowered = str(key).lower()
        return any(name in lowered for name in self.names)

    def value(self, value: Any, depth: int = 0) -> Any:
        """`value` with every dict entry under a hidden name replaced by MASK (nested too)."""
        if depth > 50 or not self.names:
            return value
        if isinstance(value, dict):
            return {
                k: MASK if self.hides(k) and v not in (None, "") else self.value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v, depth + 1) for v in value)
        return value

    def text(self, text: str | None) -> str | None:
        """Arguments as text (Celery's argsrepr or kwargsrepr), redacted; `text` itself when
        nothing in it is to be hidden. Text whose every value under a hidden name is MASK
        already (what a journal storing hidden values holds) is not read again: every read
        of the journal asks this of each row."""
        if not text or self._pattern is None or not self.mentions(text):
            return text
        values = [m.group("value") for m in self._pattern.finditer(text)]
        if values and all(v in _MASKED for v in values):
            return text
        try:
            parsed = read_literal(text)
        except (LiteralRefused, ValueError, RecursionError):
            parsed = _UNREAD
        if parsed is not _UNREAD and "..." not in text:
            hidden = self.value(parsed)
            return text if hidden == parsed else repr(hidden)
        if not values:
            return text
        return self._pattern.sub(lambda m: m.group("key") + repr(MASK), text)

    def json_text(self, text: str) -> str:
        """An event's fields as the journal keeps them (JSON): `args` and `kwargs` (Celery's
        repr text) redacted as text, everything else as values."""
        if not self.names or not self.mentions(text):
            return text
        try:
            fields = json.loads(text)
        except ValueError:
            return (
                self._pattern.sub(lambda m: m.group("key") + '"' + MASK + '"', text)
                if (self._pattern)
                else text
            )
        if not isinstance(fields, dict):
            return json.dumps(self.value(fields))
        redacted = {
            key: self.text(value)
            if key in ("args", "kwargs") and isinstance(value, str)
            else MASK
            if self.hides(key) and value not in (None, "")
            else self.value(value)
            for key, value in fields.items()
        }
        return json.dumps(redacted)

    def hides_value(self, text: str | None) -> bool:
        """Whether `text` holds a value under a hidden name that is not MASK already: what a
        journal keeping real values has to reveal (`text` would show differently)."""
        return self.text(text) != text

    def redacts(self, text: str | None) -> bool:
        """Whether `text` holds a value this redactor hides (or hid: MASK under a name)."""
        return bool(text and self._pattern is not None and self._pattern.search(text))


_UNREAD = object()
_MASKED = (repr(MASK), f'"{MASK}"')  # a value the pattern finds that is hidden already


def redactor_for(names: Sequence[str] | None) -> ArgumentRedactor:
    """A profile's redactor: its names, or the defaults when it names none."""
    return ArgumentRedactor(DEFAULT_REDACTED_NAMES if names is None else names)
