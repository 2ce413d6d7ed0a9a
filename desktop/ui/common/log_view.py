"""A live view of one log file: ring buffer, level colours, search, follow or pause."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFontDatabase,
    QKeyEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.common.accessible import explain
from desktop.ui.common.theme import colour

MAX_LINES = 5000
FIRST_READ_BYTES = 256 * 1024
LEVELS = [  # a line's pattern and its colour role in the theme
    (re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|Traceback|Error:"), "error"),
    (re.compile(r"\bWARNING\b"), "warning"),
    (re.compile(r"\bDEBUG\b"), "muted"),
    (re.compile(r"celery-desk\]"), "link"),
]


class LevelHighlighter(QSyntaxHighlighter):
    def highlightBlock(self, text: str) -> None:
        for pattern, role in LEVELS:
            if pattern.search(text):
                fmt = QTextCharFormat()
                fmt.setForeground(QColor(colour(role)))
                self.setFormat(0, len(text), fmt)
                return


class LogView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self._position = 0
        self._held: list[str] = []  # lines read while paused
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.title = QLabel("Select a worker to see its log.")
        self.title.setProperty("role", "muted")
        bar.addWidget(self.title, 1)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the log (Enter: next)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search the log")
        self.search.textChanged.connect(self._highlight_matches)
        self.search.returnPressed.connect(self.find_next)
        bar.addWidget(self.search, 1)
        self.matches = QLabel("")
        self.matches.setProperty("role", "muted")
        bar.addWidget(self.matches)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Off: the view holds still; new lines wait until you follow again")
        self.follow.toggled.connect(self._follow_toggled)
        bar.addWidget(self.follow)
        self.open_button = QPushButton("Open log file")
        explain(self.open_button, "Open the worker's whole log file in the system's viewer")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_file)
        bar.addWidget(self.open_button)
        layout.addLayout(bar)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        # The system's fixed-width font at its size: a larger desktop font, a larger log.
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("Worker log")
        self.highlighter = LevelHighlighter(self.text.document())
        layout.addWidget(self.text)
        self._timer = QTimer(self)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.poll)

    def set_source(self, path: Path | None, title: str = "") -> None:
        if path == self.path:
            return
        self.path = path
        self._position = 0
        self._held = []
        self.text.clear()
        self.open_button.setEnabled(path is not None)
        self.title.setText(title or ("Select a worker to see its log." if path is None else ""))
        if path is None:
            self._timer.stop()
            return
        self.poll(first=True)
        self._timer.start()

    def poll(self, first: bool = False) -> None:
        """Read what the file gained; a file that shrank was rotated or restarted."""
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                if size < self._position:
                    self._position = 0
                    self.text.appendPlainText("— log restarted —")
                start = max(self._position, size - FIRST_READ_BYTES) if first else self._position
                handle.seek(start)
                chunk = handle.read(size - start)
        except OSError:
            return
        if not chunk:
            return
        # Only whole lines: a line being written is read on the next tick.
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            return
        self._position = start + cut
        lines = chunk[:cut].decode("utf-8", "replace").splitlines()
        if first and start > 0:
            lines = lines[1:]  # the first line was cut in half
        if not self.follow.isChecked():
            self._held.extend(lines)
            self._held = self._held[-MAX_LINES:]
            self.matches.setText(f"paused, {len(self._held)} new lines")
            return
        self._append(lines)

    def _append(self, lines: list[str]) -> None:
        if not lines:
            return
        self.text.appendPlainText("\n".join(lines[-MAX_LINES:]))
        self.text.moveCursor(QTextCursor.MoveOperation.End)
        self.text.ensureCursorVisible()
        self.text.horizontalScrollBar().setValue(0)  # line starts (time, level) stay in view
        if self.search.text():
            self._highlight_matches(self.search.text())

    def _follow_toggled(self, on: bool) -> None:
        if on:
            held, self._held = self._held, []
            self.matches.setText("")
            self._append(held)

    def _highlight_matches(self, needle: str) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        if needle:
            document = self.text.document()
            cursor = document.find(needle, 0)
            while not cursor.isNull() and len(selections) < 1000:
                selection = QTextEdit.ExtraSelection()
                selection.cursor = cursor
                selection.format.setBackground(QColor("#fde68a"))
                selection.format.setForeground(QColor("#1f2328"))  # dark on yellow, both themes
                selections.append(selection)
                cursor = document.find(needle, cursor)
        self.text.setExtraSelections(selections)
        if needle:
            self.matches.setText(
                f"{len(selections)} match" + ("" if len(selections) == 1 else "es")
            )
        elif not self._held:
            self.matches.setText("")

    def find_next(self) -> None:
        needle = self.search.text()
        if not needle:
            return
        if not self.text.find(needle):
            self.text.moveCursor(QTextCursor.MoveOperation.Start)
            self.text.find(needle, QTextDocument.FindFlag(0))

    def open_file(self) -> None:
        if self.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.path)))

    def stop(self) -> None:
        self._timer.stop()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Ctrl+F focuses the search
        if event.key() == Qt.Key.Key_F and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.search.setFocus()
            return
        super().keyPressEvent(event)
