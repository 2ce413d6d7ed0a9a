"""Splitters remember where the person put them.

Every splitter of the window is made by `remembered_splitter` with a name unique in the
window; its state (the sizes of its parts) is kept in the window's settings under
`splitters/<name>`, saved on quit and restored on start, as table headers are
(common/table_state.py). A state saved for another number of parts is ignored, not half
applied, and a part dragged shut stays shut.

Why on the first resize: a splitter restored before it has a size (the window is built
before it shows, and a screen's splitter has none until its tab is opened) gets its parts
scaled again from nothing when it is laid out. So the state is applied when the splitter
first gets its real size, and only a splitter that has been laid out is saved: one on a
tab not opened this time keeps what was saved before, not the sizes of a splitter never shown.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt
from PySide6.QtWidgets import QSplitter, QWidget

SETTINGS_GROUP = "splitters"
LAID_OUT = "splitterLaidOut"  # a dynamic property: this splitter has had a real size


def remembered_splitter(orientation: Qt.Orientation, name: str) -> QSplitter:
    """A splitter whose sizes the window keeps across restarts, under `name`."""
    splitter = QSplitter(orientation)
    splitter.setObjectName(name)
    return splitter


def _named_splitters(root: QWidget) -> list[QSplitter]:
    return [s for s in root.findChildren(QSplitter) if s.objectName()]


class _FirstResize(QObject):
    """Applies a splitter's saved state when it first gets a size, then lets go."""

    def __init__(self, splitter: QSplitter, state: QByteArray | None) -> None:
        super().__init__(splitter)
        self.state = state
        splitter.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Resize
            and isinstance(watched, QSplitter)
            and watched.width() > 0
            and watched.height() > 0
        ):
            watched.removeEventFilter(self)
            if self.state is not None:
                watched.restoreState(self.state)
            watched.setProperty(LAID_OUT, True)
            self.deleteLater()
        return False


def save_splitters(root: QWidget, settings: QSettings) -> None:
    for splitter in _named_splitters(root):
        if not splitter.property(LAID_OUT):
            continue  # never shown this time: what was saved before stays
        key = f"{SETTINGS_GROUP}/{splitter.objectName()}"
        settings.setValue(key, splitter.saveState())
        settings.setValue(f"{key}/parts", splitter.count())


def restore_splitters(root: QWidget, settings: QSettings) -> None:
    for splitter in _named_splitters(root):
        key = f"{SETTINGS_GROUP}/{splitter.objectName()}"
        state, parts = settings.value(key), settings.value(f"{key}/parts")
        fits = isinstance(state, QByteArray) and str(parts) == str(splitter.count())
        _FirstResize(splitter, state if fits and isinstance(state, QByteArray) else None)
