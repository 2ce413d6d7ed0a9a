"""Literals from events are read within bounds, else shown as text (issue 13, defect 12b)."""

from __future__ import annotations

import time

import pytest

from desktop.core.base.literals import LITERAL_MAX_CHARS, LiteralRefused, read_literal
from desktop.core.broker.control import ControlError, literal
from desktop.core.monitor.journal_reader import stored_value


def test_huge_or_deep_text_is_shown_as_text_quickly() -> None:
    huge = "(" + "1, " * 1_000_000 + ")"
    deep = "[" * 5000 + "]" * 5000
    started = time.monotonic()
    assert stored_value(huge) == huge
    assert stored_value(deep) == deep
    assert time.monotonic() - started < 1.0
    for text in (huge, deep):
        with pytest.raises(LiteralRefused):
            read_literal(text)


def test_ordinary_arguments_are_still_read() -> None:
    assert stored_value("(1, 'a', {'b': [2.5, None]})") == (1, "a", {"b": [2.5, None]})
    assert read_literal("[" * 50 + "]" * 50) is not None
    assert len(repr(list(range(10_000)))) < LITERAL_MAX_CHARS
    with pytest.raises(ControlError):
        literal("__import__('os')", ())
