"""A broker profile as data: what a person connects to, read from a TOML table with every
value's type checked, and the endpoints with passwords restored (memory only).

Why apart from the store: the screens, the CLI and the app probe use the shapes without the
file or the secret store; `profile_checks` says what is wrong field by field, `profiles` stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kombu.utils.scheduling import CYCLE_ALIASES

from desktop.core.base.argument_redaction import DEFAULT_REDACTED_NAMES
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ProfileError

DEFAULT_PROFILE_NAME = "embedded"
DEFAULT_APP_MODULE = "workers"

# kombu's own names for the Redis transport's queue order strategies.
QUEUE_ORDER_STRATEGIES = tuple(CYCLE_ALIASES)
_SECRET_FIELDS = ("broker_url", "result_backend", "management_url", "history")
# Failed tasks are kept by their own rule (Journal.prune), past the journal's task limit: the
# failures of the last DEFAULT_FAILURE_RETENTION_DAYS, at most DEFAULT_FAILURE_RETENTION_TASKS.
DEFAULT_FAILURE_RETENTION_TASKS = 100_000
DEFAULT_FAILURE_RETENTION_DAYS = 30


@dataclass
class QueueSpec:
    """A queue the person adds to the profile beyond the app's own: its name, RabbitMQ priority
    cap and routing keys. The app's queues come from its configuration, never from here."""

    name: str
    max_priority: int | None = None
    routing_keys: list[str] = field(default_factory=list)

    def keys(self) -> list[str]:
        return self.routing_keys or [self.name]


@dataclass
class TransportOverrides:
    """Redis transport options the person chose on purpose for this profile, over the app's.

    None means "as the app has it" (the app's `broker_transport_options`, else kombu's own
    default): the profile invents nothing. An override changes what the panel sends and reads
    and what the workers it starts use; the screens mark it as an override.
    """

    queue_order_strategy: str | None = None
    priority_steps: list[int] | None = None
    sep: str | None = None
    global_keyprefix: str | None = None
    visibility_timeout: int | None = None
    unacked_restore_interval: int | None = None
    unacked_restore_throttle: int | None = None

    def chosen(self) -> dict[str, Any]:
        """Only the options set on purpose, as `broker_transport_options` keys."""
        return {
            name: list(value) if isinstance(value, list | tuple) else value
            for name, value in asdict(self).items()
            if value is not None
        }


# What earlier versions wrote into every profile whether the person chose it or not (steps
# 0..9 where kombu's default is [0, 3, 6, 9], the priority strategy, kombu's separator and
# timings, the demo app's queues). Read only to tell those from a person's own choice when an
# old profiles.toml is loaded: a value equal to these is dropped, anything else is kept as an
# override.
_LEGACY_WRITTEN: dict[str, Any] = {
    "queue_order_strategy": "priority",
    "priority_steps": list(range(10)),
    "sep": "\x06\x16",
    "global_keyprefix": "",
    "visibility_timeout": 3600,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 10,
}
_LEGACY_QUEUES = [
    {"name": name, "max_priority": 10, "routing_keys": [name]}
    for name in ("queue1", "queue2", "tasks")
]


def _from_legacy(transport: dict[str, Any], queues: Any) -> tuple[dict[str, Any], Any]:
    """An old profile's transport table and queue list, without what was never chosen."""
    kept = {k: v for k, v in transport.items() if _LEGACY_WRITTEN.get(k, object()) != v}
    if isinstance(queues, list) and [
        {"name": q.get("name"), "max_priority": q.get("max_priority"),
         "routing_keys": list(q.get("routing_keys", []))}
        for q in queues if isinstance(q, dict)
    ] == _LEGACY_QUEUES:  # fmt: skip
        queues = []
    return kept, queues


@dataclass
class Profile:
    name: str
    broker_url: str = urls.EMBEDDED
    result_backend: str = urls.EMBEDDED
    app_module: str = DEFAULT_APP_MODULE
    workdir: str = ""
    django_settings: str = ""
    python: str = ""
    management_url: str = ""
    transport: TransportOverrides = field(default_factory=TransportOverrides)
    queues: list[QueueSpec] = field(default_factory=list)
    # The effective configuration of the app this profile was last read with (app_config):
    # when the app's settings change, the screens and `profile show` say what changed.
    app_fingerprint: str = ""
    # How many failed tasks the journal keeps, and for how long, apart from the other tasks.
    failure_retention_tasks: int = DEFAULT_FAILURE_RETENTION_TASKS
    failure_retention_days: int = DEFAULT_FAILURE_RETENTION_DAYS
    # Argument names whose values are hidden in the journal, the screens and the CLI
    # (base/argument_redaction.py); matched case-insensitively anywhere in a name.
    redacted_arguments: list[str] = field(default_factory=lambda: list(DEFAULT_REDACTED_NAMES))
    # Whether the journal keeps those values as they were (shown as **** all the same, and
    # revealed one task at a time on request) rather than hidden for good (the default).
    keep_argument_values: bool = False
    # Where the task history is kept: "sqlite" (the journal beside the panel) or a PostgreSQL
    # URL shared by a team's recorder and panels (issue 20); its password in the secret store.
    history: str = urls.HISTORY_SQLITE

    @property
    def is_embedded(self) -> bool:
        return self.broker_url == urls.EMBEDDED

    @property
    def broker_kind(self) -> str:
        """'embedded', 'redis' or 'rabbitmq': what the screens explain priorities by."""
        return broker_kind_of(self.broker_url)

    def masked(self) -> Profile:
        """A copy that is safe to print: every password replaced by ****."""
        return replace(
            self,
            broker_url=urls.mask(self.broker_url),
            result_backend=urls.mask(self.result_backend),
            management_url=urls.mask(self.management_url),
            history=urls.mask(self.history),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["transport"] = self.transport.chosen()
        for queue in data["queues"]:
            if queue["max_priority"] is None:
                del queue["max_priority"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Build from parsed TOML/JSON; unknown keys are refused so a typo is not lost silently."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ProfileError({"profile": f"unknown setting(s): {', '.join(sorted(unknown))}"})
        values = dict(data)
        _check_types(values)
        transport, queues = _from_legacy(
            values.pop("transport", None) or {}, values.pop("queues", None) or []
        )
        try:
            options = TransportOverrides(**transport)
            if options.sep is not None:
                options.sep = str(options.sep)
            queue_list = [
                QueueSpec(
                    name=str(q.get("name", "")),
                    max_priority=q.get("max_priority"),
                    routing_keys=list(q.get("routing_keys", [])),
                )
                for q in queues
            ]
            return cls(**values, transport=options, queues=queue_list)
        except TypeError as exc:
            raise ProfileError({"profile": f"malformed profile: {exc}"}) from exc


_TEXT_FIELDS = tuple(name for name, f in Profile.__dataclass_fields__.items() if f.type == "str")
_WHOLE_FIELDS = tuple(name for name, f in Profile.__dataclass_fields__.items() if f.type == "int")
_TRANSPORT_TYPES: dict[str, type] = {
    name: str if f.type == "str | None" else list if f.type == "list[int] | None" else int
    for name, f in TransportOverrides.__dataclass_fields__.items()
}


def _type_name(value: Any) -> str:
    return {str: "text", int: "a whole number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _check_types(values: dict[str, Any]) -> None:
    """Each value of a profile read from a file has the type its field takes: a hand-edited
    file (`queues = 5`, `broker_url = 1`) is refused by field, never met later as a crash."""
    errors: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        if name in values and not isinstance(values[name], str):
            errors[name] = f"must be text, not {_type_name(values[name])}"
    for name in _WHOLE_FIELDS:
        value = values.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            errors[name] = f"must be a whole number, not {_type_name(value)}"
    transport = values.get("transport")
    if transport is not None and not isinstance(transport, dict):
        errors["transport"] = f"must be a table, not {_type_name(transport)}"
    for key, value in (transport if isinstance(transport, dict) else {}).items():
        wanted = _TRANSPORT_TYPES.get(key)
        if wanted is None:
            errors[f"transport.{key}"] = "unknown transport option"
        elif not isinstance(value, wanted) or isinstance(value, bool):
            errors[f"transport.{key}"] = f"must be {_type_name(wanted())}, not {_type_name(value)}"
        elif isinstance(value, list) and not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            errors[f"transport.{key}"] = "must be a list of whole numbers"
    if not isinstance(values.get("keep_argument_values", False), bool):
        errors["keep_argument_values"] = "must be true or false"
    hidden = values.get("redacted_arguments", [])
    if not isinstance(hidden, list) or not all(isinstance(n, str) for n in hidden):
        errors["redacted_arguments"] = "must be a list of names (text)"
    queues = values.get("queues")
    if queues is not None and not isinstance(queues, list):
        errors["queues"] = f"must be a list of tables, not {_type_name(queues)}"
    for index, queue in enumerate(queues if isinstance(queues, list) else []):
        where = f"queues[{index}]"
        if not isinstance(queue, dict):
            errors[where] = f"must be a table, not {_type_name(queue)}"
            continue
        unknown = set(queue) - {"name", "max_priority", "routing_keys"}
        if unknown:
            errors[where] = f"unknown setting(s): {', '.join(sorted(unknown))}"
        if not isinstance(queue.get("name"), str):
            errors[f"{where}.name"] = "must be text"
        priority = queue.get("max_priority")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            errors[f"{where}.max_priority"] = "must be a whole number"
        keys = queue.get("routing_keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            errors[f"{where}.routing_keys"] = "must be a list of text"
    if errors:
        raise ProfileError(errors)


@dataclass(frozen=True)
class Endpoints:
    """Connection URLs with passwords restored: for connecting, never for display."""

    broker_url: str
    result_backend: str
    management_url: str

    def masked(self) -> Endpoints:
        return Endpoints(
            urls.mask(self.broker_url),
            urls.mask(self.result_backend),
            urls.mask(self.management_url),
        )


def broker_kind_of(broker_url: str) -> str:
    """'embedded', 'redis' or 'rabbitmq' for a profile's broker URL (also as it is typed)."""
    if broker_url.strip() == urls.EMBEDDED:
        return "embedded"
    return "rabbitmq" if urls.scheme_of(broker_url.strip()).startswith("amqp") else "redis"
