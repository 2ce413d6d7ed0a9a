"""The README's animated tour: the real window driven through the Overview's guided first run and
a Builder send, a frame grabbed every half second, written as a small looping GIF.

Called by scripts/screenshots.py before its screenshots (the guide only shows on a profile with
no tasks yet); it needs Pillow (the test extra). Frames are the window's own pixels
(QWidget.grab), scaled to WIDTH px, a caption band added; frames that did not change are merged
and the whole is paced to about SECONDS, with one palette shared by every frame so the GIF stays
small and nothing flickers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH = 960
SECONDS = 20.0
EVERY_MS = 500
LONGEST_MS = 2500  # a frame nothing changes in is not held longer (played back)
COLOURS = 128
SAMPLED = 12  # frames the shared palette is made from
FILE = "tour.gif"


@dataclass
class Recorder:
    """Grabs the window every EVERY_MS while the Qt loop runs, with the caption of the step."""

    window: Any
    caption: str = ""
    frames: list[tuple[Any, str]] = field(default_factory=list)  # (QImage, caption)
    timer: Any = None

    def start(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(EVERY_MS)
        self.timer.timeout.connect(self.grab)
        self.timer.start()
        self.grab()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()

    def grab(self) -> None:
        from PySide6.QtCore import Qt

        image = self.window.grab().toImage()
        scaled = image.scaledToWidth(WIDTH, Qt.TransformationMode.SmoothTransformation)
        self.frames.append((scaled, self.caption))


def pump(app: Any, seconds: float, until: Callable[[], bool] | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if until is not None and until():
            return True
        app.processEvents()
        time.sleep(0.02)
    return until is None or until()


def press(app: Any, recorder: Recorder, button: Any, caption: str) -> None:
    """Show the focus on the button for a moment (no pointer offscreen), then click it."""
    recorder.caption = caption
    button.setFocus()
    pump(app, 0.8)
    button.click()


def finished_tasks(session: Any) -> int:
    from desktop.core.monitor.task_query import TaskQuery

    journal = session.journal
    if journal is None:
        return 0
    return sum(journal.count(TaskQuery(state=s)) for s in ("SUCCESS", "FAILURE"))


def drive(app: Any, session: Any, window: Any, recorder: Recorder) -> bool:
    """The guided first run, Tasks, Queues, then the chain example sent from the Builder."""
    from desktop.core.canvas import library as canvas_library

    guide = window.overview.guide
    window.tabs.setCurrentWidget(window.overview)
    if not pump(app, 15, guide.isVisible):
        return False
    recorder.caption = "Celery Desk on its embedded Redis: the Overview guides a first run"
    pump(app, 2.0)
    caption = "1. Start the tutorial's workers: real celery processes"
    press(app, recorder, guide.start_button, caption)
    if not pump(app, 45, lambda: "workers online" in guide.start_said.text()):
        return False
    pump(app, 1.0)
    caption = "2. Run the tutorial's examples: group, chain s()/si(), priority"
    press(app, recorder, guide.run_button, caption)
    if not pump(app, 20, lambda: "sent" in guide.run_said.text()):
        return False
    sent = int(guide.run_said.text().split(", ")[1].split()[0])
    pump(app, 40, lambda: finished_tasks(session) >= sent)
    pump(app, 1.5)
    caption = "3. See them in Tasks: every task, live from the events"
    press(app, recorder, guide.tasks_button, caption)
    pump(app, 3.0)
    window.tabs.setCurrentWidget(window.overview)
    press(app, recorder, guide.queues_button, "…and in Queues: what waits, in delivery order")
    pump(app, 3.0)
    builder = window.builder
    recorder.caption = "Builder: the tutorial's chain, s() and si(), sent and coloured live"
    window.tabs.setCurrentWidget(builder)
    builder.load_file(canvas_library.EXAMPLES_DIR / "chain-s-and-si.json")
    builder.view.zoom_to_fit()
    pump(app, 2.0)
    builder.send_button.setFocus()
    pump(app, 0.6)
    builder.send_button.click()
    done_states = ("SUCCESS", "FAILURE", "REVOKED")

    def done() -> bool:
        states = builder.view.states.values()
        return bool(states) and all(s.state in done_states for s in states)

    sent_ok = pump(app, 30, done)
    builder.view.select((1,))
    pump(app, 2.5)
    return sent_ok


def captioned(image: Any, caption: str) -> Any:
    """The frame with a caption band along its bottom edge."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QPainter

    framed = image.copy()
    if not caption:
        return framed
    painter = QPainter(framed)
    band = QRect(0, framed.height() - 34, framed.width(), 34)
    painter.fillRect(band, QColor(17, 24, 39, 225))
    font = QFont()
    font.setPixelSize(16)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(band.adjusted(14, 0, -14, 0), Qt.AlignmentFlag.AlignVCenter, caption)
    painter.end()
    return framed


def to_pil(image: Any) -> Any:
    from PIL import Image
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())
    return Image.frombuffer(
        "RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1
    )


def write_gif(frames: list[tuple[Any, str]], path: Path) -> tuple[int, float]:
    """Merge unchanged frames, pace to SECONDS, one shared palette; (frames, seconds) written."""
    from PIL import Image

    shots = [to_pil(captioned(image, caption)) for image, caption in frames]
    kept: list[Any] = []
    held: list[int] = []
    for shot in shots:
        if kept and shot.tobytes() == kept[-1].tobytes():
            held[-1] = min(held[-1] + EVERY_MS, LONGEST_MS)
        else:
            kept.append(shot)
            held.append(EVERY_MS)
    scale = SECONDS * 1000 / sum(held)
    durations = [max(100, round(ms * scale / 10) * 10) for ms in held]  # GIF counts in 1/100 s
    durations[-1] = max(durations[-1], 2500)  # the last frame stays before the loop restarts
    # The palette from frames spread over the whole tour, the last one included, so the
    # colours that only come at the end (the Builder's finished tasks) have their own.
    count = min(len(kept), SAMPLED)
    picked = sorted({round(i * (len(kept) - 1) / max(count - 1, 1)) for i in range(count)})
    sample = Image.new("RGB", (kept[0].width, kept[0].height * len(picked)))
    for row, index in enumerate(picked):
        sample.paste(kept[index], (0, row * kept[0].height))
    palette = sample.quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    reduced = [shot.quantize(palette=palette, dither=Image.Dither.NONE) for shot in kept]
    path.parent.mkdir(parents=True, exist_ok=True)
    reduced[0].save(
        path,
        save_all=True,
        append_images=reduced[1:],
        duration=durations,
        loop=0,
        optimize=True,
        disposal=1,
    )
    return len(reduced), sum(durations) / 1000


def record(app: Any, session: Any, window: Any, out: Path) -> bool:
    """Drive the tour and write OUT/tour.gif; True when every step happened."""
    recorder = Recorder(window)
    recorder.start()
    try:
        ok = drive(app, session, window, recorder)
    finally:
        recorder.stop()
    count, seconds = write_gif(recorder.frames, out / FILE)
    size = (out / FILE).stat().st_size
    print(f"tour: {len(recorder.frames)} grabs -> {count} frames, {seconds:.1f} s, "
          f"{size / 1e6:.2f} MB, every step done: {ok}")  # fmt: skip
    return ok
