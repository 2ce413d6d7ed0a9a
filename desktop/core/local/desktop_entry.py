"""The panel in the desktop's application menu: a freedesktop `.desktop` file.

It starts the panel with this very interpreter from the checkout it was installed from (its
working directory is the checkout, where the built-in profile finds the tutorial's `workers`
app, as `make run` does), with the project's own icon. Written atomically; removed by name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from desktop.core.base.files import write_atomic

FILE_NAME = "celery-desk.desktop"
CHECKOUT = Path(__file__).resolve().parents[3]
ICON = CHECKOUT / "resources" / "icons" / "celery-desk.svg"


def applications_dir() -> Path:
    """Where a person's own menu entries live: $XDG_DATA_HOME/applications."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "applications"


def exec_argument(text: str) -> str:
    """One argument of an Exec line, quoted as the Desktop Entry Specification asks when it
    holds a space or a reserved character (inside quotes: \\", \\`, \\$ and \\\\)."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    if not any(c in reserved for c in text):
        return text
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in text)
    return f'"{escaped}"'


def entry_text(python: str = sys.executable, checkout: Path = CHECKOUT) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.5",
            "Name=Celery Desk",
            "GenericName=Celery control panel",
            "Comment=Workers, tasks, queues and failures of your Celery cluster",
            f"Exec={exec_argument(python)} -m desktop",
            f"Path={checkout}",
            f"Icon={checkout / 'resources' / 'icons' / 'celery-desk.svg'}",
            "Terminal=false",
            "Categories=Development;Monitor;",
            "StartupWMClass=celery-desk",
            "",
        ]
    )


def install(directory: Path | None = None) -> Path:
    path = (directory or applications_dir()) / FILE_NAME
    write_atomic(path, entry_text(), mode=0o644)
    return path


def uninstall(directory: Path | None = None) -> Path | None:
    """The entry removed, or None when there was none."""
    path = (directory or applications_dir()) / FILE_NAME
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path
