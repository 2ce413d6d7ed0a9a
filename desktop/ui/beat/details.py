"""The Beat screen's details pane: the chosen periodic task's recent runs as the journal heard
them (core/beat/runs.py), how they were matched to it, and "Copy as Python" for an entry that
lives in the app's code."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.core.beat.entries import BeatEntry
from desktop.core.beat.python_text import entry_python
from desktop.core.beat.runs import BeatRuns, Run
from desktop.ui.beat.model import at_clock
from desktop.ui.common.accessible import explain
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.states import state_colour, with_symbol
from desktop.ui.common.table_model import Column, TableModel, read_only_view
from desktop.ui.common.theme import colour


def run_columns(timezone: str) -> list[Column[Run]]:
    def sent(run: Run) -> str:
        return at_clock(run.at, timezone, "%Y-%m-%d %H:%M:%S") if run.at else ""

    return [
        Column("Sent", sent),
        Column("State", lambda r: with_symbol(r.state), colour=lambda r: state_colour(r.state)),
        Column("Runtime", lambda r: "" if r.runtime is None else f"{r.runtime:.3f} s"),
        Column("Sent by", lambda r: "the panel (Run now)" if r.by_panel else "beat"),
        Column("Worker", lambda r: r.worker or ""),
        Column("Task id", lambda r: r.id),
    ]


class BeatDetails(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry: BeatEntry | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.title = QLabel("Choose a periodic task to see its runs")
        self.title.setProperty("role", "heading")
        top.addWidget(self.title, 1)
        self.copy_python = QPushButton("Copy as Python")
        explain(self.copy_python, "Copy this entry as it would sit in the app's beat_schedule")
        self.copy_python.clicked.connect(self.copy)
        self.copy_python.hide()
        top.addWidget(self.copy_python)
        layout.addLayout(top)
        self.facts = muted()
        self.facts.setAccessibleName("The periodic task's details")
        layout.addWidget(self.facts)
        self.timezone = ""
        self.runs: TableModel[Run] = TableModel(run_columns(""), self, text_tips=True)
        self.table = read_only_view(self.runs)
        explain(self.table, "Its recent runs as the journal heard them, newest first", "Runs")
        layout.addWidget(self.table, 1)

    def show_entry(
        self, entry: BeatEntry | None, runs: BeatRuns | None, timezone: str = ""
    ) -> None:
        """The entry's runs, every time in the app's `timezone`."""
        self.entry = entry
        if timezone != self.timezone:
            self.timezone = timezone
            self.runs.beginResetModel()
            self.runs.columns = run_columns(timezone)
            self.runs.endResetModel()
        if entry is None:
            self.title.setText("Choose a periodic task to see its runs")
            self.facts.setText("")
            self.copy_python.hide()
            self.runs.set_rows([])
            return
        self.title.setText(f"{entry.name}: {entry.task}")
        self.copy_python.setVisible(entry.source == "static")
        said = [f"{entry.words} ({entry.schedule_text})"]
        if entry.in_code:
            said.append("also in the app's beat_schedule: beat copied it into its store")
        if entry.error:
            said.append(
                f"<span style='color:{colour('error')}'>cannot be loaded: {entry.error}</span>"
            )
        elif not entry.sendable:
            said.append(f"Run now: not possible ({entry.why_not_sendable()})")
        found = [] if runs is None else runs.runs.get(entry.name, [])
        if runs is None:
            said.append("its runs: the journal not read yet")
        else:
            matched = runs.matched_by.get(entry.name, "")
            said.append(
                f"{len(found)} recent run(s), matched by {matched} (Celery's events carry no "
                "message headers, so the journal cannot match by periodic_task_name)"
            )
            missed = runs.missed.get(entry.name)
            if missed is not None and missed.count is None:
                said.append(f"missed runs not checked: {missed.why_not}")
            elif missed is not None:
                said.append(
                    f"{missed.count} missed of {missed.judged} due while the panel listened; "
                    f"a send within {missed.tolerance_s:g} s of a due time is its run"
                )
                if missed.missed:
                    last = ", ".join(at_clock(t, timezone) for t in missed.missed[-5:])
                    said.append(f"latest missed: {last}")
        self.facts.setText("<br>".join(said))
        self.runs.set_rows(found)

    def copy(self) -> str:
        """The entry as Python, on the clipboard (and returned)."""
        if self.entry is None:
            return ""
        text = entry_python(self.entry)
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(text)
        return text
