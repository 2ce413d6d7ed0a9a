"""Add a local worker: queues from the profile, Celery's worker settings, checked as you type."""

from __future__ import annotations

import shlex

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.local.worker_spec import LOG_LEVELS, POOLS, WorkerSpec, suggested_name
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.accessible import explain, explain_labelled
from desktop.ui.common.wheel_guard import wheel_only_when_focused


def redelivery_note(config: EffectiveConfig, acks_late: bool | None) -> str:
    """What happens to a running task if this worker dies, on this broker, by the app's own
    transport settings (each with where it comes from)."""
    if not config.is_redis:
        return "If the worker dies mid-task, RabbitMQ gives an unacknowledged task back at once."
    delay = config.redelivery_delay_s()
    if delay is None:
        return ""
    interval = config.transport_option("unacked_restore_interval")
    throttle = config.transport_option("unacked_restore_throttle")
    late = (
        ""
        if (acks_late if acks_late is not None else config.acks_late)
        else (" (with acks_late on)")
    )
    return (
        f"If the worker dies mid-task{late}, Redis hands the task to another worker after "
        f"about {delay:.0f} s: the visibility timeout "
        f"({config.transport_option('visibility_timeout')} s, "
        f"{config.transport_source('visibility_timeout')}) plus the restore sweep "
        f"({interval} s x {throttle}, {config.transport_source('unacked_restore_interval')})."
    )


def overrides_note(config: EffectiveConfig) -> str:
    """The transport options this worker gets other than the app's own, said plainly."""
    if not config.overrides:
        return ""
    shown = ", ".join(
        f"{key} {value!r} (the app: {config.app_transport_option(key)!r})"
        for key, value in config.overrides.items()
    )
    return (
        f"The profile overrides the app's transport options: {shown}. This worker gets them "
        "after `--`; workers started by hand keep the app's."
    )


class WorkerDialog(QDialog):
    def __init__(
        self,
        profile: Profile,
        config: EffectiveConfig,
        taken: set[str],
        spec: WorkerSpec | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a local worker")
        self.profile = profile
        self.config = config
        self.taken = taken
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. queue1 (the node becomes NAME@host)")
        form.addRow("Name", self.name)
        self.queues = QListWidget()
        self.queues.setMaximumHeight(110)
        for queue in config.queues:
            item = QListWidgetItem(queue.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.queues.addItem(item)
        form.addRow("Queues (-Q)", self.queues)
        self.pool = QComboBox()
        self.pool.addItems(list(POOLS))
        form.addRow("Pool (-P)", self.pool)
        self.concurrency = QSpinBox()
        self.concurrency.setRange(0, 512)
        self.concurrency.setSpecialValueText("one per CPU (Celery's default)")
        form.addRow("Concurrency (-c)", self.concurrency)
        self.prefetch = QSpinBox()
        self.prefetch.setRange(0, 1000)
        self.prefetch.setSpecialValueText(f"the app's setting ({config.prefetch_multiplier})")
        form.addRow("Prefetch multiplier", self.prefetch)
        autoscale = QHBoxLayout()
        self.autoscale = QCheckBox("on")
        self.autoscale_max = QSpinBox()
        self.autoscale_max.setRange(1, 512)
        self.autoscale_max.setValue(4)
        self.autoscale_max.setPrefix("most ")
        self.autoscale_min = QSpinBox()
        self.autoscale_min.setRange(0, 512)
        self.autoscale_min.setValue(1)
        self.autoscale_min.setPrefix("fewest ")
        for widget in (self.autoscale, self.autoscale_max, self.autoscale_min):
            autoscale.addWidget(widget)
        form.addRow("Autoscale", autoscale)
        self.max_tasks = QSpinBox()
        self.max_tasks.setRange(0, 1_000_000)
        self.max_tasks.setSpecialValueText("no limit")
        form.addRow("Max tasks per child", self.max_tasks)
        self.fair = QCheckBox("-O fair: hand a task only to an idle process")
        form.addRow("Scheduling", self.fair)
        self.acks_late = QComboBox()
        self.acks_late.addItems(
            [f"the app's setting ({'on' if config.acks_late else 'off'})", "on", "off"]
        )
        form.addRow("acks_late", self.acks_late)
        self.loglevel = QComboBox()
        self.loglevel.addItems(list(LOG_LEVELS))
        self.loglevel.setCurrentText("INFO")
        form.addRow("Log level (-l)", self.loglevel)
        self.auto_restart = QCheckBox("restart after a crash, waiting 1 s, 2 s, 4 s … up to 60 s")
        form.addRow("Auto-restart", self.auto_restart)
        for control, tip, name in (
            (self.name, "The worker's name: its node is NAME@host", ""),
            (self.queues, "Tick the queues this worker consumes", ""),
            (self.pool, "How the worker runs tasks: prefork processes, threads, solo…", ""),
            (self.concurrency, "How many tasks the worker runs at once", ""),
            (self.prefetch, "How many tasks each process reserves ahead of running them", ""),
            (self.autoscale, "Grow and shrink the pool with the load, between the two numbers",
             "Autoscale"),
            (self.autoscale_max, "The most processes the pool grows to", "Autoscale most"),
            (self.autoscale_min, "The fewest processes the pool shrinks to", "Autoscale fewest"),
            (self.max_tasks, "Replace a process after this many tasks (leaks stay bounded)", ""),
            (self.fair, "A task waits for an idle process instead of queueing behind a busy one",
             ""),
            (self.acks_late, "Acknowledge a task after it ran, not before: a crash redelivers it",
             ""),
            (self.loglevel, "How much the worker writes to its log", ""),
            (self.auto_restart, "If the worker crashes, start it again, waiting longer each time",
             ""),
        ):  # fmt: skip
            explain(control, tip, name)
        layout.addLayout(form)
        self.problems = QLabel()
        self.problems.setProperty("role", "error")
        self.problems.setWordWrap(True)
        layout.addWidget(self.problems)
        self.note = QLabel()
        self.note.setProperty("role", "muted")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.overrides = QLabel(overrides_note(config))
        self.overrides.setProperty("role", "warning")
        self.overrides.setWordWrap(True)
        self.overrides.setVisible(bool(config.overrides))
        layout.addWidget(self.overrides)
        self.command = QLabel()
        self.command.setProperty("role", "muted")
        self.command.setWordWrap(True)
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.command)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        explain_labelled(self.buttons, {"Start": "Start the worker with these settings"})
        layout.addWidget(self.buttons)
        for signal in (
            self.name.textChanged,
            self.queues.itemChanged,
            self.pool.currentIndexChanged,
            self.concurrency.valueChanged,
            self.prefetch.valueChanged,
            self.autoscale.toggled,
            self.autoscale_max.valueChanged,
            self.autoscale_min.valueChanged,
            self.max_tasks.valueChanged,
            self.fair.toggled,
            self.acks_late.currentIndexChanged,
            self.loglevel.currentIndexChanged,
            self.auto_restart.toggled,
        ):
            signal.connect(self.validate)
        self._named_for: list[str] = []  # the queues the name was last suggested for
        self.queues.itemChanged.connect(self._follow_queues)
        self.set_spec(spec or WorkerSpec(name="", queues=[]))
        wheel_only_when_focused(self)
        self.resize(560, self.sizeHint().height())

    def _follow_queues(self) -> None:
        """The name follows the ticked queues while it is the one suggested for them (or
        empty): unticking queue1 does not leave a worker named queue1. A name the person
        typed stays."""
        name = self.name.text().strip()
        if name and name != suggested_name(self._named_for, self.taken):
            return
        self._named_for = self.spec().queues
        self.name.setText(suggested_name(self._named_for, self.taken))

    def set_spec(self, spec: WorkerSpec) -> None:
        self._named_for = list(spec.queues)
        self.name.setText(spec.name)
        for row in range(self.queues.count()):
            item = self.queues.item(row)
            checked = item.text() in spec.queues
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.pool.setCurrentText(spec.pool)
        self.concurrency.setValue(spec.concurrency or 0)
        self.prefetch.setValue(spec.prefetch_multiplier or 0)
        self.autoscale.setChecked(spec.autoscale_max is not None)
        if spec.autoscale_max is not None:
            self.autoscale_max.setValue(spec.autoscale_max)
            self.autoscale_min.setValue(spec.autoscale_min or 0)
        self.max_tasks.setValue(spec.max_tasks_per_child or 0)
        self.fair.setChecked(spec.fair)
        self.acks_late.setCurrentIndex({None: 0, True: 1, False: 2}[spec.acks_late])
        self.loglevel.setCurrentText(spec.loglevel.upper())
        self.auto_restart.setChecked(spec.auto_restart)
        self.validate()

    def spec(self) -> WorkerSpec:
        queues = [
            self.queues.item(row).text()
            for row in range(self.queues.count())
            if self.queues.item(row).checkState() == Qt.CheckState.Checked
        ]
        scaled = self.autoscale.isChecked()
        return WorkerSpec(
            name=self.name.text().strip(),
            queues=queues,
            concurrency=self.concurrency.value() or None,
            pool=self.pool.currentText(),
            prefetch_multiplier=self.prefetch.value() or None,
            autoscale_max=self.autoscale_max.value() if scaled else None,
            autoscale_min=self.autoscale_min.value() if scaled else None,
            max_tasks_per_child=self.max_tasks.value() or None,
            fair=self.fair.isChecked(),
            acks_late=[None, True, False][self.acks_late.currentIndex()],
            loglevel=self.loglevel.currentText(),
            auto_restart=self.auto_restart.isChecked(),
        )

    def validate(self) -> dict[str, str]:
        spec = self.spec()
        problems = spec.problems(self.config.queue_names())
        if spec.name in self.taken:
            problems["name"] = f"a worker named {spec.name} already runs: choose another name"
        self.problems.setText("\n".join(f"{k}: {v}" for k, v in problems.items()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        self.note.setText(redelivery_note(self.config, spec.acks_late))
        argv = ["celery", "-A", self.profile.app_module, *spec.worker_args()]
        if self.config.overrides:
            argv += ["--", "broker_transport_options=(json)…"]
        self.command.setText(
            "Runs: " + shlex.join(argv) + "\nBroker and backend URLs reach it through its "
            "environment (CELERY_BROKER_URL, CELERY_RESULT_BACKEND), never its command line."
        )
        return problems
