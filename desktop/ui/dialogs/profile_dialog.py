"""Create or edit a broker profile, with a message under each field that is wrong.

The password has its own field and is never shown: leaving it empty keeps the stored one.
"Test connection" and "Read from app" run off the GUI thread.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core import urls
from desktop.core.app_config import AppConfigError, apply_app_defaults, read_app_config
from desktop.core.connection import ConnectionReport, check_broker
from desktop.core.embedded import EmbeddedBrokerError
from desktop.core.profiles import (
    QUEUE_ORDER_STRATEGIES,
    Profile,
    ProfileError,
    QueueSpec,
    TransportOptions,
    validate,
)
from desktop.ui.background import Background
from desktop.ui.session import Session


def _encode_sep(sep: str) -> str:
    return sep.encode("unicode_escape").decode("ascii")


def _decode_sep(text: str) -> str:
    try:
        return text.encode("ascii").decode("unicode_escape")
    except (UnicodeError, ValueError):
        return text


class ProfileDialog(QDialog):
    def __init__(
        self, session: Session, profile: Profile | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.original_name = profile.name if profile else None
        self.background = Background(self)
        self.setWindowTitle(f"Edit profile '{profile.name}'" if profile else "New profile")
        self.resize(720, 760)
        self.error_labels: dict[str, QLabel] = {}
        # Real URLs behind fields shown masked; a field left as shown gets its real URL back.
        self._unmasked: dict[str, str] = {}
        self.saved: Profile | None = None

        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        layout = QVBoxLayout(body)

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
        self.read_app = QPushButton("Read queues and options from the app")
        self.read_app.clicked.connect(self._read_from_app)
        form.addRow("", self.read_app)
        layout.addWidget(app_box)

        transport = QGroupBox("Redis transport options")
        form = QFormLayout(transport)
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
        for spin in (self.visibility, self.restore_interval, self.restore_throttle):
            spin.valueChanged.connect(self._update_redelivery)
        self._row(form, "Queue order strategy", self.strategy, "transport.queue_order_strategy")
        self._row(form, "Priority steps", self.steps, "transport.priority_steps")
        self._row(form, "Separator", self.sep, "transport.sep")
        self._row(form, "Global key prefix", self.prefix, "transport.global_keyprefix")
        self._row(form, "Visibility timeout", self.visibility, "transport.visibility_timeout")
        self._row(
            form, "Restore interval", self.restore_interval, "transport.unacked_restore_interval"
        )
        self._row(
            form, "Restore throttle", self.restore_throttle, "transport.unacked_restore_throttle"
        )
        form.addRow("", self.redelivery)
        layout.addWidget(transport)

        queues = QGroupBox("Queues")
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

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.test_button = self.buttons.addButton(
            "Test connection", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.test_button.clicked.connect(self._test_connection)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        outer.addWidget(self.buttons)

        self.load(
            profile
            or Profile(
                name="",
                broker_url="redis://127.0.0.1:6379/0",
                result_backend="redis://127.0.0.1:6379/1",
            )
        )

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

        def browse() -> None:
            if directory:
                chosen = QFileDialog.getExistingDirectory(self, "Working directory", edit.text())
            else:
                chosen, _ = QFileDialog.getOpenFileName(self, "Python interpreter", edit.text())
            if chosen:
                edit.setText(chosen)

        button.clicked.connect(browse)
        row.addWidget(button)
        return holder

    @staticmethod
    def _spin(low: int, high: int, suffix: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSuffix(suffix)
        return spin

    # -- profile <-> form --------------------------------------------------------------------
    def load(self, profile: Profile) -> None:
        self.name.setText(profile.name)
        self.name.setReadOnly(profile.name == "embedded")
        self.broker.setText(urls.split_password(profile.broker_url).url)
        stored = self.session.services.profiles.with_secrets(profile)
        has_password = urls.password_of(stored.broker_url) is not None
        self.password.clear()
        self.password.setPlaceholderText(
            "stored — leave empty to keep it" if has_password else "none"
        )
        self._unmasked = {
            "result_backend": stored.result_backend,
            "management_url": stored.management_url,
        }
        self.backend.setText(urls.mask(stored.result_backend))
        self.management.setText(urls.mask(stored.management_url))
        self.app_module.setText(profile.app_module)
        self.workdir.setText(profile.workdir)
        self.django.setText(profile.django_settings)
        self.python.setText(profile.python)
        options = profile.transport
        self.strategy.setCurrentText(options.queue_order_strategy)
        self.steps.setText(", ".join(str(s) for s in options.priority_steps))
        self.sep.setText(_encode_sep(options.sep))
        self.prefix.setText(options.global_keyprefix)
        self.visibility.setValue(options.visibility_timeout)
        self.restore_interval.setValue(options.unacked_restore_interval)
        self.restore_throttle.setValue(options.unacked_restore_throttle)
        self.queues.setRowCount(0)
        for queue in profile.queues:
            self._add_queue_row(queue)
        self._update_redelivery()

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

    def _update_redelivery(self) -> None:
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
        elif self.original_name and urls.password_of(broker) is None:
            stored = self._stored_original()
            if urls.password_of(stored.broker_url) is not None:
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
            transport=TransportOptions(
                queue_order_strategy=self.strategy.currentText(),
                priority_steps=steps,
                sep=_decode_sep(self.sep.text()),
                global_keyprefix=self.prefix.text(),
                visibility_timeout=self.visibility.value(),
                unacked_restore_interval=self.restore_interval.value(),
                unacked_restore_throttle=self.restore_throttle.value(),
            ),
            queues=queues,
        )
        return profile, errors

    def _stored_original(self) -> Profile:
        """The profile being edited with its passwords; a command-line one lives in memory."""
        adhoc = self.session.adhoc
        if adhoc is not None and adhoc.name == self.original_name:
            return adhoc
        try:
            stored = self.session.services.profiles.get(self.original_name or "")
        except ProfileError:
            return Profile(name=self.original_name or "", broker_url="", result_backend="")
        return self.session.services.profiles.with_secrets(stored)

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

    # -- actions -------------------------------------------------------------------------------
    def _save(self) -> None:
        profile, errors = self.profile_from_form()
        errors = {**validate(profile), **errors}
        self.show_errors(errors)
        if errors:
            return
        try:
            self.saved = self.session.save(profile, self.original_name)
        except ProfileError as exc:
            self.show_errors(exc.errors)
            return
        except OSError as exc:
            self._set_status(f"Could not write the profile: {exc}", error=True)
            return
        self.accept()

    def _test_connection(self) -> None:
        profile, errors = self.profile_from_form()
        connection_errors = {
            k: v
            for k, v in {**validate(profile), **errors}.items()
            if k in ("broker_url", "result_backend")
        }
        self.show_errors(connection_errors)
        if connection_errors:
            return
        services = self.session.services
        self.test_button.setEnabled(False)
        self._set_status("Testing the connection (up to 5 s)…")

        def work() -> ConnectionReport:
            try:
                endpoints = services.endpoints(self._restore_masked(profile))
            except EmbeddedBrokerError as exc:
                from desktop.core.connection import Outcome

                return ConnectionReport(Outcome.ERROR, str(exc))
            return check_broker(endpoints.broker_url)

        self.background.submit(work, self._show_report, self._show_crash)

    def _restore_masked(self, profile: Profile) -> Profile:
        """Give a masked password back its stored value before connecting."""
        if urls.password_of(profile.broker_url) != urls.MASK or not self.original_name:
            return profile
        stored = self._stored_original()
        password = urls.password_of(stored.broker_url)
        return replace(
            profile,
            broker_url=urls.join_password(urls.split_password(profile.broker_url).url, password),
        )

    def _show_report(self, report: ConnectionReport) -> None:
        self.test_button.setEnabled(True)
        if report.ok:
            self._set_status(f"✔ {report.message} ({report.elapsed_s * 1000:.0f} ms)")
        else:
            self._set_status(f"✘ {report.outcome.value}: {report.message}", error=True)

    def _show_crash(self, exc: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.read_app.setEnabled(True)
        self._set_status(f"{type(exc).__name__}: {exc}", error=True)

    def _read_from_app(self) -> None:
        profile, _ = self.profile_from_form()
        problems = {
            k: v
            for k, v in validate(profile).items()
            if k in ("app_module", "workdir", "python", "django_settings")
        }
        self.show_errors(problems)
        if problems:
            return
        self.read_app.setEnabled(False)
        self._set_status(f"Importing '{profile.app_module}' in a child process…")

        def work() -> Profile:
            return apply_app_defaults(profile, read_app_config(profile))

        def done(filled: Profile) -> None:
            self.read_app.setEnabled(True)
            typed = self.password.text()
            self.load(replace(filled, broker_url=profile.broker_url))
            self.password.setText(typed)
            self._set_status(
                f"Read {len(filled.queues)} queue(s) and the transport options from "
                f"'{profile.app_module}'. Review, then save."
            )

        def failed(exc: BaseException) -> None:
            self.read_app.setEnabled(True)
            if isinstance(exc, AppConfigError):
                self._set_status(str(exc), error=True)
            else:
                self._show_crash(exc)

        self.background.submit(work, done, failed)

    def done(self, result: int) -> None:
        self.background.shutdown()
        super().done(result)
