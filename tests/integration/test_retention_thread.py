"""The Monitor's retention runs on a thread of its own, never the one that receives events."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from desktop.core.monitor import journal_retention, pipeline
from desktop.core.monitor.journal_retention import ChunkedPrune
from tests.unit.test_journal_retention import _filled, _ids
from tests.waiting import wait_for


@pytest.mark.slow
def test_the_monitor_prunes_off_the_thread_that_receives_events(
    tmp_path: Path, embedded_redis: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real stream on a real Redis; retention every 0.2 s: the journal comes down to the limit,
    pruned on the `journal-retention` thread, never the stream's."""
    monkeypatch.setattr(pipeline, "PRUNE_EVERY_S", 0.2)
    journal = _filled(tmp_path / "j.sqlite3", 300)
    threads: list[str] = []
    real = journal_retention.ChunkedPrune._delete

    def noting(self: ChunkedPrune, *args: object, **kwargs: object) -> int:
        threads.append(threading.current_thread().name)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(journal_retention.ChunkedPrune, "_delete", noting)
    url = embedded_redis.url(3)  # type: ignore[attr-defined]
    monitor = pipeline.Monitor(url, "", journal, retention_tasks=100)
    monitor.start()
    try:
        wait_for(lambda: len(_ids(journal)) == 100, 15, "retention to bring the journal to 100")
    finally:
        assert monitor.stop()
        journal.close()
    assert threads and set(threads) == {"journal-retention"}
