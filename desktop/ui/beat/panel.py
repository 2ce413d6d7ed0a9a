"""Beat: every periodic task of the profile's app (core/beat), its schedule in words, its next
run as Celery computes it, its recent runs and missed runs from the journal, whether a beat
process seems alive, and "Run now".

Two reads, both off the GUI thread on the screen's jobs: the schedules (the beat child imports
the person's app: a second or two; on show, F5, a new app configuration, after Run now and
every REPORT_EVERY_S while shown) and the journal (the runs and missed runs: milliseconds;
every RUNS_EVERY_MS while shown, or while an alert rule of the "beat run missed" kind watches,
which is also fed from here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.beat.entries import BeatEntry, BeatReport
from desktop.core.beat.reading import read_beat
from desktop.core.beat.runs import BeatRuns, RunsCache, alive_text, read_runs
from desktop.core.beat.sending import (
    AUDIT_ACTION,
    NotSendable,
    audit_params,
    journal_recorder,
    send_entry,
)
from desktop.core.monitor.audit import FAILED
from desktop.core.monitor.events import CONNECTED
from desktop.core.monitor.journal import Journal
from desktop.ui.beat.changes import BeatChanges
from desktop.ui.beat.details import BeatDetails
from desktop.ui.beat.local_beat import LocalBeatBar
from desktop.ui.beat.model import COLUMNS, BeatRow
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.journal_slot import JournalSlot
from desktop.ui.common.log_view import LogView
from desktop.ui.common.panel_parts import heading, muted
from desktop.ui.common.splitter_state import remembered_splitter
from desktop.ui.common.table_model import TableModel, read_only_view
from desktop.ui.common.theme import set_tone
from desktop.ui.session.session import Session

RUNS_EVERY_MS = 2000
REPORT_EVERY_S = 60.0
# At 1280 px every column shows; the source takes what is left.
WIDTHS = (120, 120, 140, 110, 120, 120, 55, 140, 140, 40, 50)


class BeatPanel(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self.slot = JournalSlot(self.jobs, "the beat screen")
        self.report: BeatReport | None = None
        self.runs: BeatRuns | None = None
        self.cache = RunsCache()  # the journal's rows of the entries' tasks, between reads
        self._report_at = 0.0
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Beat"))
        self.scheduler = muted("The app's periodic tasks are read once its configuration is.")
        self.scheduler.setAccessibleName("Which scheduler the app uses")
        layout.addWidget(self.scheduler)
        self.alive = muted()
        self.alive.setAccessibleName("Whether a beat process seems alive")
        layout.addWidget(self.alive)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        set_tone(self.problems, "error")
        self.problems.hide()
        layout.addWidget(self.problems)
        # The profile's local `celery beat`, kept like a local worker; its log below on request.
        self.beat_bar = LocalBeatBar(session)
        layout.addWidget(self.beat_bar)
        row = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        explain(self.refresh_button, "Read the schedules and the journal again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        self.run_button = QPushButton("Run now")
        explain(self.run_button, "Send the chosen periodic task now, as beat would send it")
        self.run_button.clicked.connect(self.run_now)
        self.run_button.setEnabled(False)
        row.addWidget(self.refresh_button)
        row.addWidget(self.run_button)
        self.changes = BeatChanges(self)  # enable/disable, edit, delete (core/beat/writing.py)
        for button in (*self.changes.buttons, self.changes.add_button):
            row.addWidget(button)
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        self.model: TableModel[BeatRow] = TableModel(COLUMNS, self, text_tips=True)
        self.table = read_only_view(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate(WIDTHS):
            self.table.setColumnWidth(column, width)
        explain(self.table, "Every periodic task of the app, whichever scheduler keeps it",
                "Periodic tasks")  # fmt: skip
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._chosen())
        self.details = BeatDetails()
        split = remembered_splitter(Qt.Orientation.Vertical, "beat-split")
        split.addWidget(self.table)
        split.addWidget(self.details)
        self.log = LogView()
        self.log.hide()  # until the local beat's log is asked for
        split.addWidget(self.log)
        self.beat_bar.log_wanted.connect(self.show_beat_log)
        split.setSizes([320, 260, 200])
        layout.addWidget(split, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(RUNS_EVERY_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        session.journal_changed.connect(self.set_journal)
        self.set_journal(session.journal)

    def show_beat_log(self, path: Path, title: str) -> None:
        self.log.set_source(path, title)
        self.log.show()

    # -- what the session says -------------------------------------------------------------
    def set_journal(self, journal: Journal | None) -> None:
        self.slot.set_journal(journal)
        self.runs = None
        self.cache = RunsCache()

    def reset(self) -> None:
        """Another profile: nothing of the previous one's schedules is shown."""
        self.jobs.cancel("report")
        self.jobs.cancel("runs")
        self.report, self.runs, self._report_at = None, None, 0.0
        self.changes.show_scheduler(None)
        self.cache = RunsCache()
        self.model.set_rows([])
        self.details.show_entry(None, None)
        self.scheduler.setText("The app's periodic tasks are read once its configuration is.")
        self.alive.setText("")
        self.problems.hide()

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        self._report_at = 0.0  # read again: the schedules may have changed with it
        if self.isVisible() or self._watched():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.report is None or time.time() - self._report_at > REPORT_EVERY_S:
            self.refresh()

    def _watched(self) -> bool:
        return self.session.alerts.engine.watches_beat

    def _tick(self) -> None:
        if not (self.isVisible() or self._watched()):
            return
        if self.report is None or time.time() - self._report_at > REPORT_EVERY_S:
            if not self.jobs.running("report"):
                self.refresh()
            return
        self.refresh_runs()

    # -- reading ---------------------------------------------------------------------------
    def refresh(self, said: str = "") -> None:
        """The schedules read again, then the journal (F5); `said` (what was just done) stays
        beside the count."""
        self.jobs.run("report", self._read_report(said))

    def refresh_runs(self) -> None:
        self.jobs.run_again("runs", self._read_runs)

    async def _read_report(self, said: str = "") -> None:
        profile, config = self.session.profile, self.session.app_config
        if profile is None or config is None:
            self.status.setText("waiting for the app's configuration to be read")
            return
        self.status.setText("reading the app's periodic tasks…")
        try:
            session = self.session  # the secret store may wait: read on the pool too
            report = await Jobs.blocking(
                lambda: read_beat(profile, session.endpoints(profile, config))
            )
        except Exception as exc:  # the app cannot be imported, the child timed out
            self._report_at = time.time()
            self.status.setText(f"the periodic tasks could not be read: {exc}")
            return
        self._report_at = time.time()
        self.cache.forget()  # a whole read of the runs with the new schedules
        self._show_report(report, said)
        self.refresh_runs()  # under its own key: one read of the cache at a time

    async def _read_runs(self) -> None:
        report = self.report
        reader = await self.slot.reader()
        if report is None or reader is None:
            return
        monitor = self.session.monitor
        listening = monitor is not None and monitor.stream.state == CONNECTED
        cache = self.cache
        runs = await Jobs.blocking(read_runs, reader, report, listening, None, cache)
        if report is not self.report:
            return
        self.runs = runs
        if self._watched():
            self.session.alerts.engine.feed_beat(runs.streaks())
        self._show_rows()
        self.alive.setText(f"Beat process: {alive_text(report, runs, time.time())}")
        if runs.unwatched:
            self.alive.setText(f"{self.alive.text()}. {runs.unwatched}")

    # -- showing ---------------------------------------------------------------------------
    def _show_report(self, report: BeatReport, said: str = "") -> None:
        self.report = report
        self.changes.show_scheduler(report)
        notes = report.notes()
        self.scheduler.setText(
            f"Scheduler: {report.scheduler_said()}. Times in the app's timezone, "
            f"{report.timezone or 'UTC'}."
            + "".join(
                f" {text[:1].upper()}{text[1:]}." for level, text in notes[1:] if level == "note"
            )
        )
        errors = [text for level, text in notes if level == "error"]
        self.problems.setText("\n".join(errors))
        self.problems.setVisible(bool(errors))
        count = len(report.entries)
        counted = f"{count} periodic task{'s' if count != 1 else ''}"
        self.status.setText(f"{said} · {counted}" if said else counted)
        self._show_rows()
        self.alive.setText(f"Beat process: {alive_text(report, self.runs, time.time())}")

    def _show_rows(self) -> None:
        if self.report is None:
            return
        missed = self.runs.missed if self.runs is not None else {}
        zone = self.report.timezone
        self.model.set_rows([BeatRow(e, missed.get(e.name), zone) for e in self.report.entries])
        self._chosen()

    def chosen(self) -> BeatEntry | None:
        row = self.model.row(self.table.currentIndex().row())
        return None if row is None else row.entry

    def select(self, name: str) -> None:
        """Choose the periodic task `name` (an alert's target)."""
        for position, row in enumerate(self.model.rows()):
            if row.entry.name == name:
                self.table.selectRow(position)
                return

    def _chosen(self) -> None:
        entry = self.chosen()
        zone = self.report.timezone if self.report is not None else ""
        self.details.show_entry(entry, self.runs, zone)
        self.changes.show(entry)
        self.run_button.setEnabled(entry is not None and entry.sendable)
        if entry is not None and not entry.sendable:
            self.run_button.setToolTip(f"Not possible: {entry.why_not_sendable()}")
        else:
            self.run_button.setToolTip("Send the chosen periodic task now, as beat would send it")

    # -- Run now ---------------------------------------------------------------------------
    def run_now(self) -> None:
        entry = self.chosen()
        if entry is not None:
            self.jobs.run("run-now", self._run_now(entry))

    async def _run_now(self, entry: BeatEntry) -> None:
        """Send it as the CLI's `beat run` does: journaled as the panel's own, audited."""
        journal, session = self.session.journal, self.session
        record = journal_recorder(journal, entry) if journal is not None else None

        def work(app: Any) -> Any:
            try:
                sent = send_entry(app, entry, record)
            except NotSendable:
                raise
            except Exception as exc:
                session.audit(AUDIT_ACTION, entry.name, audit_params(entry), outcome=FAILED,
                              reply=str(exc))  # fmt: skip
                raise
            session.audit(AUDIT_ACTION, entry.name, audit_params(entry, sent[0]),
                          reply=sent[0].id)  # fmt: skip
            return sent

        self.status.setText(f"sending {entry.name}…")
        try:
            node, unrecorded = await self.session.with_app(work)
        except NotSendable as exc:
            self.status.setText(f"{entry.name} is not sent: {exc}")
            return
        except Exception as exc:
            self.status.setText(f"sending {entry.name} failed: {exc}")
            return
        said = f"sent {entry.name} as {node.id} to {node.queue or 'its queue'}"
        if unrecorded is not None or journal is None:
            said += f"; the journal did not record it ({unrecorded or 'no journal open'})"
        self.status.setText(said)
        self.refresh_runs()
