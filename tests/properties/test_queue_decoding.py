"""Queue messages and the unacked hash, over generated broker content: arbitrary bytes, JSON of
any shape, kombu envelopes with hostile parts, nesting far past Python's recursion limit. The
decoders the listing uses never raise; each gives a decoded message or "not decoded: why", and
what they give can be printed and re-encoded as the CLI and the screen do.

10,000 cases each (see docs/RELIABILITY.md for the timings)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.broker.queue_messages import (
    Message,
    decode_envelope,
    decode_management,
    decode_unacked,
)

pytestmark = pytest.mark.slow  # ~5-35 s each: 10,000 generated cases
CASES = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)


@st.composite
def nested_text(draw: Any) -> str:
    """JSON text nested `depth` deep with lists and objects, up to 3x the recursion limit."""
    depth = draw(st.integers(0, 3_000))
    opening = draw(st.sampled_from(["[", '{"k": ', "[1, "]))
    closing = {"[": "]", '{"k": ': "}", "[1, ": "]"}[opening]
    return opening * depth + draw(st.sampled_from(["0", '"x"', "[]", "{}"])) + closing * depth


fragments = st.one_of(json_values.map(json.dumps), nested_text(), st.text(max_size=12))
CANNED = [
    "[]",
    "{}",
    "null",
    '"x"',
    "1e999",
    "-0",
    "[1, 2]",
    '{"a": [1, {"b": null}]}',
    "9" * 5000,
    '"\\udc80"',
    "[" * 50 + "]" * 50,
    '{"task": "t"}',
    "tru",
    '"unterminated',
]
cheap = st.one_of(nested_text(), st.sampled_from(CANNED))  # fewer draws: Hypothesis is the cost


@st.composite
def envelopes(draw: Any) -> str:
    """kombu's envelope as text, each part either kombu-shaped or hostile."""
    args, kwargs = draw(fragments), draw(cheap)
    body = draw(st.one_of(st.just(f"[{args}, {kwargs}, {{}}]"), cheap))
    encoding = draw(st.sampled_from(["base64", "", "utf-8", "x"]))
    encoded = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    body_value = json.dumps(encoded if encoding == "base64" else body)
    task = draw(st.sampled_from(['"workers.tasks.add"', '""', "7", "null", '"\\ud800"']))
    headers = draw(
        st.one_of(
            cheap.map(lambda extra: f'{{"task": {task}, "id": "i", "argsrepr": {extra}}}'),
            cheap,
        )
    )
    kind = draw(st.sampled_from(["application/json", "text/json", "", "application/x-yaml"]))
    priority = draw(st.sampled_from([0, 9, -1, "9", None, 2**70, 1.5, [1]]))
    properties = json.dumps({"priority": priority, "body_encoding": encoding})
    return (
        f'{{"body": {body_value}, "content-type": {json.dumps(kind)}, '
        f'"headers": {headers}, "properties": {properties}}}'
    )


stored = st.one_of(
    st.binary(max_size=200),
    fragments.map(lambda text: text.encode("utf-8", "surrogatepass")),
    envelopes().map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def _shown(message: Message) -> None:
    """What the CLI and the screen do with a message must work too."""
    assert isinstance(message, Message)
    if message.decoded:
        for text in (message.id, message.task, message.eta, message.parent_id):
            if text is not None:
                text.encode("utf-8")  # printable: no lone surrogate left
        json.dumps(message.to_json(), default=repr)
        repr(message.args), repr(message.kwargs)
    else:
        assert message.note.startswith("not decoded: "), message.note
        assert not message.args and not message.kwargs


@CASES
@given(stored)
def test_a_waiting_message_never_breaks_the_listing(raw: bytes) -> None:
    _shown(decode_envelope(raw))


@CASES
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda message, exchange, key: f"[{message}, {exchange}, {key}]".encode(
                "utf-8", "surrogatepass"
            ),
            st.one_of(envelopes(), envelopes().map(json.dumps), fragments),
            cheap,
            st.one_of(st.text(max_size=10).map(json.dumps), cheap),
        ),
    )
)
def test_an_unacked_entry_never_breaks_the_listing(value: bytes) -> None:
    routing_key, message = decode_unacked(value)
    assert isinstance(routing_key, str)
    routing_key.encode("utf-8")
    _shown(message)


@CASES
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "payload": st.one_of(fragments, json_values),
                "payload_encoding": st.sampled_from(["string", "base64", ""]),
                "properties": st.one_of(
                    json_values,
                    st.fixed_dictionaries(
                        {
                            "content_type": st.sampled_from(["application/json", "text/plain"]),
                            "headers": json_values,
                        }
                    ),
                ),
            }
        ),
    )
)
def test_a_management_api_message_never_breaks_the_listing(item: Any) -> None:
    _shown(decode_management(item))
