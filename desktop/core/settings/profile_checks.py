"""What is wrong with a profile, field by field, in words the profile dialog and the CLI show
next to the field: URLs, names, the app's module and interpreter, transport and queues."""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from desktop.core.settings import urls
from desktop.core.settings.profile_model import (
    QUEUE_ORDER_STRATEGIES,
    Profile,
    QueueSpec,
    TransportOverrides,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@()-]{0,63}$")


def _check_url(value: str, schemes: tuple[str, ...], what: str) -> str | None:
    if "://" not in value:
        return f"{what} must look like {schemes[0]}://host:port/… (got '{urls.mask(value)}')"
    unreadable = urls.unreadable(value)
    if unreadable:
        return f"{what} {unreadable}"
    parts = urlsplit(value)
    port = parts.port
    scheme = parts.scheme.lower()
    if urls.has_query_password(value):
        return (
            f"{what} carries a password in its query string, where it would be stored in "
            "plain text: put it in the URL as user:password@host or in the password field"
        )
    if scheme not in schemes:
        return f"{what} scheme '{scheme}' is not supported; use one of {', '.join(schemes)}"
    if scheme in ("redis", "rediss", "amqp", "amqps", "http", "https") and not parts.hostname:
        return f"{what} has no host name"
    if port is not None and not 0 < port < 65536:
        return f"{what} port must be between 1 and 65535"
    if scheme in ("redis", "rediss"):
        db = parts.path.strip("/")
        if db and not db.isdigit():
            return f"Redis database must be a number, got '{db}'"
    return None


def _dotted(value: str) -> bool:
    module, _, attr = value.partition(":")
    parts = module.split(".")
    if attr:
        parts.append(attr)
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)


def validate(profile: Profile) -> dict[str, str]:
    """Every problem with the profile, by field; empty when it may be saved."""
    errors = validate_fields(profile)
    if profile.workdir and not Path(profile.workdir).expanduser().is_dir():
        errors["workdir"] = f"Working directory '{profile.workdir}' does not exist"
    if profile.python:
        interpreter = Path(profile.python).expanduser()
        if not (interpreter.is_file() and os.access(interpreter, os.X_OK)):
            errors["python"] = f"Python interpreter '{profile.python}' is not an executable file"
    return errors


def validate_fields(profile: Profile) -> dict[str, str]:
    """The problems of the profile's own values, by field, without asking the machine whether
    its directory and interpreter exist (what a profile read from the file must pass)."""
    errors: dict[str, str] = {}
    if not _NAME_RE.match(profile.name or ""):
        errors["name"] = (
            "Name must be 1-64 characters: letters, digits, spaces and _ . @ ( ) -, "
            "starting with a letter or digit"
        )
    if not profile.broker_url:
        errors["broker_url"] = "Broker URL is required (or 'embedded')"
    elif not profile.is_embedded:
        problem = _check_url(profile.broker_url, urls.BROKER_SCHEMES, "Broker URL")
        if problem:
            errors["broker_url"] = problem
    backend = profile.result_backend
    if backend and backend != urls.EMBEDDED:
        problem = _check_url(backend, urls.BACKEND_SCHEMES, "Result backend")
        if problem:
            errors["result_backend"] = problem
    elif backend == urls.EMBEDDED and not profile.is_embedded:
        errors["result_backend"] = "'embedded' result backend needs the embedded broker"
    if not profile.app_module or not _dotted(profile.app_module):
        errors["app_module"] = "App module must be a dotted Python name such as 'workers'"
    if profile.django_settings and not _dotted(profile.django_settings):
        errors["django_settings"] = "DJANGO_SETTINGS_MODULE must be a dotted name"
    if profile.management_url:
        problem = _check_url(profile.management_url, ("http", "https"), "Management URL")
        if problem:
            errors["management_url"] = problem
    if profile.history != urls.HISTORY_SQLITE:
        problem = _check_url(profile.history, urls.HISTORY_SCHEMES, "History")
        if problem is None and not urlsplit(profile.history).hostname:
            problem = "History has no host name"
        if problem:
            errors["history"] = problem
    errors.update(_validate_transport(profile.transport))
    errors.update(_validate_queues(profile.queues))
    errors.update(_validate_failure_retention(profile))
    return errors


def _validate_failure_retention(profile: Profile) -> dict[str, str]:
    """At least one failure for at least a day: keeping none is what the task limit is for."""
    errors: dict[str, str] = {}
    for name, what in (
        ("failure_retention_tasks", "Failed tasks kept"),
        ("failure_retention_days", "Days failed tasks are kept"),
    ):
        value = getattr(profile, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors[name] = f"{what} must be a whole number >= 1"
    return errors


def _validate_transport(options: TransportOverrides) -> dict[str, str]:
    """Only overrides are checked: what is not overridden is the app's own business."""
    errors: dict[str, str] = {}
    strategy = options.queue_order_strategy
    if strategy is not None and strategy not in QUEUE_ORDER_STRATEGIES:
        errors["transport.queue_order_strategy"] = (
            f"Queue order strategy must be one of {', '.join(QUEUE_ORDER_STRATEGIES)}"
        )
    steps = options.priority_steps
    if steps is not None and (
        not steps
        or any(not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 255 for s in steps)
        or sorted(set(steps)) != list(steps)
    ):
        errors["transport.priority_steps"] = (
            "Priority steps must be distinct whole numbers 0-255 in rising order, e.g. 0,3,6,9"
        )
    if options.sep is not None and not options.sep:
        errors["transport.sep"] = "Separator must not be empty"
    for name in ("visibility_timeout", "unacked_restore_interval", "unacked_restore_throttle"):
        value = getattr(options, name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            errors[f"transport.{name}"] = f"{name.replace('_', ' ').capitalize()} must be >= 1"
    return errors


def _validate_queues(queues: list[QueueSpec]) -> dict[str, str]:
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for index, queue in enumerate(queues):
        where = f"queues[{index}]"
        if not queue.name or queue.name != queue.name.strip() or len(queue.name) > 255:
            errors[f"{where}.name"] = "Queue name must be 1-255 characters without outer spaces"
        elif queue.name in seen:
            errors[f"{where}.name"] = f"Queue '{queue.name}' is listed twice"
        seen.add(queue.name)
        priority = queue.max_priority
        if priority is not None and (
            not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 255
        ):
            errors[f"{where}.max_priority"] = "x-max-priority must be between 1 and 255"
        if any(not key for key in queue.routing_keys):
            errors[f"{where}.routing_keys"] = "Routing keys must not be empty"
    return errors
