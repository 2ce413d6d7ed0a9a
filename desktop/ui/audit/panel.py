"""Audit: every action the panel and its commands took on the cluster, newest first (the
journal's `audit` table, monitor/audit.py), read off the GUI thread when the screen is shown
and, while shown, after each new action (at most every REFRESH_S)."""

from __future__ import annotations

import json
from datetime import datetime

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop.core.monitor.audit import FAILED, AuditEntry
from desktop.core.monitor.journal import Journal
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.panel_parts import heading, muted, show_steadily
from desktop.ui.common.states import with_symbol
from desktop.ui.common.table_model import Column, TableModel, read_only_view
from desktop.ui.common.theme import colour
from desktop.ui.session.session import Session

SHOWN = 1000
WIDTHS = (150, 80, 60, 130, 220, 240, 70)  # the reply takes what is left
REFRESH_S = 1.0


def _when(entry: AuditEntry) -> str:
    return datetime.fromtimestamp(entry.at).isoformat(sep=" ", timespec="seconds")


COLUMNS: list[Column[AuditEntry]] = [
    Column("When", _when),
    Column("User", lambda e: e.user),
    Column("From", lambda e: e.source),
    Column("Action", lambda e: e.action),
    Column("Target", lambda e: e.target),
    Column("Parameters", lambda e: json.dumps(dict(e.params)) if e.params else ""),
    Column(
        "Outcome",
        lambda e: with_symbol(e.outcome),
        colour=lambda e: colour("error") if e.outcome == FAILED else "",
    ),
    Column("Reply", lambda e: e.reply),
]


def _searched(entry: AuditEntry) -> str:
    """What the filter box looks in."""
    return f"{entry.action} {entry.target} {entry.user} {entry.source} {entry.outcome}".lower()


class AuditPanel(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self.slot = JournalSlot(self.jobs, "the audit screen")
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Audit"))
        layout.addWidget(
            muted(
                "What this panel and `celery-desk` did to the cluster: sends, retries, revokes, "
                "purges, worker commands, local workers started and stopped. Parameters are "
                "redacted. Kept in the profile's journal (`celery-desk audit`)."
            )
        )
        row = QHBoxLayout()
        self.filter_box = QLineEdit()
        self.filter_box.setPlaceholderText("Filter: action, target, user…")
        explain(
            self.filter_box, "Show only entries with these words (Ctrl+F)", "Filter the audit log"
        )
        self.filter_box.textChanged.connect(lambda _: self._show())
        row.addWidget(self.filter_box, 1)
        self.count = QLabel()
        row.addWidget(self.count)
        layout.addLayout(row)
        self.model: TableModel[AuditEntry] = TableModel(COLUMNS, self, text_tips=True)
        self.table = read_only_view(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate(WIDTHS):
            self.table.setColumnWidth(column, width)
        explain(self.table, "What was done to the cluster, newest first", "Audit log")
        layout.addWidget(self.table, 1)
        self.entries: list[AuditEntry] = []
        self._dirty = True
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(int(REFRESH_S * 1000))
        self._soon.timeout.connect(self.refresh)
        session.journal_changed.connect(self.set_journal)
        session.audited.connect(self._soon.start)
        self.set_journal(session.journal)

    def set_journal(self, journal: Journal | None) -> None:
        self.slot.set_journal(journal)
        self.entries = []
        self._show()
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        self._dirty = True
        if self.isVisible():
            self.jobs.run_again("read", self._read)

    async def _read(self) -> None:
        reader = await self.slot.reader()
        if reader is None:
            return
        self._dirty = False
        self.entries = await Jobs.blocking(reader.audit_entries, SHOWN)
        self._show()

    def _show(self) -> None:
        words = self.filter_box.text().lower().split()
        shown = [
            e
            for e in self.entries
            if all(
                w in f"{e.action} {e.target} {e.user} {e.source} {e.outcome}".lower() for w in words
            )
        ]
        self.model.set_rows(shown)
        show_steadily(self.count, f"{len(shown)} of {len(self.entries)}")
