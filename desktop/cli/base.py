"""The `celery-desk` click group and what every command shares: the profile a command acts on
(`Selection`, from --profile or --broker/--app flags), its options, and the one-line errors and
exit codes that end a command instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.profile_model import Endpoints, Profile

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig

F = TypeVar("F", bound=Callable[..., Any])
ADHOC_PROFILE = "command-line"
# The option that sets each profile field for one command (see `_merge`).
_OPTION_OF = {
    "broker_url": "--broker",
    "result_backend": "--backend",
    "app_module": "--app",
    "workdir": "--workdir",
}


@dataclass
class Selection:
    """Which profile a command acts on: a named one, or one made from --broker/--app flags."""

    config_dir: str | None = None
    profile: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def services(self) -> Services:
        return Services.open(self.config_dir)

    def resolve(self, services: Services, name: str | None = None) -> Profile:
        chosen = name or self.profile
        if chosen:
            base = services.profiles.get(chosen)
        elif self.overrides.get("broker_url"):
            base = Profile(name=ADHOC_PROFILE, result_backend="")
        else:
            base = services.profiles.get(services.profiles.active_name())
        values = {**base.__dict__, **self.overrides}
        if any(urls.mask(url) != url for url in self.overrides.values() if "://" in url):
            _warn_password_on_command_line()
        unreadable = {  # a URL given here was never checked by `profile add`
            _OPTION_OF.get(key, key): f"URL {problem}"
            for key, url in self.overrides.items()
            if "://" in url and (problem := urls.unreadable(url))
        }
        if unreadable:
            raise ProfileError(unreadable)
        return Profile(**values)


def _warn_password_on_command_line() -> None:
    click.echo(
        "warning: a password on the command line shows in `ps` and shell history; "
        "store it in a profile with `celery-desk profile add NAME --broker URL --ask-password`",
        err=True,
    )


class DeskGroup(click.Group):
    """Every command ends with one clear line, never a traceback, when a store of the panel's
    own (profiles.toml, secrets, the keyring, a journal, a directory) cannot be used."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProfileError as exc:  # ConfigFileError included: it names the file
            _profile_errors(exc)
        except OSError as exc:
            if exc.filename is None:
                raise
            _fail(f"{exc.filename}: {exc.strerror or exc}")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _profile_errors(exc: ProfileError) -> NoReturn:
    _field_errors(exc.errors)


def _field_errors(errors: Mapping[str, str]) -> NoReturn:
    """A refused profile or worker: one line per field, exit 2 (nothing was done)."""
    for where, message in errors.items():
        click.echo(f"error: {where}: {message}", err=True)
    sys.exit(2)


def _services_of(ctx: click.Context, config_dir: str | None) -> Services:
    """The services of a command whose only selection option is --config-dir (given to it or
    before it): one that names a profile itself, by argument."""
    return Services.open(config_dir or ctx.ensure_object(Selection).config_dir)


def _profile_or_exit(selection: Selection, services: Services, name: str | None = None) -> Profile:
    """The chosen profile; a bad one ends the command with each field's message."""
    try:
        return selection.resolve(services, name)
    except ProfileError as exc:
        _profile_errors(exc)


def _connect_target(
    selection: Selection, services: Services, name: str | None = None
) -> tuple[Profile, Endpoints]:
    """The chosen profile and its URLs (passwords restored); exits with a clear message."""
    item = _profile_or_exit(selection, services, name)
    try:
        return item, services.endpoints(item)
    except EmbeddedBrokerError as exc:
        _fail(str(exc))


def _app_target(
    selection: Selection, services: Services, name: str | None = None
) -> tuple[Profile, Endpoints, EffectiveConfig]:
    """The chosen profile, its URLs and its app's effective configuration. An app that cannot
    be imported is said on stderr and Celery's and kombu's defaults are used; so is a change of
    the app's configuration since the profile last read it."""
    from desktop.core.app.config import drift_of, read_effective_config, with_app_backend

    item, endpoints = _connect_target(selection, services, name)
    config = read_effective_config(item, endpoints)
    if not config.imported:
        click.echo(
            f"warning: {config.error}; using Celery's and kombu's defaults for everything the "
            "app would set",
            err=True,
        )
    else:
        changed = drift_of(item, config, services.config_history())
        if changed.changed:
            click.echo(
                f"note: {changed.summary()} (`celery-desk profile refresh {item.name}`)", err=True
            )
    for conflict in config.conflicts():
        click.echo(
            f"note: the profile overrides {conflict.text()} (the app's → the override)", err=True
        )
    return item, with_app_backend(endpoints, config), config


def _step_timeout_option(func: F) -> F:
    """--timeout: the bound of each step that waits on the broker (bounds.COMMAND_STEP_S)."""
    from desktop.core.base.bounds import COMMAND_STEP_S

    return click.option(
        "--timeout",
        type=float,
        default=COMMAND_STEP_S,
        show_default=True,
        help="Seconds each step may wait on the broker; then say which did not answer, exit 1.",
    )(func)


def selection_options(func: F) -> F:
    """--profile / --broker / --backend / --app / --workdir / --config-dir on every command."""
    options = [
        click.option("--config-dir", type=click.Path(file_okay=False), help="Config directory."),
        click.option("--profile", "profile_name", help="Use this saved profile."),
        click.option("--broker", help="Broker URL for this command only (or 'embedded')."),
        click.option("--backend", help="Result backend URL for this command only."),
        click.option("--app", "app_module", help="Celery app module, e.g. workers or dcelery."),
        click.option("--workdir", type=click.Path(), help="Working directory of the app."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _merge(ctx: click.Context, /, kwargs: dict[str, Any]) -> Selection:
    selection: Selection = ctx.ensure_object(Selection)
    config_dir = kwargs.pop("config_dir", None)
    profile_name = kwargs.pop("profile_name", None)
    mapping = {
        "broker": "broker_url",
        "backend": "result_backend",
        "app_module": "app_module",
        "workdir": "workdir",
    }
    overrides = dict(selection.overrides)
    for option, attr in mapping.items():
        value = kwargs.pop(option, None)
        if value is not None:
            overrides[attr] = value
    return Selection(
        config_dir=config_dir or selection.config_dir,
        profile=profile_name or selection.profile,
        overrides=overrides,
    )


@click.group(
    cls=DeskGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@selection_options
@click.version_option(package_name="celery-desk")
@click.pass_context
def cli(ctx: click.Context, /, **kwargs: Any) -> None:
    """Celery Desk: a control panel for Celery. With no command, opens the window."""
    ctx.obj = _merge(ctx, kwargs)
    if ctx.invoked_subcommand is None:
        from desktop.app import leave, run_gui

        leave(run_gui(ctx.obj.config_dir, ctx.obj.profile, ctx.obj.overrides))
