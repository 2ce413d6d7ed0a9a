"""Tasks: every task the journal knows, live, filtered in SQL, with details and actions.

Nothing here reads the journal on the GUI thread: the table's pages, the details and timeline
of a task, the row a "send again" repeats and the first read of the filter choices run as jobs
(desktop/ui/common/jobs.py) on the model's read-only connection; a newer read cancels an older
one. The filter choices then grow from the rows of each live batch, never by a DISTINCT scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.base.task_record import TaskRecord
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.saved_views import SavedView
from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.state import StateDiff
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import SEARCH_HELP, field_term, parse
from desktop.core.opening import ConnectionFacts
from desktop.core.settings import urls
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import heading, muted, show_steadily
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.common.states import with_symbol
from desktop.ui.common.table_state import offer_columns, show_columns, width_for
from desktop.ui.session.session import Session
from desktop.ui.session.why_dialog import WhyDialog
from desktop.ui.tasks.actions import TaskActions
from desktop.ui.tasks.cells import COLUMNS, DEFAULT_COLUMNS
from desktop.ui.tasks.model import TasksModel
from desktop.ui.tasks.panel_details import TaskDetailsPart
from desktop.ui.tasks.reveal import ArgumentReveal
from desktop.ui.tasks.search_completer import SearchCompleter
from desktop.ui.tasks.views_sidebar import ViewsSidebar

STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED"]
ALL = "(all)"
# Starting widths, as the text each column has room for in the table's font (a larger font or
# a high-DPI screen gets wider columns, never cut states): the default columns fit a 1280 px
# window beside the views (ids cut, whole in the details and with Copy id), the others a
# readable start; the person's own widths are kept (table_state).
TASK_COLUMN_SAMPLES = {"id": "c129f603-082", "name": "workers.tasks.sleep12", "queue": "queue1",
                       "state": max((with_symbol(s) for s in STATES), key=len),
                       "priority": "9", "worker": "priority@vm", "args": "[1, 'x']",
                       "kwargs": "{'key': 'value'}", "result": "TypeError('unsuppor",
                       "sent": "00:00:00.000", "received": "00:00:00.000",
                       "started": "00:00:00.000", "runtime": "0.000 s"}  # fmt: skip
# Filter choices: which combo offers the values of which journal columns.
CHOICE_SOURCES = {"name": ("name",), "queue": ("queue", "routing_key"), "worker": ("worker",)}


class TasksPanel(TaskDetailsPart, QWidget):
    open_in_builder = Signal(str, bool)  # task id, its whole workflow

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self.model = TasksModel(None, self)
        # Every value seen per filter combo: one read when a journal opens, then live rows.
        self._seen: dict[str, set[str]] = {combo: set() for combo in CHOICE_SOURCES}
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Tasks"))
        self.delivery = muted()
        layout.addWidget(self.delivery)
        self.source = muted()  # a shared history: where the rows come from, and who writes
        self.source.hide()
        layout.addWidget(self.source)

        filters = QHBoxLayout()
        self.state_filter = self._combo("State", [ALL, *STATES], editable=False)
        self.name_filter = self._combo("Name", [ALL])
        self.queue_filter = self._combo("Queue", [ALL])
        self.worker_filter = self._combo("Worker", [ALL])
        self.search = QLineEdit()
        self.search.setPlaceholderText(
            "Search: words, name:proj.*, -state:SUCCESS, runtime>2, after:-1h"
        )
        self.search.setToolTip(SEARCH_HELP)
        self.search.setAccessibleName("Search tasks")
        self.completer = SearchCompleter(self.search)
        self.completer.set_known({"state": STATES})
        for label, widget in (
            ("State", self.state_filter),
            ("Name", self.name_filter),
            ("Queue", self.queue_filter),
            ("Worker", self.worker_filter),
        ):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget, 1)
        filters.addWidget(self.search, 2)
        self.count = QLabel()
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        filters.addWidget(self.count)
        self.pending_button = QPushButton()
        explain(self.pending_button, "New tasks arrived: refresh to show them", "New tasks")
        self.pending_button.setVisible(False)
        self.pending_button.clicked.connect(lambda: self.model.reload())
        filters.addWidget(self.pending_button)
        layout.addLayout(filters)
        # What is wrong with the search as typed (the table keeps the last good search's rows).
        self.search_error = QLabel()
        self.search_error.setProperty("role", "error")
        self.search_error.setVisible(False)
        layout.addWidget(self.search_error)
        self.search_note = QLabel()  # why a search of short words may take a while
        self.search_note.setProperty("role", "muted")
        self.search_note.setWordWrap(True)
        self.search_note.setVisible(False)
        layout.addWidget(self.search_note)

        self.table = QTableView()
        self.table.setObjectName("tasks")  # its header is remembered (table_state)
        explain(self.table, "Tasks as searched: select one for its details; right-click the "
                "header to choose columns", "Tasks")  # fmt: skip
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(9, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        keys = [key for key, _title in COLUMNS]
        for key, sample in TASK_COLUMN_SAMPLES.items():
            self.table.setColumnWidth(
                keys.index(key), width_for(self.table, keys.index(key), sample)
            )
        show_columns(self.table, keys, DEFAULT_COLUMNS)
        titles = [self.model.headerData(i, Qt.Orientation.Horizontal) for i in range(len(keys))]
        offer_columns(self.table, keys, [str(t) for t in titles], DEFAULT_COLUMNS)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.selectionModel().currentRowChanged.connect(self._show_selected)

        details = QWidget()
        box = QVBoxLayout(details)
        box.setContentsMargins(0, 0, 0, 0)
        actions = QHBoxLayout()
        self.copy_button = QPushButton("Copy id")
        self.revoke_button = QPushButton("Revoke")
        self.terminate_button = QPushButton("Terminate…")
        self.retry_button = QPushButton("Send again")
        self.builder_button = QPushButton("Open in builder")
        self.builder_button.setToolTip("This task, editable, on the Builder's canvas")
        self.workflow_button = QPushButton("Open workflow")
        self.workflow_button.setToolTip("Every task of its workflow (same root id) on the canvas")
        self.why_button = QPushButton("Why?")
        self.why_button.setToolTip("Why it has not run (or ran as it did): each check, the fix")
        for button, tip in (
            (self.copy_button, "Copy the selected task's id to the clipboard"),
            (self.revoke_button, "Revoke the task: a worker that has not started it skips it"),
            (self.terminate_button, "Revoke the task and signal the process running it (asks)"),
            (self.retry_button, "Send the task again with the same arguments and options"),
        ):
            explain(button, tip)
        self.reveal = ArgumentReveal(self)
        self.task_buttons = (  # each acts on the selected task: enabled while there is one
            self.why_button,
            self.copy_button,
            self.revoke_button,
            self.terminate_button,
            self.retry_button,
            self.builder_button,
            self.workflow_button,
        )
        for button in self.task_buttons:
            button.setEnabled(False)
            actions.addWidget(button)
        actions.addStretch(1)
        self.action_status = muted()
        actions.addWidget(self.action_status)
        box.addLayout(actions)
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.anchorClicked.connect(self._follow_link)
        box.addWidget(self.detail)
        self.why_button.clicked.connect(
            lambda: WhyDialog(self.session, str(self.current_id), self).show()
        )
        self.task_actions = TaskActions(self)
        self.builder_button.clicked.connect(
            lambda: self.open_in_builder.emit(self.current_id, False)
        )
        self.workflow_button.clicked.connect(
            lambda: self.open_in_builder.emit(self.current_id, True)
        )

        splitter = remembered_splitter(Qt.Orientation.Vertical, "tasks-details")
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setSizes([420, 220])
        self.views = ViewsSidebar(session, self.model, self.current_view)
        self.views.chosen.connect(self.apply_view)
        beside = remembered_splitter(Qt.Orientation.Horizontal, "tasks-views")
        beside.addWidget(self.views)
        beside.addWidget(splitter)
        beside.setStretchFactor(1, 1)
        beside.setSizes([230, 1000])
        layout.addWidget(beside, 1)

        self.current_id: str | None = None
        self.backend = ""
        self._search_delay = QTimer(self)
        self._search_delay.setSingleShot(True)
        self._search_delay.setInterval(250)
        self._search_delay.timeout.connect(self._apply_filters)
        self.search.textChanged.connect(lambda _: self._search_delay.start())
        for combo in (self.state_filter, self.name_filter, self.queue_filter, self.worker_filter):
            combo.currentTextChanged.connect(lambda _: self._apply_filters())
        self.model.modelReset.connect(self._update_count)
        self.model.loaded.connect(self._update_count)
        self.model.modelReset.connect(self._show_from_top)
        self.model.modelReset.connect(self._select_current_again)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)
        self.model.pending_changed.connect(self._show_pending)

        session.journal_changed.connect(self.set_journal)
        session.diff_ready.connect(self.apply_diff)
        session.history_rows.connect(self.apply_rows)  # a shared history's recorders
        session.history_reload.connect(self._reload_all)
        session.reconciled.connect(lambda _count: self._reload_all())
        self.set_journal(session.journal)

    @staticmethod
    def _combo(name: str, items: list[str], editable: bool = True) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(editable)
        combo.addItems(items)
        explain(combo, f"Only tasks of this {name.lower()}; {ALL}: every one", f"{name} filter")
        combo.setMinimumContentsLength(8)
        return combo

    # -- data ------------------------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        self.model.set_journal(journal)
        shared = journal.reads_from if journal is not None else None
        self.source.setVisible(shared is not None)
        if shared is not None:
            self.source.setText(
                f"From the shared history {urls.mask(shared)}: read-only here, the recorders "
                "write it; their rows appear as they store them."
            )
        self._seen = {combo: set() for combo in CHOICE_SOURCES}
        self._show_task(None)
        self.jobs.run("choices", self._read_choices())

    def _reload_all(self) -> None:
        """Reconciliation wrote rows no diff carried: the table and the choices read again."""
        self.model.reload()
        self.jobs.run("choices", self._read_choices())

    def apply_diff(self, diff: StateDiff) -> None:
        self.model.apply_diff(diff)
        self._took(diff.journaled)

    def apply_rows(self, rows: Mapping[str, TaskRecord]) -> None:
        """Rows a recorder stored in the shared history (Session.history_rows)."""
        self.model.apply_rows(rows)
        self._took(rows)

    def _took(self, rows: Mapping[str, TaskRecord]) -> None:
        """Live rows shown: their values join the filters; the task shown in detail anew."""
        self._learn_choices(rows.values())
        if self.current_id is not None and self.current_id in rows:
            self._show_task(self.current_id, rows[self.current_id])

    async def _read_choices(self) -> None:
        """The values already in the journal, read once off the GUI thread (a DISTINCT scan
        per column: half a second on a million tasks); live rows add to them after."""
        reader = await self.model.reader()
        if reader is None:
            return
        found = await self.model.read(reader.choices)
        self._learn_choices(
            [{column: value} for column, values in found.items() for value in values]
        )

    def _learn_choices(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """New values of the filter columns join the combos (sorted); none is ever dropped."""
        grown: set[str] = set()
        for row in rows:
            for combo, columns in CHOICE_SOURCES.items():
                for column in columns:
                    value = row.get(column)
                    if value is not None and str(value) not in self._seen[combo]:
                        self._seen[combo].add(str(value))
                        grown.add(combo)
        widgets = {
            "name": self.name_filter,
            "queue": self.queue_filter,
            "worker": self.worker_filter,
        }
        if grown:
            self.completer.set_known({**self._seen, "state": STATES})
        for combo in grown:
            widget = widgets[combo]
            current = widget.currentText()
            widget.blockSignals(True)
            widget.clear()
            widget.addItems([ALL, *sorted(self._seen[combo])])
            widget.setCurrentText(current)
            widget.blockSignals(False)

    def current_query(self) -> TaskQuery:
        """The filters as set; raises SearchSyntaxError when the search does not parse."""

        def chosen(combo: QComboBox) -> str | None:
            text = combo.currentText().strip()
            return None if not text or text == ALL else text

        typed = self.search.text().strip()
        return replace(
            self.model.query,
            state=chosen(self.state_filter),
            name=chosen(self.name_filter),
            queue=chosen(self.queue_filter),
            worker=chosen(self.worker_filter),
            text=None,
            search=parse(typed) if typed else None,
        )

    def _apply_filters(self) -> None:
        try:
            query = self.current_query()
        except SearchSyntaxError as exc:
            self.search_error.setText(f"Search not applied: {exc}")
            self.search_error.setVisible(True)
            return
        self.search_error.setVisible(False)
        short = query.search.scanned_words() if query.search is not None else []
        self.search_note.setVisible(bool(short))
        if short:
            words = ", ".join(f"'{w}'" for w in dict.fromkeys(short))
            self.search_note.setText(
                f"{words}: under 3 characters, found by reading the tasks one by one (slow on a "
                "large history unless another term narrows it); a longer word or a field:value "
                "is read through the index."
            )
        self.model.set_query(query)

    def apply_view(self, view: SavedView) -> None:
        """A saved view: its query in the search box (seen, editable), the filters above the
        table back to (all), its sort and columns on the table."""
        for combo in (self.state_filter, self.name_filter, self.queue_filter, self.worker_filter):
            combo.blockSignals(True)
            combo.setCurrentText(ALL)
            combo.blockSignals(False)
        keys = [key for key, _title in COLUMNS]
        if view.columns:  # a view without its own columns leaves the person's as they are
            show_columns(self.table, keys, view.columns)
        if view.sort in keys:  # the header sorts the model (in SQL for an indexed column)
            order = Qt.SortOrder.DescendingOrder if view.descending else Qt.SortOrder.AscendingOrder
            self.table.horizontalHeader().setSortIndicator(keys.index(view.sort), order)
        self.search.setText(view.query)
        self._search_delay.stop()
        self._apply_filters()

    def show_search(self, query: str) -> None:
        """Another screen's door (the Overview's rate lines): the table filtered by `query`
        in the search language, the filters above it back to (all)."""
        for combo in (self.state_filter, self.name_filter, self.queue_filter, self.worker_filter):
            combo.blockSignals(True)
            combo.setCurrentText(ALL)
            combo.blockSignals(False)
        self.search.setText(query)
        self._search_delay.stop()
        self._apply_filters()

    def current_view(self) -> SavedView:
        """The search as the screen has it, as a view to name: the filters above the table
        become field terms of its query. ValueError when they cannot join a query with OR
        (AND binds tighter, and the language has no parentheses)."""
        typed = self.search.text().strip()
        chosen = [
            field_term(field, combo.currentText().strip())
            for field, combo in (("state", self.state_filter), ("name", self.name_filter),
                                 ("queue", self.queue_filter), ("worker", self.worker_filter))
            if combo.currentText().strip() not in ("", ALL)
        ]  # fmt: skip
        if chosen and "OR" in typed.split():
            raise ValueError(
                "the filters above the table cannot join a search with OR: write them in the "
                "search (say state:FAILURE) in each alternative, and set them to (all)"
            )
        keys = [key for key, _title in COLUMNS]
        shown = tuple(k for i, k in enumerate(keys) if not self.table.isColumnHidden(i))
        return SavedView(
            "",
            " ".join([*chosen, typed]).strip(),
            self.model.query.order_by,
            self.model.query.descending,
            () if len(shown) == len(keys) else shown,
        )

    def _show_pending(self, count: int) -> None:
        show_steadily(self.pending_button, f"{count:,} new — refresh")
        self.pending_button.setToolTip(
            "New tasks arrived; sorted by this column they are not inserted live. "
            "Refresh, or sort by Sent (newest first) to follow them."
        )
        self.pending_button.setVisible(count > 0)

    def _update_count(self) -> None:
        show_steadily(self.count, f"{self.model.total:,} tasks")

    # -- facts from the profile and app ---------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        # A theme switch (once built): the details drawn again, links in the theme's colour.
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "current_id"):
            self._show_task(self.current_id)

    def show_facts(self, facts: ConnectionFacts) -> None:
        self.backend = urls.mask(facts.endpoints.result_backend if facts.endpoints else "")

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        """The settings that decide delivery, each marked when it is Celery's default."""
        backend = self.backend or urls.mask(config.result_backend) or "none"

        def mark(key: str) -> str:
            return " (Celery default)" if config.setting_source(key) != "app" else ""

        prefix = f"App not readable ({error}); Celery's defaults apply · " if error else ""
        self.delivery.setText(
            f"{prefix}Result backend {backend} · default queue '{config.default_queue}'"
            f"{mark('task_default_queue')} · default priority {config.default_priority}"
            f"{mark('task_default_priority')} · acks "
            f"{'late' if config.acks_late else 'early'}{mark('task_acks_late')} · prefetch "
            f"multiplier {config.prefetch_multiplier}{mark('worker_prefetch_multiplier')}"
        )

    # -- details ------------------------------------------------------------------------------
    def _show_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_task(self.model.task_id(current.row()) if current.isValid() else None)

    def _show_from_top(self) -> None:
        """A reload is a new first page (a sort, a filter, a refresh): shown from its top. Qt
        keeps the scroll offset across a reset, so a table scrolled past the first page showed
        the new page's bottom rows and read the next page at once, unasked. The reset's layout
        is done here, not on Qt's next turn, so it and the scroll paint the table once: a
        scroll before it painted the rows at once and the layout painted them again."""
        self.table.doItemsLayout()
        self.table.scrollToTop()

    def _select_current_again(self) -> None:
        """A reload (filter, sort, refresh) forgets the selection: the detail pane follows it,
        so the task shown is selected again where the table still has it, else none is shown
        (when none was shown or on its way, the pane is left as it is: setting its text again
        repainted it, and the table beside it, on every sort)."""
        position = self.model.position(self.current_id) if self.current_id else None
        if position is None:
            if self.current_id is not None or self.jobs.running("details"):
                self._show_task(None)
        else:  # the reset left no current row: this change shows the task (_show_selected)
            self.table.setCurrentIndex(self.model.index(position, 0))
