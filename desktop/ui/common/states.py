"""Every state the panel shows, with its colour role and its symbol: the one home.

A state never rests on colour alone (colour-blind people, a grey-scale print): beside its colour
it carries a symbol, and its word is always written too ("✓ SUCCESS", "● online"). Celery's
task states are upper case, the panel's worker and connection states lower case, so one table
holds both. The colour is a role of the theme shown (desktop/ui/common/theme.py)."""

from __future__ import annotations

from desktop.ui.common.theme import colour

# state: (colour role, symbol)
STATES: dict[str, tuple[str, str]] = {
    # Celery task states (the Tasks table, the Builder's canvas, the Overview, Failures)
    "SUCCESS": ("ok", "✓"),
    "FAILURE": ("error", "✗"),
    "STARTED": ("running", "▶"),
    "RECEIVED": ("received", "↓"),
    "RETRY": ("warning", "↻"),
    "REVOKED": ("muted", "⊘"),
    "REJECTED": ("muted", "⊘"),
    "PENDING": ("muted", "◌"),
    # workers (seen on the broker, and local ones: core/local/local_worker.py)
    "online": ("ok", "●"),
    "offline": ("error", "○"),
    "starting": ("warning", "◐"),
    "stopping": ("warning", "◑"),
    "stopped": ("muted", "○"),
    "crashed": ("error", "✗"),
    "unresponsive": ("error", "⚠"),
    # the connection to the broker
    "connected": ("ok", "●"),
    "connecting": ("warning", "◐"),
    "reconnecting": ("warning", "↻"),
    # alerts (core/monitor/alerts.py)
    "firing": ("error", "⚠"),
    "resolved": ("ok", "✓"),
    # outcomes (the audit's "ok" and "failed") and those said in sentences
    "ok": ("ok", "✓"),
    "succeeded": ("ok", "✓"),
    "failed": ("error", "✗"),
    "warning": ("warning", "⚠"),
}
STATE_SYMBOLS = {state: symbol for state, (_role, symbol) in STATES.items()}


def state_role(state: str) -> str:
    """The colour role of `state` ("muted" for one the panel does not know)."""
    return STATES.get(state, ("muted", ""))[0]


def state_colour(state: str) -> str:
    """The colour of `state` in the theme shown."""
    return colour(state_role(state))


def with_symbol(state: str) -> str:
    """ "● online", "✗ FAILURE": the state's symbol and its word."""
    symbol = STATE_SYMBOLS.get(state)
    return f"{symbol} {state}" if symbol else state
