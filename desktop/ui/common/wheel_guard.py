"""Spin boxes, combo boxes and sliders take the mouse wheel only once focused.

Scrolling a long form with the wheel otherwise changes whatever value passes under the
pointer (a restore interval went from 10 s to 1 s while a person scrolled the profile dialog).
A guarded control hands the wheel to the scroll area around it until it has focus (or, with
none, ignores it so that Qt offers it to its parents); a click or Tab gives it focus, and then
the wheel changes it as usual.
One filter object for every guarded control: only their events pass through Python.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() != QEvent.Type.Wheel
            or not isinstance(watched, QWidget)
            or watched.hasFocus()
        ):
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()  # Qt offers an ignored (real) wheel event to the parents
        else:
            QApplication.sendEvent(area.viewport(), event)  # the form scrolls
            event.accept()
        return True


_guard: _WheelGuard | None = None


def wheel_only_when_focused(root: QWidget) -> None:
    """Guard every spin box, combo box and slider under `root` (and `root` itself); call it
    again after building more controls: a control is guarded once."""
    global _guard
    if _guard is None:
        _guard = _WheelGuard()
    controls = [root] if isinstance(root, GUARDED) else []
    for kind in GUARDED:
        controls += root.findChildren(kind)
    for control in controls:
        if isinstance(control, QScrollBar) or control.property("wheel_guarded"):
            continue  # a scroll bar is what the wheel is handed to
        control.setProperty("wheel_guarded", True)
        # The wheel no longer focuses it (Qt's WheelFocus): a click or Tab does.
        control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        control.installEventFilter(_guard)
