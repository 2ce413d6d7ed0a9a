"""Regenerate the README screenshots: the real window on the embedded broker, one PNG per tab.

Usage: scripts/screenshots.py [OUT_DIR]   (default docs/screenshots)

Run with `make screenshots` (offscreen) or under Xvfb with QT_QPA_PLATFORM=xcb. It uses a
throw-away config dir, so the person's own profiles and broker are never touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-shots-"))
    os.environ["CELERY_DESK_CONFIG_DIR"] = str(scratch / "config")
    os.environ["CELERY_DESK_SECRETS"] = "file"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window
    from desktop.core.services import Services
    from desktop.ui.theme import STYLESHEET

    app = QApplication(sys.argv)
    app.setStyleSheet(STYLESHEET)
    services = Services.open()
    session, window = build_window(services)
    window.resize(1180, 720)
    window.show()
    session.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        session.state != "connected" or session.app_config is None
    ):
        app.processEvents()
        time.sleep(0.02)
    out.mkdir(parents=True, exist_ok=True)
    names = ["workers", "builder", "tasks", "queues"]
    for index, name in enumerate(names):
        window.tabs.setCurrentIndex(index)
        for _ in range(20):
            app.processEvents()
        window.grab().save(str(out / f"{name}.png"))
    dialog = window.edit_profile()
    for _ in range(20):
        app.processEvents()
    dialog.grab().save(str(out / "profile-dialog.png"))
    dialog.reject()
    window.close()
    session.shutdown()
    print(f"state: {session.state}; wrote {len(names) + 1} screenshots to {out}")
    return 0 if session.state == "connected" else 1


if __name__ == "__main__":
    sys.exit(main())
