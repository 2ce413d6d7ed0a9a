"""Facts about local processes that several parts need (embedded broker, probes, workers)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def argv_of(pid: int) -> list[str]:
    """A process's argv, token by token (exact matches: 'all@%h' is not 'small@%h');
    empty when it is gone or not ours to read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True
