"""The Tasks screen's saved views: a list beside the table, each view with its live count.

A click puts the view's query in the search box (the person sees it and can edit it) and its
sort and columns on the table (`chosen`). The views are the profile's (saved_views: a TOML
file read and written off the GUI thread); a damaged file shows its problem above the list and
the default views below it.

Counts are read off the GUI thread (`Jobs`) on a read-only connection of the sidebar's own
(`JournalReader`, opened off the GUI thread like the table's): in WAL, readers never wait for
each other, so a slow count (the Slow view's, 0.8 s at a million tasks) never holds up a page
the table asks for, as it would on the table's connection, whose reads take turns. They are
asked for when the table's rows change (a reload, a live batch), coalesced to one round every
COUNT_EVERY_S, and only while the list is on screen. A computed view (Slow) makes its query
from the journal, and counts it, at most every SLOW_EVERY_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.saved_views import (
    SLOW_SAMPLE,
    SavedView,
    ViewList,
    ViewsLoaded,
    load_views,
    save_views,
    slow_query,
    views_path,
)
from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from desktop.core.settings.config_errors import ConfigFileError
from desktop.core.settings.profile_model import DEFAULT_PROFILE_NAME
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.theme import colour
from desktop.ui.session.session import Session
from desktop.ui.tasks.model import TasksModel

COUNT_EVERY_S = 3.0
SLOW_EVERY_S = 60.0
NO_SLOW = "No succeeded task with a runtime in the journal yet: nothing to call slow."


def _slow_of(reader: HistoryReader) -> str | None:
    """The Slow view's query, on a job thread (the p99s of up to SLOW_SAMPLE runtimes)."""
    return slow_query(reader.recent_runtimes(SLOW_SAMPLE))


class ViewsSidebar(QWidget):
    chosen = Signal(object)  # SavedView, its query made (a computed view's, from the journal)

    def __init__(
        self,
        session: Session,
        model: TasksModel,
        current: Callable[[], SavedView],
        parent: QWidget | None = None,
    ) -> None:
        """`current()` is the screen's search as a view (no name yet), for "Save search"."""
        super().__init__(parent)
        self.session = session
        self.model = model
        self.current = current
        self.jobs = Jobs(self)
        self.views = ViewList()
        self.path: Path | None = None
        self._slow: tuple[float, str | None] | None = None  # when made, the query
        self._slow_count: tuple[str, str] | None = None  # the query counted, the count shown
        self.slot = JournalSlot(self.jobs, "the views' counts", fall_back=False)
        self._last_round = 0.0
        self._stale = False  # rows changed while the list was not on screen

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Views")
        title.setProperty("role", "heading")
        layout.addWidget(title)
        self.note = QLabel()
        self.note.setProperty("role", "error")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        layout.addWidget(self.note)
        self.list = QTreeWidget()
        self.list.setColumnCount(2)
        self.list.setHeaderHidden(True)
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        explain(self.list, "Saved searches: click one to show its tasks", "Saved views")
        self.list.setProperty("role", "views")  # roomier rows (theme)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.list.itemClicked.connect(lambda item, _column: self.choose(item.text(0)))
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the current search, sort and columns as a view")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete")
        explain(self.rename_button, "Give the selected view another name")
        explain(self.delete_button, "Delete the selected view (its tasks stay)")
        for button in (self.save_button, self.rename_button, self.delete_button):
            # Their share of the sidebar's width, not their text's: the sidebar must not
            # widen the window's least width (the Tasks screen shares it with every screen).
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.save_button.clicked.connect(self._ask_save)
        self.rename_button.clicked.connect(self._ask_rename)
        self.delete_button.clicked.connect(self._ask_delete)

        self._round_timer = QTimer(self)
        self._round_timer.setSingleShot(True)
        self._round_timer.timeout.connect(lambda: self.jobs.run_again("counts", self._count_round))
        model.loaded.connect(self.schedule_counts)
        session.diff_ready.connect(lambda _diff: self.schedule_counts())
        session.history_rows.connect(lambda _rows: self.schedule_counts())
        session.journal_changed.connect(self._journal_changed)
        session.profile_switched.connect(lambda _name: self.load())
        self.load()

    # -- the list ---------------------------------------------------------------------------
    def load(self) -> None:
        """The profile's views, read off the GUI thread."""
        self.jobs.run("load", self._load())

    async def _load(self) -> None:
        services, profile = self.session.services, self.session.profile

        def read() -> ViewsLoaded:
            name = profile.name if profile is not None else DEFAULT_PROFILE_NAME
            if profile is None:  # a damaged profiles.toml is the window's to say: built-in's
                with contextlib.suppress(ConfigFileError):
                    name = services.profiles.active_name()
            return load_views(views_path(services.paths, name))

        loaded = await Jobs.blocking(read)
        self.path = loaded.path
        self._say(loaded.problem)
        self._show(loaded.views)

    def _show(self, views: tuple[SavedView, ...]) -> None:
        counts = {v.name: self.count_of(v.name) for v in self.views.views}
        self.views = ViewList(list(views))
        self.list.clear()
        for view in views:
            item = QTreeWidgetItem([view.name, counts.get(view.name, "")])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setForeground(1, QColor(colour("muted")))
            tip = "Runtime past the p99 of its task name" if view.computed else view.query
            item.setToolTip(0, tip or "(every task)")
            self.list.addTopLevelItem(item)
        self._last_round = 0.0
        self.schedule_counts()

    def _item(self, name: str) -> QTreeWidgetItem | None:
        found = self.list.findItems(name, Qt.MatchFlag.MatchExactly, 0)
        return found[0] if found else None

    def _say(self, problem: str | None) -> None:
        self.note.setText(problem or "")
        self.note.setVisible(bool(problem))

    def count_of(self, name: str) -> str:
        """The count the list shows for the view ("" until read, "?" when unreadable)."""
        item = self._item(name)
        return item.text(1) if item is not None else ""

    # -- choosing a view --------------------------------------------------------------------
    def choose(self, name: str) -> None:
        view = self.views.named(name)
        if view is None:
            return
        if not view.computed:
            self.chosen.emit(view)
            return
        self.jobs.run("choose", self._choose_computed(view))

    async def _choose_computed(self, view: SavedView) -> None:
        query = await self._computed_query(force=True)
        if query is None:
            self._say(NO_SLOW)
            return
        self._say(None)
        self.chosen.emit(replace(view, query=query))

    async def _computed_query(self, *, force: bool = False) -> str | None:
        """The Slow view's query, made again when older than SLOW_EVERY_S (or `force`)."""
        if self._slow is not None and not force:
            made, query = self._slow
            if time.monotonic() - made < SLOW_EVERY_S:
                return query
        reader = await self.reader()
        if reader is None:
            return None
        query = await Jobs.blocking(_slow_of, reader)
        self._slow = (time.monotonic(), query)
        return query

    async def reader(self) -> HistoryReader | None:
        """The sidebar's read-only connection to the table's journal (JournalSlot, without
        falling back on the recorder's connection: no counts rather than taking turns)."""
        if self.slot.journal is not self.model.journal:
            self.slot.set_journal(self.model.journal)
        return await self.slot.reader()

    # -- counts -----------------------------------------------------------------------------
    def schedule_counts(self) -> None:
        """One round of counts soon: at most one every COUNT_EVERY_S, however many ask."""
        if not self.isVisible():
            self._stale = True
            return
        if self._round_timer.isActive():
            return
        wait = max(0.0, self._last_round + COUNT_EVERY_S - time.monotonic())
        self._round_timer.start(int(wait * 1000))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.schedule_counts()

    def _journal_changed(self, journal: object) -> None:
        """Another journal (or none): what was counted goes, and a connection to a journal
        no longer shown is closed (off the GUI thread)."""
        self.jobs.cancel("counts")
        if journal is None:
            self.slot.set_journal(None)
        self._slow = self._slow_count = None
        for view in self.views.views:
            self._show_count(view.name, "", None)
        self._last_round = 0.0

    async def _count_round(self) -> None:
        self._last_round = time.monotonic()
        reader = await self.reader()
        if reader is None:
            return
        try:
            for view in list(self.views.views):
                await self._count_view(reader, view)
        except asyncio.CancelledError:
            reader.interrupt()  # a superseded round stops scanning
            raise

    async def _count_view(self, reader: HistoryReader, view: SavedView) -> None:
        text = view.query
        if view.computed:
            made = await self._computed_query()
            if made is None:
                self._show_count(view.name, "0", NO_SLOW)
                return
            if self._slow_count is not None and self._slow_count[0] == made:
                self._show_count(view.name, self._slow_count[1], None)
                return
            text = made
        try:
            query = TaskQuery(search=parse(text) if text.strip() else None)
        except SearchSyntaxError as exc:
            self._show_count(view.name, "?", f"Cannot be read: {exc}")
            return
        count = f"{await Jobs.blocking(reader.count, query):,}"
        if view.computed:
            self._slow_count = (text, count)
        self._show_count(view.name, count, None)

    def _show_count(self, name: str, text: str, tip: str | None) -> None:
        item = self._item(name)
        if item is not None:
            item.setText(1, text)
            item.setToolTip(1, tip or (f"{text} tasks" if text else ""))

    # -- saving, renaming, deleting ---------------------------------------------------------
    def save_current(self, name: str) -> None:
        """The screen's search, sort and columns as the view `name` (one of that name is
        replaced)."""
        try:
            view = replace(self.current(), name=name.strip())
        except ValueError as exc:  # the search cannot be saved as it is
            self._say(f"View not saved: {exc}")
            return
        self._write(self.views.added(view))

    def rename(self, old: str, new: str) -> None:
        try:
            self._write(self.views.renamed(old, new.strip()))
        except ValueError as exc:
            self._say(str(exc))

    def delete(self, name: str) -> None:
        self._write(self.views.removed(name))

    def _write(self, views: tuple[SavedView, ...]) -> None:
        if self.path is None:
            self._say("The views are still being read; try again in a moment.")
            return
        self.jobs.run("save", self._save(self.path, views))

    async def _save(self, path: Path, views: tuple[SavedView, ...]) -> None:
        try:
            aside = await Jobs.blocking(save_views, path, views)
        except (ValueError, ConfigFileError) as exc:
            self._say(f"Views not saved: {exc}")
            return
        self._say(f"The damaged views file was kept as {aside}." if aside else None)
        self._show(views)

    def _selected(self) -> str | None:
        item = self.list.currentItem()
        return item.text(0) if item is not None else None

    def _ask_save(self) -> None:
        name, ok = QInputDialog.getText(self, "Save view", "Name of the view:")
        if ok and name.strip():
            self.save_current(name)

    def _ask_rename(self) -> None:
        old = self._selected()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename view", f"New name for '{old}':", text=old)
        if ok:
            self.rename(old, new)

    def _ask_delete(self) -> None:
        name = self._selected()
        if name is None:
            return
        answer = QMessageBox.question(self, "Delete view", f"Delete the view '{name}'?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(name)
