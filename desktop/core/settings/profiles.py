"""Broker profiles: what a person connects to, checked field by field, stored as TOML.

Passwords never reach the TOML file: `ProfileStore.save` moves them to the secret store and
`ProfileStore.endpoints` puts them back only in memory, just before a connection is made.
"""

from __future__ import annotations

import keyword
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
import tomlkit.items
from kombu.utils.scheduling import CYCLE_ALIASES

from desktop.core.base.files import write_atomic
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ConfigFileError, file_error
from desktop.core.settings.config_errors import ProfileError as ProfileError  # its home before
from desktop.core.settings.paths import Paths
from desktop.core.settings.secret_store import SecretStore

DEFAULT_PROFILE_NAME = "embedded"
DEFAULT_APP_MODULE = "workers"
# kombu's own names for the Redis transport's queue order strategies.
QUEUE_ORDER_STRATEGIES = tuple(CYCLE_ALIASES)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@()-]{0,63}$")
_SECRET_FIELDS = ("broker_url", "result_backend", "management_url")


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

    @property
    def is_embedded(self) -> bool:
        return self.broker_url == urls.EMBEDDED

    @property
    def broker_kind(self) -> str:
        """'embedded', 'redis' or 'rabbitmq': what the screens explain priorities by."""
        if self.is_embedded:
            return "embedded"
        return "rabbitmq" if urls.scheme_of(self.broker_url).startswith("amqp") else "redis"

    def masked(self) -> Profile:
        """A copy that is safe to print: every password replaced by ****."""
        return replace(
            self,
            broker_url=urls.mask(self.broker_url),
            result_backend=urls.mask(self.result_backend),
            management_url=urls.mask(self.management_url),
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
    errors.update(_validate_transport(profile.transport))
    errors.update(_validate_queues(profile.queues))
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


class ProfileStore:
    """profiles.toml (no secrets) plus the secret store; the embedded profile always exists."""

    def __init__(self, paths: Paths, secrets: SecretStore) -> None:
        self.paths = paths
        self.secrets = secrets

    @staticmethod
    def builtin() -> Profile:
        return Profile(name=DEFAULT_PROFILE_NAME)

    def _text(self) -> str | None:
        """profiles.toml as text; None when there is none yet."""
        path = self.paths.profiles_file
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ConfigFileError(
                path, f"is not UTF-8 text (byte {exc.start}): fix or remove the file"
            ) from exc
        except OSError as exc:
            raise file_error(path, exc, "read it") from exc

    def _read(self) -> dict[str, Any]:
        """The file's tables, shaped as the panel writes them (ConfigFileError otherwise)."""
        path = self.paths.profiles_file
        raw = self._text()
        if raw is None:
            return {}
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(path, f"is not valid TOML: {exc}") from exc
        if not isinstance(data.get("profiles", []), list):
            raise ConfigFileError(path, "'profiles' must be a list of [[profiles]] tables")
        if not isinstance(data.get("active", ""), str):
            raise ConfigFileError(path, "'active' must be the name of a profile, as text")
        return data

    def load(self) -> list[Profile]:
        """Every profile of the file, each checked as when it was saved: a damaged or
        hand-broken file raises ConfigFileError naming it, the profile and the field."""
        profiles = []
        for index, item in enumerate(self._read().get("profiles", [])):
            where = f"profile {index + 1}"
            if not isinstance(item, dict):
                raise ConfigFileError(self.paths.profiles_file, f"{where} is not a table")
            if isinstance(item.get("name"), str):
                where += f" ('{item['name']}')"
            try:
                profile = Profile.from_dict(item)
                errors = validate_fields(profile)
            except ProfileError as exc:
                errors = exc.errors
            if errors:
                problems = "; ".join(f"{k}: {v}" for k, v in errors.items())
                raise ConfigFileError(self.paths.profiles_file, f"{where}: {problems}")
            profiles.append(profile)
        if not any(p.name == DEFAULT_PROFILE_NAME for p in profiles):
            profiles.insert(0, self.builtin())
        return profiles

    def active_name(self) -> str:
        name = self._read().get("active")
        names = {p.name for p in self.load()}
        return name if isinstance(name, str) and name in names else DEFAULT_PROFILE_NAME

    def get(self, name: str) -> Profile:
        for profile in self.load():
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.load())
        raise ProfileError({"name": f"no profile named '{name}' (known: {known})"})

    def _write(self, profiles: list[Profile], active: str) -> None:
        """Write the file with tomlkit over what it holds, so a person's comments and layout
        stay; each profile's table is updated in place, key by key."""
        path = self.paths.profiles_file
        raw = self._text() or ""
        try:
            document = tomlkit.parse(raw)
        except tomlkit.exceptions.TOMLKitError as exc:
            raise ConfigFileError(path, f"is not valid TOML: {exc}") from exc
        document["active"] = active
        tables = document.get("profiles")
        if not isinstance(tables, tomlkit.items.AoT):  # none yet, or an inline array
            document.pop("profiles", None)
            tables = tomlkit.aot()
            document.append("profiles", tables)
        wanted = {p.name: p for p in profiles}
        for index in reversed(range(len(tables))):  # [[profiles]] tables keep their comments
            if tables[index].get("name") not in wanted:
                del tables[index]
        present = {t.get("name"): t for t in tables}
        for profile in profiles:
            table = present.get(profile.name)
            if table is None:
                table = tomlkit.table()
                _update_table(table, profile.to_dict())
                tables.append(table)
            else:
                _update_table(table, profile.to_dict())
        try:
            write_atomic(path, tomlkit.dumps(document), mode=0o600)
        except OSError as exc:
            raise file_error(path, exc, "write it") from exc

    def _secret_key(self, profile_name: str, field_name: str) -> str:
        return f"profile/{profile_name}/{field_name}"

    def save(
        self, profile: Profile, *, replace_name: str | None = None, create: bool = False
    ) -> Profile:
        """Validate, move passwords to the secret store and write the TOML atomically.

        A URL whose password is the mask (`****`) keeps the stored password, so editing a
        shown profile never wipes its secret. `replace_name` renames an existing profile;
        `create` refuses to overwrite one that already has the name.
        """
        errors = validate(profile)
        if errors:
            raise ProfileError(errors)
        profiles = self.load()
        old_name = replace_name or profile.name
        renaming = replace_name is not None and replace_name != profile.name
        if (create or renaming) and any(p.name == profile.name for p in profiles):
            raise ProfileError({"name": f"a profile named '{profile.name}' already exists"})
        stored = replace(profile)
        for field_name in _SECRET_FIELDS:
            value: str = getattr(profile, field_name)
            split = urls.split_password(value)
            key = self._secret_key(profile.name, field_name)
            old_key = self._secret_key(old_name, field_name)
            if split.password == urls.MASK:
                kept = self.secrets.get(old_key)
                if kept is not None and old_key != key:
                    self.secrets.set(key, kept)
            elif split.password is not None:
                self.secrets.set(key, split.password)
            else:
                self.secrets.delete(key)
            if old_key != key:
                self.secrets.delete(old_key)
            setattr(stored, field_name, split.url)
        remaining = [p for p in profiles if p.name not in (old_name, profile.name)]
        position = next((i for i, p in enumerate(profiles) if p.name == old_name), len(remaining))
        remaining.insert(min(position, len(remaining)), stored)
        active = self.active_name()
        if active == old_name:
            active = profile.name
        self._write(remaining, active)
        return stored

    def remove(self, name: str) -> None:
        if name == DEFAULT_PROFILE_NAME:
            raise ProfileError({"name": "the embedded profile is built in and cannot be removed"})
        profiles = self.load()
        if not any(p.name == name for p in profiles):
            raise ProfileError({"name": f"no profile named '{name}'"})
        for field_name in _SECRET_FIELDS:
            self.secrets.delete(self._secret_key(name, field_name))
        active = self.active_name()
        self._write(
            [p for p in profiles if p.name != name],
            DEFAULT_PROFILE_NAME if active == name else active,
        )

    def set_fingerprint(self, name: str, fingerprint: str) -> None:
        """Remember which effective configuration of its app the profile was read with; the
        rest of the profile and its secrets stay as they are."""
        profiles = self.load()
        found = next((p for p in profiles if p.name == name), None)
        if found is None:
            raise ProfileError({"name": f"no profile named '{name}'"})
        found.app_fingerprint = fingerprint
        self._write(profiles, self.active_name())

    def set_active(self, name: str) -> None:
        self.get(name)
        self._write(self.load(), name)

    def with_secrets(self, profile: Profile) -> Profile:
        """The profile with stored passwords joined back into its URLs (memory only)."""
        restored = replace(profile)
        for field_name in _SECRET_FIELDS:
            value: str = getattr(profile, field_name)
            if urls.password_of(value) not in (None, urls.MASK):
                continue
            password = self.secrets.get(self._secret_key(profile.name, field_name))
            if password is not None:
                bare = urls.split_password(value).url
                setattr(restored, field_name, urls.join_password(bare, password))
        return restored


def _update_table(table: Any, values: dict[str, Any]) -> None:
    """Set what changed and drop what is gone; a key that keeps its value keeps its comment."""
    for key in [k for k in table if k not in values]:
        del table[key]
    for key, value in values.items():
        if key not in table or _plain(table[key]) != value:
            table[key] = value


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value
