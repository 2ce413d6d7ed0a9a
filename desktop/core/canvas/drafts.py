"""The Builder's unsaved canvas, kept as a draft file so closing the window (or a crash) does
not lose it: written atomically, one per profile under the data directory, read back on the
next start.

A draft may hold what a file may not (an empty chain a person has not filled yet), so it is
its own small document, not a canvas file: the tree as the editor has it, its name, the file
it belongs to (None: never saved) and when it was written.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.base.files import write_atomic
from desktop.core.canvas.format import CanvasError, node_from_json, node_to_json
from desktop.core.canvas.model import Node

FORMAT = "celery-desk/canvas-draft"


@dataclass(frozen=True)
class Draft:
    name: str
    root: Node | None
    file: Path | None  # the canvas file it was opened from or saved to; None: never saved
    written: datetime.datetime  # local time


def dumps(name: str, root: Node | None, file: Path | None, now: datetime.datetime) -> str:
    document = {
        "format": FORMAT,
        "name": name,
        "file": str(file) if file is not None else None,
        "written": now.isoformat(timespec="seconds"),
        "root": node_to_json(root) if root is not None else None,
    }
    return json.dumps(document, ensure_ascii=False)


def write(path: Path, text: str) -> None:
    """Atomically: a crash mid-write leaves the previous draft, never half of one."""
    write_atomic(path, text)


def read(path: Path) -> Draft | None:
    """The draft at `path`; None when there is none or it cannot be read as one (a damaged
    draft is not worth a dialog: the canvas files themselves are untouched)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        root = data.get("root")
        node = None if root is None else node_from_json(root, editing=True)
        file = data.get("file")
        return Draft(
            name=str(data.get("name") or ""),
            root=node,
            file=Path(file) if isinstance(file, str) and file else None,
            written=datetime.datetime.fromisoformat(str(data.get("written"))),
        )
    except (OSError, ValueError, RecursionError, CanvasError):
        return None


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
