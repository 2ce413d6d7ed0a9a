"""The Builder's palette: the tasks of the app read in a child process (never imported here)
and of `inspect registered`, and what the workers consume, kept as the profile changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel
from PySide6.QtWidgets import QLabel, QTreeView

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker import control
from desktop.core.opening import ConnectionFacts
from desktop.ui.builder.palette import PaletteModel
from desktop.ui.builder.panel_files import PanelFiles

INSPECT = "inspect"  # the palette's one job: a newer profile cancels it


class PanelPalette(PanelFiles):
    """Read the app's tasks and its workers' into the palette."""

    # set by BuilderPanel.__init__
    registered: dict[str, list[str]]
    consumed: frozenset[str] | None
    palette_model: PaletteModel
    proxy: QSortFilterProxyModel
    tree: QTreeView
    status: QLabel
    _check: Callable[[], None]  # the checks, BuilderPanel's

    # -- app, facts, inspect ------------------------------------------------------------------
    def forget_profile(self) -> None:
        """A profile was (re)opened: the palette's tasks came from the previous one's app and
        workers, so it empties until this one's app is read and its workers answer."""
        self._jobs.cancel(INSPECT)  # the previous profile's workers: never shown
        self.config = None
        self.registered = {}
        self.consumed = None
        self._show_status("Reading the Celery app…", error=False)
        self._fill_palette()
        self._map_example_opened_early()
        self._check()
        self._use_profile_draft()

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        self.config = config
        if error:
            self._show_status(
                f"Could not read the app: {error}. Sending uses Celery's defaults; tasks are "
                "known only from workers.",
                error=True,
            )
        else:
            text = f"{len(config.tasks)} tasks registered by '{config.main}'"
            self._show_status(text, error=False)
        self._fill_palette()
        self._check()
        self._inspect_if_visible()

    def _show_status(self, text: str, *, error: bool) -> None:
        self.status.setText(text)
        self.status.setProperty("role", "error" if error else "muted")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def show_facts(self, facts: ConnectionFacts) -> None:
        self.consumed = None
        self._check()
        if facts.report.ok:
            self._inspect_if_visible(force=True)

    def _fill_palette(self) -> None:
        self.palette_model.set_tasks(self.config.tasks if self.config else [], self.registered)
        self.tree.expandAll()

    def _inspect_if_visible(self, force: bool = False) -> None:
        if self._jobs.running(INSPECT) or not (force or self.isVisible()):
            return
        if self.session.app_config is None or (self.session.state != "connected" and not force):
            return  # the app's control exchange is where its workers listen
        self._jobs.run(INSPECT, self._inspect())

    async def _inspect(self) -> None:
        """`inspect registered` and `active_queues`: the tasks workers know, the queues they
        consume. A failure leaves the palette as it was (the app's own tasks stay)."""
        try:
            registered, consumed = await self.session.with_app(control.registered_and_consumed)
        except Exception:  # a broker gone or not answering: the next show or facts ask again
            return
        changed = registered != self.registered
        self.registered = registered
        self.consumed = frozenset(consumed) if registered else frozenset()
        if changed:
            self._fill_palette()
        self._check()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._inspect_if_visible()

    def _filter_palette(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self.tree.expandAll()
