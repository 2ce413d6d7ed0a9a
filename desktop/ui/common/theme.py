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
ERROR_COLOUR = "#c8393b"
WARNING_COLOUR = "#d49a1c"
MUTED_COLOUR = "#6b7280"

STYLESHEET = f"""
QLabel[role="error"] {{ color: {ERROR_COLOUR}; }}
QLabel[role="muted"] {{ color: {MUTED_COLOUR}; }}
QLabel[role="warning"] {{
    background: #fdf3dc; color: #6b4a06; border: 1px solid {WARNING_COLOUR};
    border-radius: 4px; padding: 6px;
}}
QLabel[role="heading"] {{ font-size: 15px; font-weight: 600; }}
QLabel[role="fact-key"] {{ color: {MUTED_COLOUR}; }}
QGroupBox {{ font-weight: 600; }}
QTableWidget {{ gridline-color: #e5e7eb; }}
QTreeWidget[role="views"]::item {{ padding: 4px 6px; }}
"""
