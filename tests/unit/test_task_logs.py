"""A task's lines in a worker's log: those naming it, its traceback, and what the process that
ran it printed meanwhile; nothing of the tasks beside it."""

from __future__ import annotations

from pathlib import Path

from desktop.core.local.task_logs import task_log_lines

LOG = """\
[2026-11-30 10:00:00,000: INFO/MainProcess] tl@vm ready.
[2026-11-30 10:00:01,000: INFO/MainProcess] Task proj.a[aaa] received
[2026-11-30 10:00:01,010: INFO/MainProcess] Task proj.b[bbb] received
[2026-11-30 10:00:01,020: INFO/ForkPoolWorker-1] proj.a[aaa]: step 1
[2026-11-30 10:00:01,030: WARNING/ForkPoolWorker-1] printed by a
[2026-11-30 10:00:01,040: WARNING/ForkPoolWorker-2] printed by b
[2026-11-30 10:00:01,050: ERROR/ForkPoolWorker-1] Task proj.a[aaa] raised unexpected: KeyError('x')
Traceback (most recent call last):
  File "proj.py", line 3, in a
KeyError: 'x'
[2026-11-30 10:00:01,060: INFO/ForkPoolWorker-2] Task proj.b[bbb] succeeded in 0.05s: 1
[2026-11-30 10:00:02,000: WARNING/ForkPoolWorker-1] printed later, by the next task
"""


def test_a_task_s_lines_with_its_traceback_and_prints(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text(LOG)
    assert task_log_lines(log, "aaa") == [
        "[2026-11-30 10:00:01,000: INFO/MainProcess] Task proj.a[aaa] received",
        "[2026-11-30 10:00:01,020: INFO/ForkPoolWorker-1] proj.a[aaa]: step 1",
        "[2026-11-30 10:00:01,030: WARNING/ForkPoolWorker-1] printed by a",
        "[2026-11-30 10:00:01,050: ERROR/ForkPoolWorker-1] Task proj.a[aaa] raised unexpected: "
        "KeyError('x')",
        "Traceback (most recent call last):",
        '  File "proj.py", line 3, in a',
        "KeyError: 'x'",
    ]
    assert task_log_lines(log, "bbb")[-1].endswith("succeeded in 0.05s: 1")
    assert "printed by a" not in "\n".join(task_log_lines(log, "bbb"))
    assert task_log_lines(log, "ccc") == []
    assert task_log_lines(tmp_path / "missing.log", "aaa") == []


def test_only_the_end_of_a_huge_log_is_read_and_lines_are_capped(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text("x" * 5000 + "\n" + LOG)
    assert task_log_lines(log, "aaa", max_bytes=len(LOG) + 10)[0].endswith("received")
    capped = task_log_lines(log, "aaa", max_lines=2)
    assert len(capped) == 3 and capped[-1] == "… 5 more lines"
