"""Saved canvases: the person's own under the config directory, and the shipped examples."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from desktop.core import canvas
from desktop.core.canvas import Canvas
from desktop.core.files import write_atomic

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "canvases"


@dataclass(frozen=True)
class Entry:
    title: str
    path: Path
    example: bool


def entries(library: Path) -> list[Entry]:
    """The person's canvases first (newest first), then the examples by name."""
    own = sorted(
        library.glob("*.json") if library.is_dir() else [],
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    examples = sorted(EXAMPLES_DIR.glob("*.json")) if EXAMPLES_DIR.is_dir() else []
    return [Entry(p.stem, p, False) for p in own] + [Entry(p.stem, p, True) for p in examples]


def read(path: Path) -> Canvas:
    """CanvasError names what is wrong, including a file that cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise canvas.CanvasError("file", f"{path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise canvas.CanvasError("file", f"cannot read {path}: {exc.strerror or exc}") from None
    return canvas.loads(text)


def file_name(title: str) -> str:
    """A file name for a canvas title: letters, digits, dashes."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", title.strip()).strip("-").lower()
    return f"{slug or 'canvas'}.json"


def write(path: Path, drawn: Canvas) -> None:
    """All or nothing: a crash mid-save leaves the previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, canvas.dumps(drawn), mode=0o644)
