"""Colours and the one stylesheet, in a light and a dark theme, so every screen speaks the same
visual language in both.

A colour is named by its role ("ok", "error", "muted", ...), never by its value: `colour(role)`
answers in the theme shown now, so a model asked for a cell's colour at paint time follows a
switch at once, and a label styled by its `role` or `tone` property gets the new stylesheet's
colour. Every role's colour reads on its theme's base (WCAG AA, 4.5:1; tests/gui/test_theme.py
measures it). Which theme shows (the system's or the person's choice) is the shell's business
(desktop/ui/shell/appearance.py); a state's colour and symbol are desktop/ui/common/states.py's.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

LIGHT = {
    "window": "#f4f5f7",
    "base": "#ffffff",
    "alternate": "#f6f7f9",
    "text": "#1f2328",
    "button": "#eceef1",
    "highlight": "#2f6fd6",
    "highlighted-text": "#ffffff",
    "link": "#1d5fd0",
    "grid": "#e3e6ea",
    "ok": "#1a7f43",
    "error": "#c0282b",
    "warning": "#8a5a00",
    "running": "#1d5fd0",
    "received": "#6a4bbd",
    "muted": "#5f6670",
    "warning-bg": "#fdf3dc",
    "warning-fg": "#5c3d00",
    "warning-edge": "#d49a1c",
    "chart": "#ffffff",
    "frame": "#9ca3af",
    "edge": "#c7cdd6",
    "chain": "#eef4ff",
    "group": "#f0faf3",
    "chord": "#fdf6ec",
}
DARK = {
    "window": "#202226",
    "base": "#17181b",
    "alternate": "#1d1f22",
    "text": "#e6e8eb",
    "button": "#2c2f34",
    "highlight": "#3b78dd",
    "highlighted-text": "#ffffff",
    "link": "#7db3ff",
    "grid": "#33363c",
    "ok": "#4cc77c",
    "error": "#ff7b76",
    "warning": "#f0b93a",
    "running": "#6aa8ff",
    "received": "#b69cff",
    "muted": "#a0a7b1",
    "warning-bg": "#3a2e12",
    "warning-fg": "#f6d98e",
    "warning-edge": "#a87a16",
    "chart": "#17181b",
    "frame": "#6b7280",
    "edge": "#4a5059",
    "chain": "#1c2940",
    "group": "#17301f",
    "chord": "#3a2d18",
}
# The roles a text can be drawn in (on `base` or `window`): the ones the contrast test measures.
TEXT_ROLES = ("text", "link", "ok", "error", "warning", "running", "received", "muted")

_theme = {"dark": False}

# Text larger than the body's is a multiple of the system's font size, never pixels: a person
# who set a larger font in their desktop gets larger headings too.
HEADING_SCALE = 1.25


def is_dark() -> bool:
    return _theme["dark"]


def set_dark(dark: bool) -> None:
    """Which theme `colour` and `stylesheet` answer for (the shell's Appearance calls it)."""
    _theme["dark"] = dark


def colour(role: str, dark: bool | None = None) -> str:
    """The colour of `role` in the theme shown (or the one asked), as '#rrggbb'."""
    return (DARK if (is_dark() if dark is None else dark) else LIGHT)[role]


def contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two colours (1 to 21)."""

    def luminance(name: str) -> float:
        rgb = QColor(name)
        channels = (rgb.redF(), rgb.greenF(), rgb.blueF())
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def palette(dark: bool) -> QPalette:
    """Qt's palette for the theme: what every widget without a stylesheet rule is painted in."""
    c = DARK if dark else LIGHT
    p = QPalette()
    role = QPalette.ColorRole
    for slot, name in (
        (role.Window, "window"), (role.WindowText, "text"), (role.Base, "base"),
        (role.AlternateBase, "alternate"), (role.Text, "text"), (role.Button, "button"),
        (role.ButtonText, "text"), (role.Highlight, "highlight"),
        (role.HighlightedText, "highlighted-text"), (role.Link, "link"),
        (role.ToolTipBase, "base"), (role.ToolTipText, "text"), (role.BrightText, "error"),
        (role.PlaceholderText, "muted"),
    ):  # fmt: skip
        p.setColor(slot, QColor(c[name]))
    p.setColor(role.LinkVisited, QColor(c["received"]))
    p.setColor(role.Light, QColor(c["button"]).lighter(130))
    p.setColor(role.Midlight, QColor(c["button"]).lighter(115))
    p.setColor(role.Mid, QColor(c["grid"]))
    p.setColor(role.Dark, QColor(c["button"]).darker(150))
    p.setColor(role.Shadow, QColor("#000000"))
    disabled = QPalette.ColorGroup.Disabled
    for slot in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(disabled, slot, QColor(c["muted"]))
    return p


def stylesheet(base_points: float, dark: bool | None = None) -> str:
    """The window's style for a system font of `base_points` (QApplication.font()), in the
    theme shown (or the one asked)."""
    c = DARK if (is_dark() if dark is None else dark) else LIGHT
    tones = "\n".join(
        f'QLabel[tone="{role}"], QToolButton[tone="{role}"] {{ color: {c[role]}; }}'
        for role in ("ok", "error", "warning", "running", "received", "muted")
    )
    return f"""
QLabel[role="error"] {{ color: {c["error"]}; }}
QLabel[role="muted"] {{ color: {c["muted"]}; }}
QLabel[role="warning"] {{
    background: {c["warning-bg"]}; color: {c["warning-fg"]}; border: 1px solid {c["warning-edge"]};
    border-radius: 4px; padding: 6px;
}}
QLabel[role="heading"], QLabel[role="big"] {{
    font-size: {base_points * HEADING_SCALE:.1f}pt; font-weight: 600;
}}
QLabel[role="fact-key"] {{ color: {c["muted"]}; }}
{tones}
QLabel[strong="true"], QToolButton[strong="true"] {{ font-weight: 600; }}
QGroupBox, QGroupBox QGroupBox {{ font-weight: 600; }}
QGroupBox * {{ font-weight: normal; }}
QTableView {{ gridline-color: {c["grid"]}; }}
QTreeWidget[role="views"]::item {{ padding: 4px 6px; }}
"""


def set_tone(widget: QWidget, tone: str) -> None:
    """Colour a label (or tool button) by a role through the stylesheet, so it follows a theme
    switch; "" for the theme's text. Re-polished: Qt does not restyle on a property change."""
    if widget.property("tone") == tone:
        return
    widget.setProperty("tone", tone)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
