"""Colours and the one stylesheet, so every screen speaks the same visual language."""

from __future__ import annotations

STATE_COLOURS = {
    "connected": "#2e9d57",
    "connecting": "#d49a1c",
    "reconnecting": "#d49a1c",
    "failed": "#c8393b",
}
# Celery task states, the same colour on the tasks table and the builder's canvas.
TASK_STATE_COLOURS = {
    "SUCCESS": "#2e9d57",
    "FAILURE": "#c8393b",
    "STARTED": "#2f6fd6",
    "RECEIVED": "#7b5cc4",
    "RETRY": "#d49a1c",
    "REVOKED": "#6b7280",
    "PENDING": "#6b7280",
}
# A local worker's state (core/local/local_worker.py), on the Workers and Overview screens.
LOCAL_WORKER_COLOURS = {
    "starting": "#d49a1c",
    "online": "#2e9d57",
    "stopping": "#d49a1c",
    "stopped": "#6b7280",
    "crashed": "#c8393b",
    "unresponsive": "#c8393b",
}
# Beside every state colour a symbol, so a state never rests on colour alone (colour-blind
# people, a grey-scale print): the word is always written too.
STATE_SYMBOLS = {
    "online": "●",
    "offline": "○",
    "starting": "◐",
    "stopping": "◑",
    "stopped": "○",
    "crashed": "✗",
    "unresponsive": "⚠",
    "succeeded": "✓",
    "failed": "✗",
    "warning": "⚠",
}


def with_symbol(state: str) -> str:
    """ "● online", "✗ crashed": the state's symbol and its word."""
    symbol = STATE_SYMBOLS.get(state)
    return f"{symbol} {state}" if symbol else state


ERROR_COLOUR = "#c8393b"
WARNING_COLOUR = "#d49a1c"
MUTED_COLOUR = "#6b7280"

# Text larger than the body's is a multiple of the system's font size, never pixels: a person
# who set a larger font in their desktop gets larger headings too.
HEADING_SCALE = 1.25


def stylesheet(base_points: float) -> str:
    """The window's style for a system font of `base_points` (QApplication.font())."""
    return STYLESHEET.replace("{heading}", f"{base_points * HEADING_SCALE:.1f}pt")


STYLESHEET = f"""
QLabel[role="error"] {{ color: {ERROR_COLOUR}; }}
QLabel[role="muted"] {{ color: {MUTED_COLOUR}; }}
QLabel[role="warning"] {{
    background: #fdf3dc; color: #6b4a06; border: 1px solid {WARNING_COLOUR};
    border-radius: 4px; padding: 6px;
}}
QLabel[role="heading"], QLabel[role="big"] {{ font-size: {{heading}}; font-weight: 600; }}
QLabel[role="fact-key"] {{ color: {MUTED_COLOUR}; }}
QGroupBox {{ font-weight: 600; }}
QTableWidget {{ gridline-color: #e5e7eb; }}
QTreeWidget[role="views"]::item {{ padding: 4px 6px; }}
"""
