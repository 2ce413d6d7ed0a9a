"""The real window on a real X server (Xvfb, Qt's xcb platform), as `make run` shows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(480)  # the script shoots every screen twice and records the tour
def test_screenshot_script_under_xvfb(tmp_path: Path) -> None:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    display = f":{os.getpid() % 1000 + 100}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            assert xvfb.poll() is None, "Xvfb exited"
            assert time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "screenshots.py"), str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "state: connected" in result.stdout
        shots = sorted(p.name for p in tmp_path.glob("*.png"))
        light = [
            "alert-rules.png",
            "alerts-log.png",
            "audit.png",
            "beat.png",
            "builder-1.png",
            "builder-10.png",
            "builder-50.png",
            "builder.png",
            "charts.png",
            "failures.png",
            "overview.png",
            "profile-dialog.png",
            "queues.png",
            "tasks.png",
            "why-dialog.png",
            "worker-dialog.png",
            "workers.png",
        ]
        # every shot in the light theme and the dark one, and the README's tour
        assert shots == sorted(light + [name.replace(".png", "-dark.png") for name in light])
        assert (tmp_path / "tour.gif").stat().st_size > 10_000
        from PySide6.QtGui import QImage

        image = QImage(str(tmp_path / "workers.png"))
        assert image.width() >= 1000 and image.height() >= 600
        colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, 200, 7)}
        assert len(colours) > 5, "the window rendered as a blank image"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
