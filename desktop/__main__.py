"""`celery-desk`: the GUI when run with no command, and the same core behind a CLI for scripts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.profiles import (
    Endpoints,
    Profile,
    ProfileError,
    QueueSpec,
    validate,
    validate_fields,
)

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig
    from desktop.core.base.task_record import TaskRecord
    from desktop.core.local.supervisor import Supervisor
    from desktop.core.monitor.journal import Journal

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
ADHOC_PROFILE = "command-line"
RECORD_STATUS_EVERY_S = 10.0
# `record` stops (exit 3) when the journal has refused every write this long: past it, what
# the bounded spill dropped is better filled by the next start's gap than held on.
JOURNAL_GIVE_UP_S = 600.0
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
    for where, message in exc.errors.items():
        click.echo(f"error: {where}: {message}", err=True)
    sys.exit(2)


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


# -- broker -----------------------------------------------------------------------------------
@cli.group()
def broker() -> None:
    """The embedded local Redis broker."""


@broker.command("start")
@selection_options
@click.pass_context
def broker_start(ctx: click.Context, /, **kwargs: Any) -> None:
    """Start (or reuse) the embedded broker; it keeps running until `broker stop`."""
    services = _merge(ctx, kwargs).services()
    try:
        status = services.embedded.start(keep=True)
    except EmbeddedBrokerError as exc:
        _fail(str(exc))
        return
    verb = "already running" if status.reused else "started"
    click.echo(
        f"embedded broker {verb}: Redis {status.version} on 127.0.0.1:{status.port} "
        f"(pid {status.pid}); URL {urls.mask(services.embedded.url())}"
    )


@broker.command("stop")
@selection_options
@click.pass_context
def broker_stop(ctx: click.Context, /, **kwargs: Any) -> None:
    """Stop the embedded broker (waiting tasks are kept on disk)."""
    services = _merge(ctx, kwargs).services()
    if services.embedded.stop():
        click.echo("embedded broker stopped")
    else:
        click.echo("embedded broker was not running")


@broker.command("status")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def broker_status(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """Say whether the embedded broker runs; exit 3 when it does not."""
    services = _merge(ctx, kwargs).services()
    status = services.embedded.status()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": status.running,
                    "pid": status.pid,
                    "port": status.port,
                    "version": status.version,
                    "kept": status.keep,
                    "detail": status.detail,
                }
            )
        )
    elif status.running:
        click.echo(
            f"running: Redis {status.version} on 127.0.0.1:{status.port} (pid {status.pid})"
            + (", kept after the app quits" if status.keep else "")
        )
    else:
        click.echo(f"stopped: {status.detail}")
    if not status.running:
        sys.exit(3)


# -- profile ----------------------------------------------------------------------------------
@cli.group()
def profile() -> None:
    """Broker profiles: list, show, add, remove, test."""


def _profile_row(item: Profile, active: str) -> dict[str, Any]:
    return {
        "name": item.name,
        "active": item.name == active,
        "kind": item.broker_kind,
        "broker_url": urls.mask(item.broker_url),
        "result_backend": urls.mask(item.result_backend),
        "app_module": item.app_module,
    }


@profile.command("list")
@selection_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def profile_list(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """List saved profiles; * marks the active one."""
    services = _merge(ctx, kwargs).services()
    try:
        items = services.profiles.load()
        active = services.profiles.active_name()
    except ProfileError as exc:
        _profile_errors(exc)
        return
    rows = [_profile_row(services.profiles.with_secrets(p), active) for p in items]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        click.echo(f"{mark} {row['name']:<20} {row['kind']:<9} {row['broker_url']}")


def _effective_rows(config: EffectiveConfig) -> list[dict[str, Any]]:
    """Every value the panel acts on, with where it came from (app, Celery or kombu default,
    profile override); passwords masked."""
    from desktop.core.settings.redaction import redact

    backend = urls.mask(config.result_backend) or None
    rows: list[dict[str, Any]] = [
        {"key": "result_backend", "value": backend,
         "source": "app" if backend and config.imported else "Celery default"},
    ]  # fmt: skip
    for key in sorted(config.settings):
        value = redact(config.settings[key])
        rows.append({"key": key, "value": value, "source": config.setting_source(key)})
    for key, value in config.transport_options().items():
        rows.append(
            {"key": f"transport.{key}", "value": redact(value),
             "source": config.transport_source(key)}
        )  # fmt: skip
    for queue in config.queues:
        rows.append({"key": f"queue.{queue.name}", "value": queue.described(),
                     "source": queue.source})  # fmt: skip
    for task in config.tasks:
        where = task.queue or f"not resolved: {task.route_error}"
        rows.append({"key": f"route.{task.name}", "value": where, "source": "app"})
    return rows


def _shown_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if any(ord(c) < 32 for c in value) else value
    return json.dumps(value, ensure_ascii=False, default=repr)


@profile.command("show")
@click.argument("name", required=False)
@selection_options
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-app", is_flag=True, help="Do not read the app: the profile's own fields only.")
@click.pass_context
def profile_show(
    ctx: click.Context, /, name: str | None, as_json: bool, no_app: bool, **kwargs: Any
) -> None:
    """Show a profile (passwords masked), its app's effective configuration with where each
    value comes from, and what changed since the profile last read it."""
    from desktop.core.app.config import drift_of, read_effective_config

    selection = _merge(ctx, kwargs)
    services = selection.services()
    try:
        chosen = selection.resolve(services, name)
    except ProfileError as exc:
        _profile_errors(exc)
        return
    item = services.profiles.with_secrets(chosen).masked()
    data = item.to_dict()
    config = None
    if not no_app:
        endpoints = None
        with contextlib.suppress(EmbeddedBrokerError, ProfileError):
            endpoints = services.endpoints(chosen)
        config = read_effective_config(chosen, endpoints)
    if config is not None:
        changes = drift_of(chosen, config, services.config_history())
        data["effective"] = {
            "app_imported": config.imported,
            "error": config.error or None,
            "fingerprint": config.fingerprint,
            "values": _effective_rows(config),
            "drift": [{"key": c.key, "was": c.before, "now": c.after} for c in changes.changes],
            "overrides_contradicting_app": [
                {"key": c.key, "app": c.before, "override": c.after} for c in config.conflicts()
            ],
        }
    if as_json:
        click.echo(json.dumps(data, indent=2, default=repr))
        return
    for key, value in data.items():
        if key == "transport":
            for option, option_value in value.items():
                click.echo(f"override transport.{option}: {_shown_value(option_value)}")
        elif key == "queues":
            for queue in item.queues:
                extra = f" x-max-priority={queue.max_priority}" if queue.max_priority else ""
                click.echo(f"extra queue: {queue.name} keys={','.join(queue.keys())}{extra}")
        elif key != "effective":
            click.echo(f"{key}: {value}")
    if config is None:
        return
    click.echo("")
    if config.imported:
        click.echo(
            f"effective configuration of '{config.main}' (fingerprint {config.fingerprint}):"
        )
    else:
        click.echo(f"the app could not be read ({config.error}); Celery's and kombu's defaults:")
    for row in data["effective"]["values"]:
        click.echo(f"  {row['key']}: {_shown_value(row['value'])}  ({row['source']})")
    for change in data["effective"]["overrides_contradicting_app"]:
        click.echo(
            f"override contradicts the app: {change['key']}: the app has "
            f"{_shown_value(change['app'])}, the profile {_shown_value(change['override'])}"
        )
    changes_list = data["effective"]["drift"]
    if changes_list:
        click.echo(f"changed since the profile last read the app ({len(changes_list)}):")
        for change in changes_list:
            click.echo(
                f"  {change['key']}: {_shown_value(change['was'])} → {_shown_value(change['now'])}"
            )
        click.echo(f"  (accept with `celery-desk profile refresh {item.name}`)")


def _parse_queue(text: str) -> QueueSpec:
    """`name`, `name:10` or `name:10:key1,key2`."""
    name, _, rest = text.partition(":")
    priority_text, _, keys = rest.partition(":")
    try:
        priority = int(priority_text) if priority_text else None
    except ValueError as exc:
        raise click.BadParameter(f"'{priority_text}' is not a number in '{text}'") from exc
    return QueueSpec(name, priority, [k for k in keys.split(",") if k] if keys else [])


@profile.command("add")
@click.argument("name")
@click.option("--broker", "broker_url", required=True, help="redis://, amqp://… or 'embedded'.")
@click.option(
    "--backend", "result_backend", default="", help="Result backend URL (default: the app's own)."
)
@click.option("--app", "app_module", default="workers", show_default=True)
@click.option("--workdir", default="", help="Working directory of the Celery project.")
@click.option("--django-settings", default="", help="DJANGO_SETTINGS_MODULE for a Django app.")
@click.option("--python", "python", default="", help="Interpreter for workers of this profile.")
@click.option(
    "--management-url",
    default="",
    help="RabbitMQ management API (default: http://BROKER-HOST:15672 when it answers).",
)
@click.option("--queue", "queues", multiple=True, help="Extra queue name[:max-priority[:key,key]].")
@click.option("--ask-password", is_flag=True, help="Prompt for the broker password (hidden).")
@click.option(
    "--from-app/--no-from-app",
    default=None,
    help="Read the app's configuration now and refuse the profile when it cannot be imported "
    "(default: read it when possible and say so when not).",
)
@click.option("--activate", is_flag=True, help="Make it the active profile.")
@click.option("--replace", "replace_existing", is_flag=True, help="Overwrite a profile.")
@click.option("--config-dir", type=click.Path(file_okay=False))
@click.pass_context
def profile_add(ctx: click.Context, /, name: str, **options: Any) -> None:
    """Save a profile (passwords go to the keyring or a 0600 file, never the TOML).

    Queues, routes, transport options and the result backend are the app's own, read from it
    whenever the panel acts; the profile keeps only what is given here on purpose."""
    selection = ctx.ensure_object(Selection)
    services = Services.open(options.pop("config_dir") or selection.config_dir)
    ask = options.pop("ask_password")
    from_app = options.pop("from_app")
    activate = options.pop("activate")
    replace_existing = options.pop("replace_existing")
    queue_texts = options.pop("queues")
    given = Profile(name=name, **options)
    problems = validate_fields(given)
    if any(k in problems for k in ("broker_url", "result_backend", "management_url")):
        _profile_errors(ProfileError(problems))
    if urls.password_of(options["broker_url"]) or urls.password_of(options["result_backend"]):
        _warn_password_on_command_line()
    if ask:
        secret = click.prompt("Broker password", hide_input=True)
        options["broker_url"] = urls.join_password(
            urls.split_password(options["broker_url"]).url, secret
        )
    item = Profile(name=name, **options)
    if queue_texts:
        item.queues = [_parse_queue(q) for q in queue_texts]
    problems = validate(item)
    if problems:
        _profile_errors(ProfileError(problems))
    config = None
    if from_app is not False:
        from desktop.core.app.config import read_effective_config

        endpoints = None
        with contextlib.suppress(EmbeddedBrokerError):
            endpoints = services.endpoints(item) if not item.is_embedded else None
        config = read_effective_config(item, endpoints)
        if not config.imported:
            if from_app:
                _fail(config.error)
            click.echo(
                f"note: {config.error}; the panel will use Celery's and kombu's defaults until "
                "the app can be imported",
                err=True,
            )
            config = None
        else:
            item.app_fingerprint = config.fingerprint
    try:
        saved = services.profiles.save(item, create=not replace_existing)
        if config is not None:
            services.config_history().remember(saved.name, config)
        if activate:
            services.profiles.set_active(saved.name)
    except ProfileError as exc:
        _profile_errors(exc)
        return
    click.echo(f"saved profile '{saved.name}' ({saved.broker_kind}, {urls.mask(item.broker_url)})")
    if config is not None:
        click.echo(
            f"read '{config.main}': {len(config.queues)} queue(s) "
            f"({', '.join(config.queue_names())}), {len(config.tasks)} task(s)",
            err=True,
        )


@profile.command("refresh")
@click.argument("name", required=False)
@click.option("--config-dir", type=click.Path(file_okay=False))
@click.pass_context
def profile_refresh(ctx: click.Context, /, name: str | None, config_dir: str | None) -> None:
    """Read the app's configuration again and remember it: say what changed; exit 1 when the
    app cannot be imported."""
    from desktop.core.app.config import drift_of, read_effective_config

    selection = ctx.ensure_object(Selection)
    services = Services.open(config_dir or selection.config_dir)
    try:
        item = services.profiles.get(name or services.profiles.active_name())
    except ProfileError as exc:
        _profile_errors(exc)
        return
    endpoints = None
    with contextlib.suppress(EmbeddedBrokerError):
        endpoints = services.endpoints(item)
    config = read_effective_config(item, endpoints)
    if not config.imported:
        _fail(config.error)
    changes = drift_of(item, config, services.config_history())
    services.profiles.set_fingerprint(item.name, config.fingerprint)
    services.config_history().remember(item.name, config)
    for change in changes.changes:
        click.echo(f"changed: {change.text()}")
    state = f"{len(changes.changes)} change(s)" if changes.changed else "no change"
    click.echo(f"read '{config.main}' for profile '{item.name}': {state}; fingerprint "
               f"{config.fingerprint}")  # fmt: skip


@profile.command("remove")
@click.argument("name")
@click.option("--config-dir", type=click.Path(file_okay=False))
@click.pass_context
def profile_remove(ctx: click.Context, /, name: str, config_dir: str | None) -> None:
    """Remove a profile and its stored passwords."""
    selection = ctx.ensure_object(Selection)
    services = Services.open(config_dir or selection.config_dir)
    try:
        services.profiles.remove(name)
    except ProfileError as exc:
        _profile_errors(exc)
        return
    click.echo(f"removed profile '{name}'")


@profile.command("test")
@click.argument("name", required=False)
@selection_options
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait.")
@click.pass_context
def profile_test(ctx: click.Context, /, name: str | None, timeout: float, **kwargs: Any) -> None:
    """Connect to the broker, the result backend (the app's own when the profile names none)
    and the RabbitMQ management API once each, and say what happened; exit 1 when one that is
    configured cannot be used."""
    from desktop.core.broker.connection import check_profile_endpoints

    selection = _merge(ctx, kwargs)
    services = selection.services()
    _item, endpoints, _config = _app_target(selection, services, name)
    failed = False
    for check in check_profile_endpoints(endpoints, timeout):
        state = "ok" if check.ok else f"failed ({check.outcome})"
        click.echo(f"{check.what} {state}: {check.message}", err=not check.ok)
        failed = failed or not check.ok
    if failed:
        sys.exit(1)


# -- live monitoring --------------------------------------------------------------------------
@cli.command("record")
@selection_options
@click.option("--keep", default=1_000_000, show_default=True, help="Tasks kept in the journal.")
@click.option("--max-age-days", type=float, default=None, help="Drop tasks older than this.")
@click.pass_context
def record(ctx: click.Context, /, keep: int, max_age_days: float | None, **kwargs: Any) -> None:
    """Record the event stream into the journal without a window, until SIGINT/SIGTERM."""
    import signal
    import threading

    from desktop.core.monitor.journal import Journal, JournalUnwritable
    from desktop.core.monitor.pipeline import Monitor

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    try:
        journal = Journal(services.journal_path(item))
    except JournalUnwritable as exc:
        _fail(f"{exc}\nnothing was written to it; `record` needs a journal it can write", 2)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())

    def status(state: str, message: str) -> None:
        click.echo(f"{state}: {message}", err=True)

    def journal_status(state: str, message: str) -> None:
        click.echo(f"journal {state}: {message}", err=True)

    monitor = Monitor(
        endpoints.broker_url,
        endpoints.result_backend,
        journal,
        config=config,
        on_status=status,
        on_journal=journal_status,
        retention_tasks=keep,
        retention_age_s=max_age_days * 86400 if max_age_days else None,
    )
    click.echo(f"recording profile '{item.name}' into {journal.path}", err=True)
    monitor.start()
    gave_up = False
    next_status = time.monotonic() + RECORD_STATUS_EVERY_S
    try:
        while not done.wait(1.0):
            failing_since = monitor.journal_failing_since
            if monitor.journal_damaged or (
                failing_since is not None and time.time() - failing_since > JOURNAL_GIVE_UP_S
            ):
                gave_up = True
                break
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + RECORD_STATUS_EVERY_S
                click.echo(_record_status(monitor), err=True)
    finally:
        stopped = monitor.stop()
        journal.close()
    click.echo(
        f"stopped: {monitor.stream.stats.received} events recorded"
        + ("" if stopped else " (event threads did not stop in time)"),
        err=True,
    )
    if gave_up and monitor.journal_damaged:
        _fail(
            f"the journal {journal.path} is damaged ({monitor.journal_error}); stopped without "
            "writing to it. Move it aside (keep it to inspect) and run `record` again",
            2,
        )
    if gave_up:
        _fail(
            f"the journal {journal.path} refused every write for {JOURNAL_GIVE_UP_S:.0f} s "
            f"({monitor.journal_error}); stopped. The next `record` fills the gap from the "
            "result backend",
            3,
        )


def _record_status(monitor: Any) -> str:
    """One status line of `record`: never a healthy count while the journal is failing."""
    stats = monitor.stream.stats
    skipped = f", skipped {monitor.skipped}" if monitor.skipped else ""
    if monitor.journal_failing_since is not None:
        spilled = len(monitor.spill)
        lost = f", {monitor.spill.lost} dropped (filled from the backend later)"
        return (
            f"events {stats.received}{skipped}; JOURNAL FAILING for "
            f"{time.time() - monitor.journal_failing_since:.0f} s: {monitor.journal_error}; "
            f"{spilled} kept in memory" + (lost if monitor.spill.lost else "")
        )
    try:
        count = str(monitor.journal.count())
    except Exception as exc:
        count = f"not readable ({exc})"
    return f"events {stats.received}{skipped}, tasks in journal {count}"


@cli.command("gaps")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def gaps(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """Windows the journal did not hear (the recorder stopped, a broker outage, a full disk)
    and how each was filled from the result backend."""
    from desktop.core.monitor.journal import Journal

    listed = _read_journal(ctx, kwargs, Journal.gaps)  # schema 1: none yet
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(g) for g in listed], indent=2))
        return
    for gap in listed:
        start = datetime.fromtimestamp(gap.start).isoformat(sep=" ", timespec="seconds")
        click.echo(
            f"{start}  {gap.end - gap.start:8.1f} s  {gap.status:<7} {gap.found:>6} tasks  "
            f"{gap.reason}" + (f" ({gap.note})" if gap.note else "")
        )


def _read_journal(ctx: click.Context, kwargs: dict[str, Any], read: Callable[[Journal], T]) -> T:
    """`read(journal)` of the selected profile's journal, opened read-only: a journal on a
    read-only disk, or one a recorder writes, serves as it is; one that is not a journal is
    named with what is wrong (ConfigFileError)."""
    import sqlite3

    from desktop.core.monitor.journal import Journal, damaged_journal

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item = _profile_or_exit(selection, services)
    path = services.journal_path(item)
    if not path.exists():
        _fail(f"no history for profile '{item.name}' yet: open the app or run `celery-desk record`")
    journal = Journal(path, read_only=True)
    try:
        return read(journal)
    except sqlite3.DatabaseError as exc:
        raise damaged_journal(path, exc, writing=False) from exc
    finally:
        journal.close()


@cli.command("tasks")
@selection_options
@click.option("--state", help="SUCCESS, FAILURE, STARTED, …")
@click.option("--name", "task_name", help="Exact task name.")
@click.option("--queue", help="Queue or routing key.")
@click.option("--worker", help="Worker node name.")
@click.option("--search", help="Text in id, name, args, kwargs, result or exception.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def tasks(
    ctx: click.Context,
    /,
    state: str | None,
    task_name: str | None,
    queue: str | None,
    worker: str | None,
    search: str | None,
    limit: int,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """List tasks from the journal, newest first."""
    from desktop.core.monitor.journal import TaskQuery

    query = TaskQuery(
        state=state.upper() if state else None,
        name=task_name,
        queue=queue,
        worker=worker,
        text=search,
    )
    rows = _read_journal(ctx, kwargs, lambda journal: journal.page(query, 0, limit))
    if as_json:
        click.echo(json.dumps([_task_json(r) for r in rows], indent=2))
        return
    for row in rows:
        runtime = f"{row['runtime']:.3f}s" if row["runtime"] is not None else "-"
        click.echo(
            f"{row['id']}  {row['state']:<8} {row['name'] or '?':<32} "
            f"{row['worker'] or '-':<24} {runtime}"
        )


def _task_json(row: TaskRecord) -> dict[str, Any]:
    """Args, kwargs and result as JSON values where the journal's text is one (or a Python
    literal, as Celery's events give them); the text itself where it is not."""
    from desktop.core.base.task_record import queue_of
    from desktop.core.monitor.journal import stored_value

    return {
        "id": row["id"],
        "name": row["name"],
        "state": row["state"],
        "args": stored_value(row["args"]),
        "kwargs": stored_value(row["kwargs"]),
        "result": stored_value(row["result"]),
        "exception": row["exception"],
        "worker": row["worker"],
        "queue": queue_of(row),
        "priority": row["priority"],
        "sent": row["sent"],
        "received": row["received"],
        "started": row["started"],
        "finished": row["finished"],
        "runtime": row["runtime"],
        "retries": row["retries"],
        "parent_id": row["parent_id"],
        "root_id": row["root_id"],
    }


# -- local workers ----------------------------------------------------------------------------
@cli.group()
def worker() -> None:
    """Local `celery worker` processes of a profile; they keep running after the command."""


def _supervisor_target(
    ctx: click.Context, kwargs: dict[str, Any], *, need_broker: bool
) -> tuple[Supervisor, Profile, Endpoints | None, EffectiveConfig | None]:
    """With `need_broker` the app's configuration is read too (starting a worker needs it)."""
    from desktop.core.local.supervisor import Supervisor

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item = _profile_or_exit(selection, services)
    endpoints: Endpoints | None = None
    if need_broker:
        if item.is_embedded or item.result_backend == urls.EMBEDDED:
            try:
                status = services.embedded.start(keep=True)  # the worker needs it to stay up
            except EmbeddedBrokerError as exc:
                _fail(str(exc))
            if not status.reused:
                click.echo(
                    f"started the embedded broker on 127.0.0.1:{status.port} "
                    "(stop it with `celery-desk broker stop`)",
                    err=True,
                )
        item, endpoints, config = _app_target(selection, services)
        return Supervisor(services.workers_dir(item), item), item, endpoints, config
    with contextlib.suppress(ProfileError, EmbeddedBrokerError):
        endpoints = services.endpoints(item)
    return Supervisor(services.workers_dir(item), item), item, endpoints, None


def _ping_app(endpoints: Endpoints, config: EffectiveConfig | None) -> Any:
    from desktop.core.monitor.events import receiver_app

    return receiver_app(endpoints.broker_url, config)


@worker.command("start")
@selection_options
@click.option("--queue", "-Q", "queues", multiple=True, required=True, help="Queue (repeatable).")
@click.option("--name", "-n", help="Node name before '@host' (default: the first queue).")
@click.option("--concurrency", "-c", type=int, help="Pool processes or threads.")
@click.option("--prefetch", type=int, help="Prefetch multiplier (1 with acks_late = fair order).")
@click.option("--pool", "-P", type=click.Choice(["prefork", "threads", "solo"]), default="prefork")
@click.option("--autoscale", help="MAX,MIN processes, e.g. 8,2.")
@click.option("--max-tasks-per-child", type=int, help="Recycle a pool process after N tasks.")
@click.option("--fair", is_flag=True, help="-O fair: hand a task only to an idle process.")
@click.option("--acks-late/--no-acks-late", default=None, help="Override the app's acks_late.")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--auto-restart", is_flag=True, help="Restart after a crash, with backoff.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Wait for online.")
@click.pass_context
def worker_start(
    ctx: click.Context,
    /,
    queues: tuple[str, ...],
    name: str | None,
    concurrency: int | None,
    prefetch: int | None,
    pool: str,
    autoscale: str | None,
    max_tasks_per_child: int | None,
    fair: bool,
    acks_late: bool | None,
    loglevel: str,
    auto_restart: bool,
    timeout: float,
    **kwargs: Any,
) -> None:
    """Start a worker and return once it answers a ping; prints its node name."""
    from desktop.core.local.worker_spec import WorkerError, WorkerSpec, WorkerSpecError, free_name

    wanted = [q for text in queues for q in text.split(",") if q.strip()]
    high = low = None
    if autoscale:
        try:
            high_text, _, low_text = autoscale.partition(",")
            high, low = int(high_text), int(low_text or 0)
        except ValueError:
            _fail(f"--autoscale takes MAX,MIN (e.g. 8,2), not '{autoscale}'", 2)
    supervisor, _item, endpoints, config = _supervisor_target(ctx, kwargs, need_broker=True)
    assert endpoints is not None and config is not None
    spec = WorkerSpec(
        name=name
        or free_name(
            wanted[0] if wanted else "worker", {w.name for w in supervisor.workers() if w.running}
        ),
        queues=wanted,
        concurrency=concurrency,
        pool=pool,
        prefetch_multiplier=prefetch,
        autoscale_max=high,
        autoscale_min=low,
        max_tasks_per_child=max_tasks_per_child,
        fair=fair,
        acks_late=acks_late,
        loglevel=loglevel,
        auto_restart=auto_restart,
    )
    try:
        supervisor.start(spec, endpoints, config)
        started = supervisor.wait_online(spec.name, _ping_app(endpoints, config), timeout)
    except WorkerSpecError as exc:
        for where, message in exc.errors.items():
            click.echo(f"error: {where}: {message}", err=True)
        sys.exit(2)
    except WorkerError as exc:
        _fail(str(exc))
    click.echo(started.nodename)
    click.echo(
        f"online: pid {started.pid}, queues {', '.join(spec.queues)}; "
        f"log {started.log_path}; stop with `celery-desk worker stop {spec.name}`",
        err=True,
    )


@worker.command("list")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_step_timeout_option
@click.pass_context
def worker_list(ctx: click.Context, /, as_json: bool, timeout: float, **kwargs: Any) -> None:
    """Local workers of the profile: node name, queues, pid and state. Exit 1 when the broker
    did not answer the ping of workers still starting (their state is then the keeper's)."""
    from desktop.core.base.bounds import NoAnswer, within

    supervisor, item, endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    silent = ""
    if endpoints is not None and any(w.state == "starting" for w in supervisor.workers()):
        from desktop.core.app.config import read_effective_config

        def ping_starting() -> None:
            config = read_effective_config(item, endpoints)  # its control exchange
            supervisor.confirm_online(_ping_app(endpoints, config), timeout=1.0)

        try:
            what = f"the broker at {urls.mask(endpoints.broker_url)} (pinging workers starting)"
            within(timeout, what, ping_starting)
        except NoAnswer as exc:
            silent = str(exc)
        except Exception:  # unreachable broker: they stay 'starting'
            pass
    found = supervisor.workers()
    if as_json:
        click.echo(json.dumps([w.as_json() for w in found], indent=2))
        if silent:
            _fail(silent)
        return
    if not found:
        click.echo(f"no local workers for profile '{item.name}'", err=True)
    for w in found:
        click.echo(
            f"{w.nodename:<32} {w.state:<12} pid {w.pid or '-':<8} {','.join(w.spec.queues)}"
            + (f"  ({w.detail[:100]})" if w.detail else "")
        )
    if silent:
        _fail(silent)


@worker.command("stop")
@selection_options
@click.argument("name", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Every running worker of the profile.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Wait this long.")
@click.option("--kill", "kill_after", is_flag=True, help="SIGKILL what is still running then.")
@click.pass_context
def worker_stop(
    ctx: click.Context,
    /,
    name: str | None,
    stop_all: bool,
    timeout: float,
    kill_after: bool,
    **kwargs: Any,
) -> None:
    """Warm shutdown (running tasks finish), then print each exit status."""
    from desktop.core.local.supervisor import describe_exit
    from desktop.core.local.worker_spec import WorkerError

    if bool(name) == stop_all:
        _fail("give a worker NAME or --all", 2)
    supervisor, _item, _endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    names = [w.name for w in supervisor.workers() if w.running] if stop_all else [str(name)]
    failed = False
    for each in names:
        try:
            supervisor.stop(each)
        except WorkerError as exc:
            _fail(str(exc))
    for each in names:
        done = supervisor.wait_stopped(each, timeout)
        if done.running and kill_after:
            supervisor.kill(each)
            done = supervisor.wait_stopped(each, 10.0)
        if done.running:
            failed = True
            click.echo(
                f"{done.nodename}: still {done.state} after {timeout:.0f} s (a task is running); "
                f"kill it with `celery-desk worker stop {each} --kill`",
                err=True,
            )
        else:
            click.echo(f"{done.nodename}: {done.state} ({describe_exit(done.exit_code)})")
    sys.exit(1 if failed else 0)


@worker.command("logs")
@selection_options
@click.argument("name")
@click.option("--lines", "-n", type=int, default=50, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl+C ends).")
@click.pass_context
def worker_logs(ctx: click.Context, /, name: str, lines: int, follow: bool, **kwargs: Any) -> None:
    """A worker's log: the last lines, and with --follow what it writes next."""
    import time

    supervisor, _item, _endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    if supervisor.get(name) is None:
        _fail(f"no worker named {name} in this profile (see `celery-desk worker list`)")
    path = supervisor.log_path(name)
    for line in supervisor.log_tail(name, lines):
        click.echo(line)
    if not follow:
        return
    position = path.stat().st_size if path.exists() else 0
    try:
        while True:
            size = path.stat().st_size if path.exists() else 0
            if size < position:  # rotated or restarted: read the new file from its start
                position = 0
            if size > position:
                with open(path, "rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                position += len(chunk)
                click.echo(chunk.decode("utf-8", "replace"), nl=False)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return


# -- canvases ---------------------------------------------------------------------------------
@cli.command("run")
@selection_options
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True, help="Wait until every task has finished.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="With --wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the ids (and results) as JSON.")
@click.option(
    "--no-check",
    is_flag=True,
    help="Do not check task names and arguments against the app (sent the app's way still).",
)
@click.option(
    "--step-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds the broker or backend may leave one message or one result read unanswered; "
    "then say which did not answer and exit 1 (3 when it is the journal, after a send).",
)
@click.pass_context
def run(
    ctx: click.Context,
    /,
    file: str,
    wait: bool,
    timeout: float,
    as_json: bool,
    no_check: bool,
    step_timeout: float,
    **kwargs: Any,
) -> None:
    """Check and send a saved canvas (celery-desk/canvas JSON).

    Each task is journaled as the broker takes it. Exit status: 0 sent (and with --wait, all
    succeeded); 1 sending failed part way, a step did not answer, or with --wait a task failed
    or did not finish; 2 refused before sending (a bad file or call, or a journal that cannot
    be written: nothing is sent that could not be journaled); 3 SENT (all, or part way before
    a failure), but the journal could not record some of them (disk full, locked, or it did
    not answer): do not send again."""
    import sqlite3
    import time
    from pathlib import Path

    from celery.signals import after_task_publish

    from desktop.core.app.panel_app import client_app
    from desktop.core.app.results import read_result
    from desktop.core.base.bounds import Watchdog, exit_now
    from desktop.core.base.task_states import is_finished
    from desktop.core.canvas import checks as canvas_checks
    from desktop.core.canvas import format as canvas_format
    from desktop.core.canvas import sending as canvas_sending
    from desktop.core.monitor.journal import BUSY_TIMEOUT_S, Journal, JournalUnwritable

    try:
        loaded = canvas_format.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}", 2)
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text", 2)
    except canvas_format.CanvasError as exc:
        _fail(f"{file}: {exc}", 2)
    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    target = canvas_checks.Target.for_config(config, bool(endpoints.result_backend))
    if no_check:
        target = canvas_checks.Target(has_backend=bool(endpoints.result_backend), config=config)
    problems = canvas_checks.check(loaded, target)
    for problem in problems:
        where = f"node {problem.path}" if problem.path else "root"
        click.echo(f"{problem.level}: {where}: {problem.message}", err=True)
    if any(p.level == canvas_checks.ERROR for p in problems):
        sys.exit(2)
    journal_path = services.journal_path(item)
    try:
        journal = Journal(journal_path)
    except JournalUnwritable as exc:
        _fail(f"not sent: what is sent could not be journaled: {exc}", 2)
    app = client_app(config, endpoints, poll_results=True)
    unjournaled = ""
    went_out: set[str] = set()  # the tasks handed to the journal: the broker took them

    def were_sent(tasks: str) -> str:
        return f"{tasks} WERE sent: do not send them again (the journal {journal_path})"

    try:

        def journal_stuck(message: str) -> None:
            """The broker took these tasks: a journal that never answers is exit 3, not 1."""
            exit_now(f"{message}; {were_sent(f'{len(went_out)} task(s), not all journaled,')}", 3)

        def record(node: canvas_sending.SentNode) -> None:
            went_out.add(node.id)
            # Past SQLite's own wait for a locked journal, so that a locked one is said as
            # such and the send goes on; a journal stuck longer than that ends with exit 3.
            with guard.waiting_on(
                f"the journal {journal_path} (recording what was sent)",
                max(step_timeout, BUSY_TIMEOUT_S + 1),
                journal_stuck,
            ):
                journal.record_submitted(
                    node.id, node.task, queue=node.queue, priority=node.priority
                )

        def published(**_: Any) -> None:
            guard.progress()  # a message went out: the broker answers

        guard = Watchdog(step_timeout)
        after_task_publish.connect(published, weak=False)
        try:
            with guard.waiting_on(f"the broker at {urls.mask(endpoints.broker_url)} (sending)"):
                sent = canvas_sending.send(loaded, app, record, config)
        except canvas_sending.SendError as exc:  # what was sent is in the journal, nothing else
            failed = f"sending failed: the broker at {urls.mask(endpoints.broker_url)}: {exc}"
            if exc.unjournaled is not None:  # and some of what was sent is in no journal
                _fail(f"{failed}; those {len(exc.sent)} of {exc.total} {were_sent('task(s)')}", 3)
            _fail(failed)
        finally:
            after_task_publish.disconnect(published)
        if sent.unjournaled is not None:
            unjournaled = f"{sent.unjournaled.said(len(sent.nodes))}; {were_sent('the tasks')}"
            click.echo(f"error: {unjournaled}", err=True)
        states: dict[str, tuple[str, Any]] = {n.id: ("PENDING", None) for n in sent.nodes}
        deadline = time.monotonic() + timeout
        reading = f"the result backend at {urls.mask(endpoints.result_backend)} (reading results)"
        while wait:
            for node in sent.nodes:
                if is_finished(states[node.id][0]):
                    continue
                with guard.waiting_on(reading):
                    read = read_result(app, node.id)
                states[node.id] = (read.state, read.outcome)
            done = all(is_finished(s) for s, _ in states.values())
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        try:
            for task_id, (state, value) in states.items():
                if is_finished(state):  # what the backend says is final
                    journal.set_final(task_id, state, repr(value), time.time())
        except (sqlite3.Error, JournalUnwritable) as exc:
            if not unjournaled:
                unjournaled = f"the results were not journaled: {exc} (the journal {journal_path})"
                click.echo(f"error: {unjournaled}", err=True)
    finally:
        journal.close()
        app.close()
    unfinished = [n for n in sent.nodes if not is_finished(states[n.id][0])]
    if as_json:
        document = {
            "root_id": sent.root_id,
            "nodes": [
                {
                    "path": n.path,
                    "task": n.task,
                    "id": n.id,
                    "state": states[n.id][0],
                    "result": _jsonable(states[n.id][1]),
                }
                for n in sent.nodes
            ],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"sent '{loaded.name or file}': root id {sent.root_id}")
        for n in sent.nodes:
            state, value = states[n.id]
            shown = "" if value is None else f" -> {value!r}"[:200]
            click.echo(f"  {n.path or 'root':<8} {n.task:<32} {n.id}  {state}{shown}")
    if wait and unfinished:
        click.echo(f"error: {len(unfinished)} task(s) unfinished after {timeout:.0f} s", err=True)
    if unjournaled:
        sys.exit(3)
    if wait and unfinished:
        sys.exit(1)
    if wait and any(states[n.id][0] != "SUCCESS" for n in sent.nodes):
        sys.exit(1)


# -- queues -----------------------------------------------------------------------------------
@cli.command("queues")
@selection_options
@click.option("--queue", "names", multiple=True, help="Only this queue (repeatable).")
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="How many of the next messages to list per queue, in delivery order.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_step_timeout_option
@click.pass_context
def queues_command(
    ctx: click.Context,
    /,
    names: tuple[str, ...],
    limit: int,
    as_json: bool,
    timeout: float,
    **kwargs: Any,
) -> None:
    """What waits in each queue, in the order the broker will deliver it."""
    from desktop.core.base.bounds import Watchdog
    from desktop.core.broker import control, queues
    from desktop.core.monitor.events import receiver_app

    selection = _merge(ctx, kwargs)
    services = selection.services()
    _item, endpoints, config = _app_target(selection, services)
    chosen = list(names) or config.queue_names()
    broker = f"the broker at {urls.mask(endpoints.broker_url)}"
    guard = Watchdog(timeout)
    management_url = endpoints.management_url
    if config.is_rabbitmq:  # only RabbitMQ's own credentials go to its management API
        with guard.waiting_on(f"the RabbitMQ management API of {broker}"):
            management = queues.find_management(endpoints.broker_url, management_url)
        management_url = management.url if management.answered else ""
        click.echo(f"note: {management.note}", err=True)
    source = queues.inspector(endpoints.broker_url, config, management_url)
    consumers = None
    if config.is_redis:  # Redis keeps no consumer list: ask the workers
        app = receiver_app(endpoints.broker_url, config)
        try:
            with guard.waiting_on(f"{broker} (asking the workers which queues they consume)"):
                consumers = control.consumers_per_queue(app)
        except Exception as exc:  # no worker answering (or no broker) is not a failure here
            click.echo(f"warning: consumers not counted: {exc}", err=True)
        finally:
            app.close()
    try:
        with guard.waiting_on(f"{broker} (reading the queues)"):
            found = queues.report(source, chosen, limit, consumers)
    except queues.QueueError as exc:
        _fail(f"{broker} (reading the queues): {exc}")
    finally:
        source.close()
    if config.is_rabbitmq and limit and management_url:
        click.echo(f"note: {queues.PEEK_NOTE}", err=True)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=repr))
        return
    for entry in found:
        counts = ", ".join(f"{k} {entry[k]}" for k in ("waiting", "unacked", "consumers")
                           if entry.get(k) is not None)  # fmt: skip
        error = entry.get("error", "")
        shown = f"{counts} ({error})" if counts and error else counts or error or "not known"
        click.echo(f"{entry['queue']}: {shown}")
        for place, message in enumerate(entry["next"]):
            what = message.get("not_decoded") or f"{message['task']} {message['id']}"
            click.echo(f"  {place:>4}  p{message.get('priority')}  {what}")
        if entry.get("next_error"):
            click.echo(f"  ({entry['next_error']})")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def main() -> None:
    from desktop.core.base.bounds import NoAnswer

    try:
        cli(prog_name="celery-desk")
    except NoAnswer as exc:  # the keyring, say, with CELERY_DESK_SECRETS=keyring
        _fail(str(exc))


if __name__ == "__main__":
    main()
