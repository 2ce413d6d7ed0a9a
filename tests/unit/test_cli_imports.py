"""A command of `celery-desk` never pays for Qt: the CLI loads PySide6, qasync and the UI only
when it opens the window (no command). import-linter's contract lets `desktop.cli.base` import
`desktop.app` because that import sits inside `cli()`; this checks it stays there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QT_SIDE = ("PySide6", "shiboken6", "qasync", "pyqtgraph", "desktop.ui", "desktop.app")

# Prints the modules of QT_SIDE (given as arguments) that are loaded once IMPORTS have run.
LOADED = """
import json, sys
IMPORTS
print(json.dumps(sorted(
    m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in sys.argv[1:])
)))
"""


def _loaded_after(imports: str) -> list[str]:
    """The Qt-side modules loaded in a fresh interpreter after `imports` (this process has
    PySide6 already, from pytest-qt)."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED.replace("IMPORTS", imports), *QT_SIDE],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return list(json.loads(done.stdout))


def test_importing_the_cli_loads_no_qt() -> None:
    assert _loaded_after("import desktop.__main__, desktop.cli") == []


def test_the_check_sees_qt_when_it_is_loaded() -> None:
    """The same check names desktop.app and PySide6 once the window's module is imported."""
    loaded = _loaded_after("import desktop.app")
    assert "desktop.app" in loaded
    assert any(m.startswith("PySide6") for m in loaded)
