"""`celery-desk profile`: saved broker profiles, and the app configuration each one acts on.

A profile refused (a bad field, a damaged profiles.toml, a keyring that cannot be used) is a
ProfileError wherever it is raised: `DeskGroup` ends the command with one line per field, exit 2."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.base import (
    _app_target,
    _fail,
    _merge,
    _profile_errors,
    _profile_or_exit,
    _services_of,
    _warn_password_on_command_line,
    cli,
    selection_options,
)
from desktop.core.base.argument_redaction import DEFAULT_REDACTED_NAMES
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.profile_checks import validate, validate_fields
from desktop.core.settings.profile_model import (
    DEFAULT_FAILURE_RETENTION_DAYS,
    DEFAULT_FAILURE_RETENTION_TASKS,
    Profile,
    QueueSpec,
)

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig


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
    items = services.profiles.load()
    active = services.profiles.active_name()
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
    chosen = _profile_or_exit(selection, services, name)
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
@click.option(
    "--failure-retention-tasks",
    type=int,
    default=DEFAULT_FAILURE_RETENTION_TASKS,
    show_default=True,
    help="Failed tasks the journal keeps, apart from its task limit.",
)
@click.option(
    "--failure-retention-days",
    type=int,
    default=DEFAULT_FAILURE_RETENTION_DAYS,
    show_default=True,
    help="Days the journal keeps failed tasks, past its task limit.",
)
@click.option(
    "--hide-argument",
    "hidden_arguments",
    multiple=True,
    help="Hide the values of arguments whose name contains this (repeatable), beside "
    f"{', '.join(DEFAULT_REDACTED_NAMES)}; --hide-argument '' hides only the names given.",
)
@click.option(
    "--keep-argument-values",
    is_flag=True,
    help="Keep the real values of hidden arguments in the journal (still shown as ****; the "
    "Tasks screen reveals one task's on request). Default: the journal stores them hidden.",
)
@click.option("--ask-password", is_flag=True, help="Prompt for the broker password (hidden).")
@click.option(
    "--history",
    default=urls.HISTORY_SQLITE,
    show_default=True,
    metavar="URL",
    help="Where the task history is kept: 'sqlite' (beside the panel) or a shared PostgreSQL "
    "database, postgresql://user@host:port/db (`record` writes it).",
)
@click.option(
    "--ask-history-password",
    is_flag=True,
    help="Prompt for the history database's password (hidden; kept in the secret store).",
)
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
    services = _services_of(ctx, options.pop("config_dir"))
    ask = options.pop("ask_password")
    ask_history = options.pop("ask_history_password")
    from_app = options.pop("from_app")
    activate = options.pop("activate")
    replace_existing = options.pop("replace_existing")
    queue_texts = options.pop("queues")
    hidden = options.pop("hidden_arguments")
    names = [n for n in hidden if n.strip()]
    options["redacted_arguments"] = names if "" in hidden else [*DEFAULT_REDACTED_NAMES, *names]
    given = Profile(name=name, **options)
    problems = validate_fields(given)
    if any(k in problems for k in ("broker_url", "result_backend", "management_url", "history")):
        _profile_errors(ProfileError(problems))
    if any(urls.password_of(options[k]) for k in ("broker_url", "result_backend", "history")):
        _warn_password_on_command_line()
    if ask_history:
        if not urls.is_shared_history(options["history"]):
            _fail("--ask-history-password needs --history postgresql://user@host:port/db", 2)
        secret = click.prompt("History database password", hide_input=True)
        options["history"] = urls.join_password(urls.split_password(options["history"]).url, secret)
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
    saved = services.profiles.save(item, create=not replace_existing)
    if config is not None:
        services.config_history().remember(saved.name, config)
    if activate:
        services.profiles.set_active(saved.name)
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

    services = _services_of(ctx, config_dir)
    item = services.profiles.get(name or services.profiles.active_name())
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
    _services_of(ctx, config_dir).profiles.remove(name)
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
