"""Files and folders are chosen with the platform's own dialog (issue 17): Qt's static
QFileDialog calls use it unless told not to, so no code may tell them not to, nor build a
QFileDialog of its own (whose options could)."""

from __future__ import annotations

import re
from pathlib import Path

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"
STATIC = re.compile(r"QFileDialog\.(getOpenFileName|getSaveFileName|getExistingDirectory)\(")


def test_every_file_chooser_is_the_native_static_dialog() -> None:
    sources = {p: p.read_text() for p in DESKTOP.rglob("*.py")}
    refused = [
        f"{path.relative_to(DESKTOP)}: {what}"
        for path, text in sources.items()
        for what in ("DontUseNativeDialog", "QFileDialog(", "QFileDialog.Option")
        if what in text
    ]
    assert refused == []
    choosers = sum(len(STATIC.findall(text)) for text in sources.values())
    assert choosers >= 5  # the profile's folder and interpreter, the Overview's project folder,
    # the Builder's Open and Save as: each a static call
