"""Create or edit a broker profile, with a message under each field that is wrong.

The password has its own field and is never shown: leaving it empty keeps the stored one.
Everything that waits runs as a job off the GUI thread, the dialog usable meanwhile: the
secret store (read when an existing profile opens, written on Save; a keyring may take
seconds, or wait on an unlock prompt), "Test connection" and "Read from app". A newer read of
the app supersedes an older one, and closing the dialog drops whatever is still running.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.app.config import read_effective_config, with_app_backend
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker.connection import EndpointCheck, check_profile_endpoints
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ConfigFileError, ProfileError
from desktop.core.settings.profile_checks import validate
from desktop.core.settings.profile_model import Profile
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.wheel_guard import wheel_only_when_focused
from desktop.ui.profiles.form import ProfileForm
from desktop.ui.profiles.tips import explain_form
from desktop.ui.session.session import Session


class ProfileDialog(ProfileForm, QDialog):
    def __init__(
        self, session: Session, profile: Profile | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.original_name = profile.name if profile else None
        self.jobs = Jobs(self)
        self.setWindowTitle(f"Edit profile '{profile.name}'" if profile else "New profile")
        self.resize(720, 760)
        self.saved: Profile | None = None
        # The fingerprint of the app the profile was read with.
        self._fingerprint = profile.app_fingerprint if profile else ""
        # The shared history (set with `profile add --history`; no field on this form yet):
        # kept as it is, its stored password with it (masked: the store keeps the secret).
        self._history = profile.history if profile else urls.HISTORY_SQLITE
        adhoc = session.adhoc
        self._original_has_password = (
            urls.password_of(adhoc.broker_url) is not None  # in memory: nothing to wait for
            if adhoc is not None and adhoc.name == self.original_name
            else None
        )

        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self._build_form(QVBoxLayout(body))
        self.read_app.clicked.connect(lambda: self._read_from_app())

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
        explain(self.queues, "Queues added to the app's own: name, x-max-priority, routing keys",
                "Extra queues")  # fmt: skip
        explain_form(self)

        self.load(
            profile
            or Profile(
                name="",
                broker_url="redis://127.0.0.1:6379/0",
                result_backend="",
            )
        )
        wheel_only_when_focused(self)  # scrolling the form never changes a value under it
        current = session.app_config
        if (
            profile is not None
            and session.profile is not None
            and current is not None
            and (session.profile.name == profile.name)
        ):
            self.show_config(current)
        else:
            self._read_from_app(quiet=True)

    @property
    def save_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Save)

    @property
    def secrets_read(self) -> bool:
        """The stored passwords are in the form (at once for a new profile)."""
        return not self.jobs.running("secrets")

    @property
    def saving(self) -> bool:
        return self.jobs.running("save")

    # -- the secret store ----------------------------------------------------------------------
    def load(self, profile: Profile) -> None:
        """The profile into the form; its passwords follow from the secret store, read off the
        GUI thread. Until they are in, the fields they belong in are read-only and Save waits:
        a URL saved without its password would delete the stored one."""
        self.fill(profile)
        if self.original_name is None:  # a new profile: nothing stored to read
            self._original_has_password = False
            self.show_secrets(profile)
            return
        self._hold_secret_fields(True)
        self.password.setPlaceholderText("reading the stored password…")
        self.jobs.run("secrets", self._read_secrets(profile))

    def _hold_secret_fields(self, hold: bool) -> None:
        for field in (self.backend, self.management):
            field.setReadOnly(hold)
        self.save_button.setEnabled(not hold)

    async def _read_secrets(self, profile: Profile) -> None:
        services, adhoc, name = self.session.services, self.session.adhoc, self.original_name
        try:
            stored, original = await Jobs.blocking(
                _secrets_of, services, adhoc, name or "", profile
            )
        except Exception as exc:  # a keyring that refuses, a damaged secrets file: say which
            self.password.setPlaceholderText("")
            self._set_status(f"The stored passwords could not be read: {exc}", error=True)
            return  # Save stays off: saving now would drop the passwords it could not read
        self._original_has_password = urls.password_of(original.broker_url) is not None
        self.show_secrets(stored)
        self._hold_secret_fields(False)
        if self.config is not None:
            self.show_config(self.config)  # its summary names the result backend, now masked

    def _stored_original(self) -> Profile:
        """The profile being edited with its passwords; a command-line one lives in memory.
        Blocking on the secret store: called on job threads only."""
        return _stored_original(self.session.services, self.session.adhoc, self.original_name)

    # -- actions -------------------------------------------------------------------------------
    def _save(self) -> None:
        profile, errors = self.profile_from_form()
        errors = {**validate(profile), **errors}
        self.show_errors(errors)
        if errors or self.saving:
            return
        self.jobs.run("save", self._store(profile))

    async def _store(self, profile: Profile) -> None:
        """Write the profile (passwords into the secret store) off the GUI thread, then open
        it if it is the one in use, as `Session.save` does."""
        services, replace_name = self.session.services, self.original_name
        self.save_button.setEnabled(False)
        try:
            saved = await Jobs.blocking(_write_profile, services, profile, replace_name)
            self.session.after_save(saved, replace_name)
            self.saved = saved
            read = self.config
            if read is not None and read.imported and read.fingerprint == profile.app_fingerprint:
                # the configuration the fingerprint stands for, so later drift says what changed
                services.config_history().remember(profile.name, read)
        except ConfigFileError as exc:  # profiles.toml or the secrets cannot be used: say which
            self._set_status(str(exc), error=True)
        except ProfileError as exc:
            self.show_errors(exc.errors)
        except OSError as exc:
            self._set_status(f"Could not write the profile: {exc}", error=True)
        else:
            self.accept()
            return
        self.save_button.setEnabled(True)  # not on cancel: the dialog may be gone by then

    def _test_connection(self) -> None:
        """Broker, result backend (the app's own when the profile names none) and the RabbitMQ
        management API, each tried once, as `celery-desk profile test` does."""
        profile, errors = self.profile_from_form()
        connection_errors = {
            k: v
            for k, v in {**validate(profile), **errors}.items()
            if k in ("broker_url", "result_backend", "management_url")
        }
        self.show_errors(connection_errors)
        if connection_errors:
            return
        self.test_button.setEnabled(False)
        self._set_status("Testing the broker, the result backend and the management API…")
        self.jobs.run("test", self._test(profile, self.config))

    async def _test(self, profile: Profile, config: EffectiveConfig | None) -> None:
        # Nothing of the dialog goes to the thread: a dialog closed meanwhile is let go.
        services, adhoc, name = self.session.services, self.session.adhoc, self.original_name

        def work() -> list[EndpointCheck]:
            try:
                endpoints = services.endpoints(_restore_masked(services, adhoc, name, profile))
            except EmbeddedBrokerError as exc:
                return [EndpointCheck("broker", False, "error", str(exc))]
            if config is not None:
                endpoints = with_app_backend(endpoints, config)
            return check_profile_endpoints(endpoints)

        try:
            checks = await Jobs.blocking(work)
        except Exception as exc:
            self._show_crash(exc)
            return
        self._show_report(checks)

    def _restore_masked(self, profile: Profile) -> Profile:
        """Give a masked password back its stored value before connecting (on a job thread:
        it reads the secret store)."""
        return _restore_masked(
            self.session.services, self.session.adhoc, self.original_name, profile
        )

    def _show_report(self, checks: list[EndpointCheck]) -> None:
        self.test_button.setEnabled(True)
        lines = [f"{'✔' if check.ok else '✘'} {check.what}: {check.message}" for check in checks]
        self._set_status("\n".join(lines), error=not all(check.ok for check in checks))

    def _show_crash(self, exc: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.read_app.setEnabled(True)
        self._set_status(f"{type(exc).__name__}: {exc}", error=True)

    def _read_from_app(self, quiet: bool = False) -> None:
        """Import the app in a child process (its interpreter, directory, settings) and show
        what it sets; `quiet` when the dialog opens: no message while it reads. A later read
        (other fields) supersedes this one."""
        profile, _ = self.profile_from_form()
        problems = {
            k: v
            for k, v in validate(profile).items()
            if k in ("app_module", "workdir", "python", "django_settings")
        }
        if not quiet:
            self.show_errors(problems)
        if problems:
            return
        self.read_app.setEnabled(False)
        if not quiet:
            self._set_status(f"Importing '{profile.app_module}' in a child process…")
        self.jobs.run("read-app", self._read_app(profile, quiet))

    async def _read_app(self, profile: Profile, quiet: bool) -> None:
        # Nothing of the dialog goes to the thread: a dialog closed meanwhile is let go.
        services, adhoc, name = self.session.services, self.session.adhoc, self.original_name

        def work() -> EffectiveConfig:
            endpoints = None
            try:
                endpoints = services.endpoints(_restore_masked(services, adhoc, name, profile))
            except (EmbeddedBrokerError, ProfileError):
                endpoints = None
            return read_effective_config(profile, endpoints)

        try:
            config = await Jobs.blocking(work)
        except Exception as exc:
            self.read_app.setEnabled(True)
            if not quiet:
                self._show_crash(exc)
            return
        self.read_app.setEnabled(True)
        self.show_config(config)
        if config.imported:
            self._fingerprint = config.fingerprint
        if not quiet:
            self._set_status(
                f"Read '{config.main}'." if config.imported else config.error,
                error=not config.imported,
            )

    def done(self, result: int) -> None:
        self.jobs.cancel_all()  # closed: nothing still running lands on it
        super().done(result)


def _stored_original(services: Services, adhoc: Profile | None, name: str | None) -> Profile:
    """The profile named `name` as stored, with its passwords; a command-line one lives in
    memory. Blocking on the secret store."""
    if adhoc is not None and adhoc.name == name:
        return adhoc
    try:
        stored = services.profiles.get(name or "")
    except ProfileError:
        return Profile(name=name or "", broker_url="", result_backend="")
    return services.profiles.with_secrets(stored)


def _restore_masked(
    services: Services, adhoc: Profile | None, name: str | None, profile: Profile
) -> Profile:
    """`profile` with a masked broker password given back its stored value, before
    connecting. Blocking on the secret store."""
    if urls.password_of(profile.broker_url) != urls.MASK or not name:
        return profile
    stored = _stored_original(services, adhoc, name)
    password = urls.password_of(stored.broker_url)
    return replace(
        profile,
        broker_url=urls.join_password(urls.split_password(profile.broker_url).url, password),
    )


def _secrets_of(
    services: Services, adhoc: Profile | None, name: str, profile: Profile
) -> tuple[Profile, Profile]:
    """On a job thread: `profile` with its stored passwords, and the stored original."""
    return services.profiles.with_secrets(profile), _stored_original(services, adhoc, name)


def _write_profile(services: Services, profile: Profile, replace_name: str | None) -> Profile:
    """On a job thread: the profile into profiles.toml, its passwords into the secret store.
    `replace_name` None means a new profile, which must not overwrite an existing one."""
    return services.profiles.save(profile, replace_name=replace_name, create=replace_name is None)
