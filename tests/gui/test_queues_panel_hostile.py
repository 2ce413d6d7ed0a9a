"""The Queues screen on a real Redis holding hostile entries: messages and an unacked entry
nested 100,000 deep, a queue name that is a hash. Each shows as its own "not decoded (why)"
or its queue's error; every other queue and message still lists."""

from __future__ import annotations

import uuid
from typing import Any

import redis
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.settings.profile_model import Profile, QueueSpec
from tests.hostile_messages import (
    deep_args_message,
    deep_headers_message,
    good_message,
    unacked_entry,
)
from tests.integration.worker_process import REPO_ROOT
from tests.support import window_on

TOO_DEEP = "nested deeper than 100 levels"


def _column(table: Any, column: int) -> list[str]:
    model = table.model()
    return [model.index(row, column).data() or "" for row in range(model.rowCount())]


def test_hostile_entries_show_alone_and_everything_else_lists(
    qtbot: QtBot, embedded_redis: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    hostile, calm, broken = f"hostile-{run}", f"calm-{run}", f"broken-{run}"
    tag = f"deep-{run}"
    raw = redis.Redis.from_url(embedded_redis.url(0))
    try:
        for message in (good_message(), deep_args_message(), deep_headers_message()):
            raw.lpush(hostile, message)
        raw.lpush(calm, good_message("workers.tasks.calm"))
        raw.hset(broken, "not", "a list")
        raw.hset("unacked", tag, unacked_entry(deep_args_message(), hostile))
        profile = Profile(
            name="hostile", broker_url=embedded_redis.url(0), result_backend="",
            workdir=str(REPO_ROOT), queues=[QueueSpec(q) for q in (hostile, calm, broken)],
        )  # fmt: skip
        with window_on(qtbot, profile) as window:
            panel = window.queues
            window.tabs.setCurrentWidget(panel)
            panel.select_queue(hostile)
            qtbot.waitUntil(lambda: len(_column(panel.waiting, 2)) >= 3, timeout=15000)
            assert _column(panel.waiting, 2)[:3] == [
                "workers.tasks.add",
                f"not decoded: the body is {TOO_DEEP}",
                f"not decoded: the stored message is {TOO_DEEP}",
            ]
            qtbot.waitUntil(
                lambda: f"not decoded: the body is {TOO_DEEP}" in _column(panel.held, 2),
                timeout=15000,
            )
            names = _column(panel.table, 0)
            assert {hostile, calm, broken} <= set(names)
            row = names.index(broken)
            tip = panel.table.model().index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
            assert "is a hash, not a list" in tip
            assert _column(panel.table, 1)[names.index(calm)] == "1"
            panel.select_queue(calm)
            qtbot.waitUntil(
                lambda: _column(panel.waiting, 2) == ["workers.tasks.calm"], timeout=15000
            )
    finally:
        raw.delete(hostile, calm, broken)
        raw.hdel("unacked", tag)
        raw.close()
