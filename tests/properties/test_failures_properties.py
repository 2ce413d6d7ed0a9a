"""A failure's fingerprint: any text gives one, and a fingerprint is its own fingerprint (the
Failures screen may group by a fingerprint it was given)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.monitor.failures import NO_EXCEPTION, exception_type, fingerprint

# Texts made of the pieces exception messages are made of, so that the examples reach the
# rules (numbers beside dots and colons, hex runs, slashes, quotes) and not only noise.
PIECES = st.sampled_from(
    [
        "ValueError(", "OSError: ", "KeyError", "'", '"', ")", "(", " ", "  ", ":", "::", ".",
        "/", "\\", "-", "_", "0x", "1", "42", "3.5", "e9", "10.0.0.5", ":6379", "[::1]",
        "fe80", "deadbeef", "8f14e45f-ceea-467f-a0e6-1c2b3d4e5f60", "http://h/p", "C:",
        "~", "abc", "user", "x", "\n", "\t", "é", "<n>", "<path>",
    ]
)  # fmt: skip
TEXTS = st.one_of(st.text(max_size=80), st.lists(PIECES, max_size=20).map("".join))


@settings(max_examples=400, deadline=None, database=None)
@given(TEXTS)
def test_any_text_has_a_fingerprint_that_is_its_own(text: str) -> None:
    printed = fingerprint(text)
    assert isinstance(printed, str) and printed
    assert fingerprint(printed) == printed


@settings(max_examples=200, deadline=None, database=None)
@given(TEXTS)
def test_the_type_is_kept_and_blank_text_says_so(text: str) -> None:
    printed = fingerprint(text)
    assert printed.startswith(exception_type(text))
    assert (printed == NO_EXCEPTION) == (not text.strip() or printed == NO_EXCEPTION)
