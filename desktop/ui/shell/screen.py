"""What the main window knows of a screen: its title, its widget, and what it needs from the
session. The window registers every screen through `wire`, the same way.

Why a record of callables and not methods every panel must have: a screen says only what it
needs (the Charts screen has no use for the connection's facts, the Tasks screen no use for
diffs it reads from its journal), and a new screen is one `Screen(...)` in the window, never
another copy of per-screen wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QWidget

from desktop.core.app.config import Drift
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.opening import ConnectionFacts
from desktop.ui.session.session import Session


@dataclass(frozen=True)
class Screen:
    """One tab of the window and the session's news it is told about."""

    title: str
    widget: QWidget
    # Another profile was opened: forget what was shown of the previous one.
    profile_switched: Callable[[], None] | None = None
    # A StateDiff of the current profile's live state (workers, tasks, queues seen).
    diffs: Callable[[Any], None] | None = None
    # What the connection test found (the broker, its kind, the result backend).
    facts: Callable[[ConnectionFacts], None] | None = None
    # The app's configuration as read, and why it could not be imported ("" when it was).
    app_config: Callable[[EffectiveConfig, str], None] | None = None
    # What changed in the app's configuration since the profile last read it.
    drift: Callable[[Drift], None] | None = None
    # Journal rows that learned something off the broker ({task id: row}).
    rows_learned: Callable[[Any], None] | None = None


def wire(screen: Screen, session: Session) -> None:
    """Connect the session's signals to what `screen` asked for, nothing more."""
    if screen.profile_switched is not None:
        switched = screen.profile_switched
        session.profile_switched.connect(lambda _name: switched())
    if screen.diffs is not None:
        session.diff_ready.connect(screen.diffs)
    if screen.facts is not None:
        session.facts_changed.connect(screen.facts)
    if screen.app_config is not None:
        session.app_config_changed.connect(screen.app_config)
    if screen.drift is not None:
        session.drift_changed.connect(screen.drift)
    if screen.rows_learned is not None:
        session.rows_learned.connect(screen.rows_learned)
