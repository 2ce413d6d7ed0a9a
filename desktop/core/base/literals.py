"""Python literals read back from outside text (Celery's argsrepr, a stored result), bounded.

`ast.literal_eval` never runs code, but its parser takes time and memory in proportion to the
text and recurses with its nesting: a hostile event could stall or crash the Tasks screen.
Text longer or deeper than these bounds is refused here, and callers show it as text.
"""

from __future__ import annotations

import ast
from typing import Any

LITERAL_MAX_CHARS = 100_000
LITERAL_MAX_DEPTH = 100


class LiteralRefused(ValueError):
    """Not read as a literal: too long, too deep, or not a literal at all."""


def _depth(text: str) -> int:
    """Bracket nesting, counting brackets inside strings too (so never less than the real)."""
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def read_literal(text: str) -> Any:
    """The value of a Python literal; LiteralRefused for anything else or beyond the bounds."""
    if len(text) > LITERAL_MAX_CHARS:
        raise LiteralRefused(f"longer than {LITERAL_MAX_CHARS} characters")
    if _depth(text) > LITERAL_MAX_DEPTH:
        raise LiteralRefused(f"nested deeper than {LITERAL_MAX_DEPTH}")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise LiteralRefused(f"not a literal: {type(exc).__name__}") from exc
