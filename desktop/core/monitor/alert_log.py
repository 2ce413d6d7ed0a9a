"""The alerts log: the latest alerts in memory (a window's list) and, given a path, one JSON
line per alert in `alerts/<profile key>.log.jsonl` beside the rules.

Why a file and not a journal table: alerts are few (edge-triggered: one line per change), a
JSON line is readable with any tool on a server, and a table would cost the journal a schema
version for what is a log. The file is bounded: past MAX_LOG_BYTES it is renamed to
`.jsonl.1` (the one before is dropped) and a new one started. Appending never raises: a disk
that refuses is logged once, and alerts still fire. Qt-free.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.settings.paths import Paths, profile_key

if TYPE_CHECKING:
    from desktop.core.monitor.alerts import Alert

log = logging.getLogger(__name__)
MAX_LOG_BYTES = 1_000_000
RECENT_KEPT = 1_000


def log_path(paths: Paths, profile_name: str) -> Path:
    return paths.config_dir / "alerts" / f"{profile_key(profile_name)}.log.jsonl"


class AlertLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.recent: deque[Alert] = deque(maxlen=RECENT_KEPT)
        self._lock = threading.Lock()
        self._failed_said = False

    def append(self, alert: Alert) -> None:
        with self._lock:
            self.recent.append(alert)
            if self.path is None:
                return
            line = json.dumps(alert.to_json(), default=repr) + "\n"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and self.path.stat().st_size > MAX_LOG_BYTES:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
                self._failed_said = False
            except OSError as exc:
                if not self._failed_said:
                    self._failed_said = True
                    log.warning("the alerts log %s was not written: %s", self.path, exc)


def read_log(path: Path, limit: int = 100) -> list[dict[str, Any]]:
    """The last `limit` alerts of a log file, oldest first; a line that is not an alert's JSON
    is skipped (a log cut short by a crash)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    found: list[dict[str, Any]] = []
    for line in lines[-limit:] if limit > 0 else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found
