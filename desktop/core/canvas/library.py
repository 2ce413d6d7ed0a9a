"""Saved canvases: the person's own under the config directory, and the shipped examples."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.base.files import write_atomic
from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas import format as canvas_format
from desktop.core.canvas.model import Canvas, TaskNode

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "resources" / "canvases"
# The shipped demo app's short names for the Celery tutorial's tasks: the examples call
# `workers.tasks.demo1` what the tutorial (and a Django project grown from it) calls
# `shared_task_demo1`.
TUTORIAL_NAMES = {f"demo{n}": f"shared_task_demo{n}" for n in range(1, 5)}


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
        raise canvas_format.CanvasError("file", f"{path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise canvas_format.CanvasError(
            "file", f"cannot read {path}: {exc.strerror or exc}"
        ) from None
    return canvas_format.loads(text)


def file_name(title: str) -> str:
    """A file name for a canvas title: letters, digits, dashes."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", title.strip()).strip("-").lower()
    return f"{slug or 'canvas'}.json"


def write(path: Path, drawn: Canvas) -> None:
    """All or nothing: a crash mid-save leaves the previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, canvas_format.dumps(drawn), mode=0o644)


@dataclass(frozen=True)
class Mapped:
    """An example with its tasks named as the app names them (`map_to_app`)."""

    canvas: Canvas
    mapped: dict[str, str] = field(default_factory=dict)  # the example's name -> the app's
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # name -> candidates (0 or 2+)

    def summary(self) -> str:
        """What was mapped and what was not, for the builder's message line; "" if nothing."""
        parts = []
        if self.mapped:
            pairs = ", ".join(f"{old} → {new}" for old, new in self.mapped.items())
            parts.append(f"mapped {len(self.mapped)} task(s) to this app: {pairs}")
        if self.unmatched:
            names = ", ".join(
                name + (f" (several: {', '.join(found)})" if found else "")
                for name, found in self.unmatched.items()
            )
            parts.append(f"not in this app: {names}")
        return "; ".join(parts)


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def map_to_app(drawn: Canvas, app_tasks: Iterable[str]) -> Mapped:
    """The examples name the shipped demo app's tasks (`workers.tasks.t2`); opened on another
    app, each task the app does not register becomes the app's task of the same short name
    (`apis.tasks.t2`), or else of the tutorial's name for it (`demo1` ->
    `shared_task_demo1`, TUTORIAL_NAMES), when exactly one app task has that name. A task with
    no such match, or several, is left as it is, so the checks mark it unknown."""
    registered = set(app_tasks)
    by_short: dict[str, list[str]] = {}
    for name in sorted(registered):
        by_short.setdefault(_short(name), []).append(name)
    mapped: dict[str, str] = {}
    unmatched: dict[str, list[str]] = {}
    for position in canvas_edit.positions(drawn.root):
        node = canvas_edit.node_at(drawn.root, position)
        if not isinstance(node, TaskNode) or node.task in registered:
            continue
        if node.task in mapped or node.task in unmatched:
            continue
        short = _short(node.task)
        found = by_short.get(short) or by_short.get(TUTORIAL_NAMES.get(short, ""), [])
        if len(found) == 1:
            mapped[node.task] = found[0]
        else:
            unmatched[node.task] = found
    root = canvas_edit.rename_tasks(drawn.root, mapped) if mapped else drawn.root
    return Mapped(Canvas(drawn.name, root), mapped, unmatched)
