"""Fixtures the integration modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.core.monitor.events import EventStream


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    """Event streams a test starts; each stopped (and its threads joined) after the test."""
    started: list[EventStream] = []
    yield started
    for stream in started:
        assert stream.stop(), "event stream threads did not stop"
        stream.app.close()
