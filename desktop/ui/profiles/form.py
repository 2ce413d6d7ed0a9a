"""The profile dialog's form: its fields, a message under each one that is wrong, the app's
values shown where the profile does not override them, and the profile read back from it.

Why apart from the dialog: the dialog's part is what runs off the GUI thread (the secret
store, the connection test, reading the app); this part only turns a profile into fields and
fields into a profile, on the GUI thread, and waits on nothing.
"""

from __future__ import annotations

from typing import cast

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.settings import urls
from desktop.core.settings.profile_model import (
    QUEUE_ORDER_STRATEGIES,
    Profile,
    QueueSpec,
    TransportOverrides,
)
from desktop.ui.profiles.broker_field import follow_broker_url
from desktop.ui.profiles.redaction_fields import RedactionFields


def _encode_sep(sep: str) -> str:
    return sep.encode("unicode_escape").decode("ascii")


def _decode_sep(text: str) -> str:
    try:
        return text.encode("ascii").decode("unicode_escape")
    except (UnicodeError, ValueError):
        return text


class ProfileForm:
    """The fields of a profile, mixed into `ProfileDialog` (a plain mixin: PySide keeps no
    signals on a class with two Qt bases), so its widgets are the dialog's own."""

    original_name: str | None
    status: QLabel  # the dialog's line under the form
    _fingerprint: str  # the app's fingerprint the profile was read with
    _history: str = urls.HISTORY_SQLITE  # the profile's history, kept as it was
    # Whether the stored profile being edited has a broker password: an empty password
    # field then keeps it. None until the secret store has answered.
    _original_has_password: bool | None

    def _build_form(self, layout: QVBoxLayout) -> None:
        """The groups of fields, into `layout`."""
        self.error_labels: dict[str, QLabel] = {}
        # Real URLs behind fields shown masked; a field left as shown gets its real URL back.
        self._unmasked: dict[str, str] = {}
        # The app as last read for this form.
        self.config: EffectiveConfig | None = None
        general = QGroupBox("Connection")
        form = QFormLayout(general)
        self.name = QLineEdit()
        self.broker = QLineEdit()
        self.broker.setPlaceholderText("embedded, redis://host:6379/0 or amqp://user@host:5672//")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.backend = QLineEdit()
        self.backend.setPlaceholderText("embedded, redis://host:6379/1, rpc:// or empty")
        self.management = QLineEdit()
        self.management.setPlaceholderText("http://host:15672 (RabbitMQ management API)")
        self.broker.textChanged.connect(
            lambda text: self.password.setEnabled(text.strip() != urls.EMBEDDED)
        )
        self._row(form, "Name", self.name, "name")
        self._row(form, "Broker URL", self.broker, "broker_url")
        self._row(form, "Broker password", self.password, "password")
        self._row(form, "Result backend", self.backend, "result_backend")
        self._row(form, "Management URL", self.management, "management_url")
        layout.addWidget(general)

        app_box = QGroupBox("Celery app")
        form = QFormLayout(app_box)
        self.app_module = QLineEdit()
        self.workdir = QLineEdit()
        self.django = QLineEdit()
        self.django.setPlaceholderText("e.g. dcelery.settings (Django projects only)")
        self.python = QLineEdit()
        self.python.setPlaceholderText("(the panel's own interpreter)")
        self._row(form, "App module", self.app_module, "app_module")
        self._row(form, "Working directory", self._with_browse(self.workdir, True), "workdir")
        self._row(form, "DJANGO_SETTINGS_MODULE", self.django, "django_settings")
        self._row(form, "Python for workers", self._with_browse(self.python, False), "python")
        self.read_app = QPushButton("Read the app's configuration")  # the dialog's job
        form.addRow("", self.read_app)
        self.app_summary = QLabel("The app has not been read yet.")
        self.app_summary.setProperty("role", "muted")
        self.app_summary.setWordWrap(True)
        form.addRow("", self.app_summary)
        layout.addWidget(app_box)

        transport = QGroupBox("Redis transport options: the app's, unless overridden here")
        form = QFormLayout(transport)
        explain = QLabel(
            "Each value is the app's own broker_transport_options, else kombu's default. Tick "
            "Override only to differ on purpose: the panel then sends and reads with it and "
            "starts its workers with it, but workers started by hand keep the app's."
        )
        explain.setProperty("role", "muted")
        explain.setWordWrap(True)
        form.addRow(explain)
        self.strategy = QComboBox()
        self.strategy.addItems(list(QUEUE_ORDER_STRATEGIES))
        self.steps = QLineEdit()
        self.sep = QLineEdit()
        self.prefix = QLineEdit()
        self.visibility = self._spin(1, 7 * 24 * 3600, " s")
        self.restore_interval = self._spin(1, 3600, " s")
        self.restore_throttle = self._spin(1, 1000, "")
        self.redelivery = QLabel()
        self.redelivery.setProperty("role", "muted")
        self.redelivery.setWordWrap(True)
        for spin in (self.visibility, self.restore_interval, self.restore_throttle):
            spin.valueChanged.connect(self._update_redelivery)
        self.override_boxes: dict[str, QCheckBox] = {}
        self.source_labels: dict[str, QLabel] = {}
        for key, title, field in (
            ("queue_order_strategy", "Queue order strategy", self.strategy),
            ("priority_steps", "Priority steps", self.steps),
            ("sep", "Separator", self.sep),
            ("global_keyprefix", "Global key prefix", self.prefix),
            ("visibility_timeout", "Visibility timeout", self.visibility),
            ("unacked_restore_interval", "Restore interval", self.restore_interval),
            ("unacked_restore_throttle", "Restore throttle", self.restore_throttle),
        ):
            self._row(form, title, self._overridable(key, field), f"transport.{key}")
        form.addRow("", self.redelivery)
        layout.addWidget(transport)
        follow_broker_url(self.broker, self.password, transport)

        queues = QGroupBox("Extra queues (the app's own queues come from its configuration)")
        box = QVBoxLayout(queues)
        self.queues = QTableWidget(0, 3)
        self.queues.setHorizontalHeaderLabels(
            ["Name", "x-max-priority", "Routing keys (comma separated)"]
        )
        self.queues.horizontalHeader().setStretchLastSection(True)
        self.queues.setMinimumHeight(140)
        box.addWidget(self.queues)
        buttons = QHBoxLayout()
        add = QPushButton("Add queue")
        add.clicked.connect(lambda: self._add_queue_row(QueueSpec("")))
        remove = QPushButton("Remove selected")
        remove.clicked.connect(self._remove_queue_rows)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        box.addLayout(buttons)
        self.queue_errors = self._error_label("queues")
        box.addWidget(self.queue_errors)
        layout.addWidget(queues)

        kept = QGroupBox("The journal: failed tasks kept apart from its task limit, secrets hidden")
        form = QFormLayout(kept)
        self.failures_kept = self._spin(1, 100_000_000, " failed tasks")
        self.failures_days = self._spin(1, 36_500, " days")
        self._row(form, "Keep at most", self.failures_kept, "failure_retention_tasks")
        self._row(form, "Keep for", self.failures_days, "failure_retention_days")
        self.redaction = RedactionFields(form, self._row)
        layout.addWidget(kept)

    # -- construction helpers ---------------------------------------------------------------
    def _error_label(self, key: str) -> QLabel:
        label = QLabel()
        label.setProperty("role", "error")
        label.setWordWrap(True)
        label.hide()
        self.error_labels[key] = label
        return label

    def _row(self, form: QFormLayout, title: str, field: QWidget, key: str) -> None:
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field)
        column.addWidget(self._error_label(key))
        form.addRow(title, holder)

    def _with_browse(self, edit: QLineEdit, directory: bool) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        parent = cast(QWidget, self)  # mixed into the dialog

        def browse() -> None:
            if directory:
                chosen = QFileDialog.getExistingDirectory(parent, "Working directory", edit.text())
            else:
                chosen, _ = QFileDialog.getOpenFileName(parent, "Python interpreter", edit.text())
            if chosen:
                edit.setText(chosen)

        button.clicked.connect(browse)
        row.addWidget(button)
        return holder

    def _overridable(self, key: str, field: QWidget) -> QWidget:
        """An "Override" box before the field and where the value comes from after it."""
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        box = QCheckBox("Override")
        box.setAccessibleName(f"Override {key}")
        source = QLabel()
        source.setProperty("role", "muted")
        box.toggled.connect(lambda on: self._override_toggled(key, field, on))
        row.addWidget(box)
        row.addWidget(field, 1)
        row.addWidget(source)
        self.override_boxes[key] = box
        self.source_labels[key] = source
        field.setEnabled(False)
        return holder

    def _override_toggled(self, key: str, field: QWidget, on: bool) -> None:
        field.setEnabled(on)
        if not on:
            self._show_app_value(key)
        self._show_source(key)
        self._update_redelivery()

    def _show_source(self, key: str) -> None:
        label = self.source_labels[key]
        if self.override_boxes[key].isChecked():
            label.setText("override")
        elif self.config is None:
            label.setText("the app's (not read yet)")
        else:
            label.setText(self.config.transport_source(key) if key in self.config.transport_defaults
                          or key in self.config.app_transport_options else "")  # fmt: skip

    def _show_app_value(self, key: str) -> None:
        """A field not overridden shows what the app's workers use."""
        if self.config is not None:
            self._set_field(key, self.config.app_transport_option(key))

    def _set_field(self, key: str, value: object) -> None:
        """One transport option into its field; a value of another type leaves it as it is."""
        field = self._field(key)
        if isinstance(field, QComboBox) and isinstance(value, str):
            field.setCurrentText(value)
        elif isinstance(field, QSpinBox) and isinstance(value, int):
            field.setValue(value)
        elif field is self.steps and isinstance(value, list):
            self.steps.setText(", ".join(str(s) for s in value))
        elif field is self.sep and isinstance(value, str):
            self.sep.setText(_encode_sep(value))
        elif field is self.prefix and isinstance(value, str):
            self.prefix.setText(value)

    def show_config(self, config: EffectiveConfig | None) -> None:
        """The app as read: its values in every field not overridden, and a summary."""
        self.config = config
        for key, box in self.override_boxes.items():
            if not box.isChecked():
                self._show_app_value(key)
            self._show_source(key)
        self._update_redelivery()
        if config is None:
            return
        if not config.imported:
            self.app_summary.setText(
                f"Could not import the app ({config.error}); the fields show Celery's and "
                "kombu's defaults."
            )
            return
        queues = ", ".join(
            f"{q.name}" + (f" (x-max-priority {q.max_priority})" if q.max_priority else "")
            for q in config.queues
        )
        chosen = self.backend.text().strip()
        if chosen:
            backend = f"{chosen} (this profile's)"
        elif config.result_backend:
            backend = f"{urls.mask(config.result_backend)} (the app's)"
        else:
            backend = "none (Celery default)"
        self.app_summary.setText(
            f"Read '{config.main}': {len(config.tasks)} task(s); queues {queues or 'none'}; "
            f"default queue {config.default_queue}; result backend {backend}."
        )

    @staticmethod
    def _spin(low: int, high: int, suffix: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSuffix(suffix)
        return spin

    # -- profile <-> form --------------------------------------------------------------------
    def fill(self, profile: Profile) -> None:
        """Every field but those that need the secret store (see `show_secrets`)."""
        self.name.setText(profile.name)
        self.name.setReadOnly(profile.name == "embedded")
        self.broker.setText(urls.split_password(profile.broker_url).url)
        self.password.clear()
        self._unmasked = {}
        self.backend.setText(urls.mask(profile.result_backend))
        self.management.setText(urls.mask(profile.management_url))
        self.app_module.setText(profile.app_module)
        self.workdir.setText(profile.workdir)
        self.django.setText(profile.django_settings)
        self.python.setText(profile.python)
        chosen = profile.transport.chosen()
        for key, box in self.override_boxes.items():
            box.blockSignals(True)
            box.setChecked(key in chosen)
            box.blockSignals(False)
        self._set_overrides(chosen)
        for key, box in self.override_boxes.items():
            self._override_toggled(key, self._field(key), box.isChecked())
        self.queues.setRowCount(0)
        for queue in profile.queues:
            self._add_queue_row(queue)
        self._update_redelivery()
        self.failures_kept.setValue(profile.failure_retention_tasks)
        self.failures_days.setValue(profile.failure_retention_days)
        self.redaction.show(profile)

    def show_secrets(self, stored: Profile) -> None:
        """The profile with its passwords (read off the GUI thread): whether the broker has
        one, and the real URLs behind the masked result backend and management fields."""
        has_password = urls.password_of(stored.broker_url) is not None
        self.password.setPlaceholderText(
            "stored — leave empty to keep it" if has_password else "none"
        )
        self._unmasked = {
            "result_backend": stored.result_backend,
            "management_url": stored.management_url,
        }
        self.backend.setText(urls.mask(stored.result_backend))
        self.management.setText(urls.mask(stored.management_url))

    def _add_queue_row(self, queue: QueueSpec) -> None:
        row = self.queues.rowCount()
        self.queues.insertRow(row)
        self.queues.setItem(row, 0, QTableWidgetItem(queue.name))
        self.queues.setItem(
            row, 1, QTableWidgetItem("" if queue.max_priority is None else str(queue.max_priority))
        )
        self.queues.setItem(row, 2, QTableWidgetItem(", ".join(queue.routing_keys)))

    def _remove_queue_rows(self) -> None:
        for row in sorted({i.row() for i in self.queues.selectedIndexes()}, reverse=True):
            self.queues.removeRow(row)

    def _field(self, key: str) -> QWidget:
        return {
            "queue_order_strategy": self.strategy,
            "priority_steps": self.steps,
            "sep": self.sep,
            "global_keyprefix": self.prefix,
            "visibility_timeout": self.visibility,
            "unacked_restore_interval": self.restore_interval,
            "unacked_restore_throttle": self.restore_throttle,
        }[key]

    def _set_overrides(self, chosen: dict[str, object]) -> None:
        for key, value in chosen.items():
            if key in self.override_boxes:
                self._set_field(key, value)

    def _update_redelivery(self) -> None:
        if self.config is None and not any(
            self.override_boxes[k].isChecked()
            for k in ("visibility_timeout", "unacked_restore_interval", "unacked_restore_throttle")
        ):
            self.redelivery.setText("")
            return
        delay = self.visibility.value() + (
            self.restore_interval.value() * self.restore_throttle.value()
        )
        self.redelivery.setText(
            f"On Redis, a task held by a killed worker runs again after about {delay} s."
        )

    def profile_from_form(self) -> tuple[Profile, dict[str, str]]:
        """The profile the form describes, and the errors found while parsing the fields."""
        errors: dict[str, str] = {}
        steps: list[int] = []
        try:
            steps = [int(part) for part in self.steps.text().replace(" ", "").split(",") if part]
        except ValueError:
            if self.override_boxes["priority_steps"].isChecked():
                errors["transport.priority_steps"] = "Priority steps must be numbers, e.g. 0,3,6,9"
        queues: list[QueueSpec] = []
        for row in range(self.queues.rowCount()):
            cells = [self.queues.item(row, c) for c in range(3)]
            name, priority_text, keys = (cell.text().strip() if cell else "" for cell in cells)
            priority: int | None = None
            if priority_text:
                try:
                    priority = int(priority_text)
                except ValueError:
                    errors[f"queues[{row}].max_priority"] = "x-max-priority must be a number"
            queues.append(QueueSpec(name, priority, [k.strip() for k in keys.split(",") if k]))
        broker = self.broker.text().strip()
        if self.password.text():
            broker = urls.join_password(urls.split_password(broker).url, self.password.text())
        elif (
            self.original_name
            and urls.password_of(broker) is None
            and self._original_has_password  # read off the GUI thread (the dialog's job)
        ):
            broker = urls.join_password(broker, urls.MASK)
        profile = Profile(
            name=self.name.text().strip(),
            broker_url=broker,
            result_backend=self._real_url("result_backend", self.backend.text().strip()),
            app_module=self.app_module.text().strip(),
            workdir=self.workdir.text().strip(),
            django_settings=self.django.text().strip(),
            python=self.python.text().strip(),
            management_url=self._real_url("management_url", self.management.text().strip()),
            transport=self._overrides(steps),
            queues=queues,
            app_fingerprint=self._fingerprint,
            failure_retention_tasks=self.failures_kept.value(),
            failure_retention_days=self.failures_days.value(),
            redacted_arguments=self.redaction.names_given(),
            keep_argument_values=self.redaction.keeps_values(),
            history=urls.keeping_stored_password(self._history),
        )
        return profile, errors

    def _overrides(self, steps: list[int]) -> TransportOverrides:
        """Only the ticked fields: everything else stays the app's."""

        def on(key: str) -> bool:
            return bool(self.override_boxes[key].isChecked())

        return TransportOverrides(
            queue_order_strategy=self.strategy.currentText()
            if on("queue_order_strategy")
            else None,
            priority_steps=steps if on("priority_steps") else None,
            sep=_decode_sep(self.sep.text()) if on("sep") else None,
            global_keyprefix=self.prefix.text() if on("global_keyprefix") else None,
            visibility_timeout=self.visibility.value() if on("visibility_timeout") else None,
            unacked_restore_interval=self.restore_interval.value()
            if on("unacked_restore_interval")
            else None,
            unacked_restore_throttle=self.restore_throttle.value()
            if on("unacked_restore_throttle")
            else None,
        )

    def _real_url(self, field_name: str, shown: str) -> str:
        real = self._unmasked.get(field_name, "")
        return real if real and shown == urls.mask(real) else shown

    def show_errors(self, errors: dict[str, str]) -> None:
        queue_messages = []
        for key, label in self.error_labels.items():
            if key == "queues":
                continue
            message = errors.get(key)
            label.setText(message or "")
            label.setVisible(bool(message))
        for key, message in sorted(errors.items()):
            if key.startswith("queues["):
                row = int(key[len("queues[") : key.index("]")])
                queue_messages.append(f"Row {row + 1}: {message}")
            elif key not in self.error_labels:
                queue_messages.append(message)
        self.queue_errors.setText("\n".join(queue_messages))
        self.queue_errors.setVisible(bool(queue_messages))
        if errors:
            self._set_status(f"{len(errors)} problem(s) to fix before saving.", error=True)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("role", "error" if error else "muted")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
