"""Charts: tasks per second by state and by queue, the age of each queue's oldest waiting
message, runtime percentiles per task, last 2 min.

Rates are fed by the same diffs as the tables; the oldest ages by the Queues screen each time
it reads the broker (`add_oldest`), which it keeps doing while this screen shows (`watching`).
Redrawn once a second, and only while visible.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from desktop.core.monitor.rates import Rates
from desktop.core.monitor.state import StateDiff
from desktop.ui.common.accessible import explain
from desktop.ui.common.panel_parts import fill_table, heading, muted, read_only_table
from desktop.ui.common.states import state_role
from desktop.ui.common.theme import colour

# An event kind's line in the colour of the state it leads to (the theme's, read when drawn).
STATE_PENS = {
    "sent": "frame",
    "received": state_role("RECEIVED"),
    "started": state_role("STARTED"),
    "succeeded": state_role("SUCCESS"),
    "failed": state_role("FAILURE"),
    "retried": state_role("RETRY"),
    "revoked": state_role("REVOKED"),
}
QUEUE_PENS = ["running", "ok", "warning", "error", "received", "#0891b2", "#db2777"]
OLDEST = "oldest"  # the samples of each queue's oldest waiting age


def _plot(title: str, unit: str = "tasks/s") -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setProperty("title", title)
    plot.setLabel("left", unit)
    plot.setLabel("bottom", "seconds ago")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.addLegend(offset=(10, 10))
    plot.setMouseEnabled(x=False, y=False)
    plot.setMinimumHeight(140)
    _paint_plot(plot)
    return plot


def _pen_colour(name: str) -> str:
    return name if name.startswith("#") else colour(name)


def _paint_plot(plot: pg.PlotWidget) -> None:
    """The plot in the theme shown: its background, title, axes and legend."""
    text = colour("text")
    plot.setBackground(colour("chart"))
    plot.setTitle(plot.property("title"), color=text, size="10pt")
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(colour("frame"))
        axis.setTextPen(text)
    legend = plot.getPlotItem().legend
    if legend is not None:
        legend.setLabelTextColor(text)  # for labels to come; those shown are drawn anew
        for _sample, label in legend.items:
            label.setText(label.text, color=text)


class ChartsPanel(QWidget):
    watching = Signal(bool)  # shown or hidden: the Queues screen reads the broker meanwhile

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rates = Rates(window_s=120)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Charts — last 2 minutes"))
        layout.addWidget(
            muted("From the live event stream: events per second by state, finished tasks per "
                  "second by queue, and runtime percentiles of succeeded tasks. From the broker, "
                  "each time the queues are read: how long the oldest waiting message of each "
                  "queue has waited (0 when none waits).")
        )  # fmt: skip
        plots = QHBoxLayout()
        self.by_state = _plot("By state")
        self.by_queue = _plot("Finished, by queue")
        self.oldest = _plot("Oldest waiting, by queue", "seconds")
        plots.addWidget(self.by_state)
        plots.addWidget(self.by_queue)
        plots.addWidget(self.oldest)
        layout.addLayout(plots, 3)
        box = QGroupBox("Runtime per task (succeeded, last 2 minutes)")
        inner = QVBoxLayout(box)
        self.runtimes = read_only_table(["Task", "Count", "p50", "p90", "p99", "Max"])
        explain(self.runtimes, "How long each task took to succeed: median, 90th and 99th "
                "percentile, longest", "Runtime per task")  # fmt: skip
        inner.addWidget(self.runtimes)
        layout.addWidget(box, 2)
        # pyqtgraph ships no type hints: its items are Any to mypy whatever is written here.
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._pen_roles: dict[tuple[str, str], str] = {}  # each curve's colour role
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.watching.emit(True)
        self.redraw(force=True)  # up to date the moment the tab opens, not a second later

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.watching.emit(False)

    def changeEvent(self, event: QEvent) -> None:
        """The theme switched (a new application palette): the plots follow it."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            for plot in (self.by_state, self.by_queue, self.oldest):
                _paint_plot(plot)
            for key, curve in self._curves.items():
                curve.setPen(pg.mkPen(_pen_colour(self._pen_roles[key]), width=2))

    def apply_diff(self, diff: StateDiff) -> None:
        self.rates.add(diff)

    def add_oldest(self, ages: dict[str, float]) -> None:
        """Queue -> its oldest waiting message's age in seconds, as the broker was just read."""
        self.rates.sample(OLDEST, ages)

    def reset(self) -> None:
        self.rates = Rates(window_s=self.rates.window_s)
        for plot in (self.by_state, self.by_queue, self.oldest):
            plot.clear()
        self._curves.clear()
        self._pen_roles.clear()
        self.redraw(force=True)

    def _curve(self, kind: str, key: str) -> pg.PlotDataItem:
        curve = self._curves.get((kind, key))
        if curve is None:
            if kind == "state":
                plot, pen = self.by_state, STATE_PENS.get(key, "text")
            else:
                plot = self.by_queue if kind == "queue" else self.oldest
                queues = [k for (k_kind, k) in self._curves if k_kind == kind]
                pen = QUEUE_PENS[len(queues) % len(QUEUE_PENS)]
            curve = plot.plot(name=key, pen=pg.mkPen(_pen_colour(pen), width=2))
            self._curves[(kind, key)] = curve
            self._pen_roles[(kind, key)] = pen
        return curve

    def redraw(self, force: bool = False) -> None:
        if not (force or self.isVisible()):
            return
        for kind in ("state", "queue"):
            for key in self.rates.keys(kind):
                xs, ys = self.rates.series(kind, key)
                self._curve(kind, key).setData(xs, ys)
        for key in self.rates.sample_keys(OLDEST):
            ages_at, ages = self.rates.samples(OLDEST, key)
            self._curve(OLDEST, key).setData(ages_at, ages)
        self.oldest.setXRange(-self.rates.window_s, 0)
        fill_table(
            self.runtimes,
            [
                (
                    s.name,
                    str(s.count),
                    f"{s.p50:.3f} s",
                    f"{s.p90:.3f} s",
                    f"{s.p99:.3f} s",
                    f"{s.max:.3f} s",
                )
                for s in self.rates.runtimes()
            ],
        )
