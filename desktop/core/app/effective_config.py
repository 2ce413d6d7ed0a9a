"""The effective configuration of the person's app: what it declares, sends and reads, each
value with where it came from.

Built by app_config from what the app probe reports (or from a bare Celery app's defaults when
the person's app cannot be imported). The facts the screens, the CLI and sending share: the
priority steps and range (priorities.py turns them into the broker's priority rules), which
queue a task is routed to, what an override contradicts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from celery.utils.collections import match_case

from desktop.core.app.queues import FROM_APP, QueueInfo
from desktop.core.settings import urls
from desktop.core.settings.redaction import redact

CELERY_DEFAULT = "Celery default"
KOMBU_DEFAULT = "kombu default"
OVERRIDE = "profile override"


# -- what the app declares --------------------------------------------------------------------
@dataclass(frozen=True)
class TaskInfo:
    """A task the app registers: its signature for the editor, and how Celery routes it."""

    name: str
    params: list[dict[str, Any]]
    doc: str = ""
    rate_limit: str | None = None
    ignore_result: bool = False  # the task's own (task_ignore_result, or its decorator's)
    exec_options: dict[str, Any] = field(default_factory=dict)
    # raw, as the app's routers give it: options, or just a queue name
    route: dict[str, Any] | str = field(default_factory=dict)
    queue: str | None = None  # the queue Celery picks when nothing is given
    route_error: str = ""


# -- the effective configuration --------------------------------------------------------------
@dataclass
class EffectiveConfig:
    """The app's configuration after `finalize()`, the transport's defaults beneath it and the
    profile's overrides above it; every value knows where it came from."""

    main: str
    broker_kind: str  # "redis" | "rabbitmq" | another kombu driver name
    settings: dict[str, Any]
    celery_defaults: dict[str, Any]
    app_transport_options: dict[str, Any]  # what the app's broker_transport_options sets
    transport_defaults: dict[str, Any]  # kombu's, for every option its channel reads
    priority_range: tuple[int, int] | None = None  # kombu clamps message priorities to this
    transport_default_priority: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # the profile's, on purpose
    queues: list[QueueInfo] = field(default_factory=list)
    tasks: list[TaskInfo] = field(default_factory=list)
    task_routes: Any = None  # the app's raw task_routes, JSON-safe (functions as text)
    result_backend: str = ""  # may carry a password: memory only, masked wherever shown
    files: list[str] = field(default_factory=list)
    imported: bool = True
    error: str = ""  # why the app could not be imported (then everything is a default)
    # Settings and transport options whose JSON form is not the value itself (an int-keyed
    # socket option, an SSLContext): shown, but never handed on to the panel's own app or to
    # a worker's command line, where they would arrive as text.
    inexact: frozenset[str] = frozenset()
    # The namespace the app reads its settings under (`config_from_object(..., namespace=
    # "CELERY")`, as a Django project does): a setting's name in the person's own files.
    namespace: str = ""
    # The app's Celery runs beat with --enable-remote-control (5.7's beat answers pings):
    # known from the probe, outside the snapshot (a capability of Celery, not the app's).
    beat_remote_control: bool = False

    # -- settings ---------------------------------------------------------------------------
    def setting(self, key: str) -> Any:
        return self.settings.get(key)

    def spelled(self, key: str) -> str:
        """`key` as the person writes it in their configuration: `result_backend` is
        `CELERY_RESULT_BACKEND` in a Django project's settings. Celery's own rule (its
        `Settings` prefixes the key and matches the prefix's case)."""
        if not self.namespace:
            return key
        prefix = self.namespace.rstrip("_") + "_"
        return str(match_case(prefix + key, prefix))

    def setting_source(self, key: str) -> str:
        if not self.imported:
            return CELERY_DEFAULT
        return (
            FROM_APP
            if self.settings.get(key) != self.celery_defaults.get(key)
            else (CELERY_DEFAULT)
        )

    @property
    def default_queue(self) -> str:
        return str(self.settings.get("task_default_queue") or "celery")

    @property
    def default_priority(self) -> int | None:
        value = self.settings.get("task_default_priority")
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    @property
    def acks_late(self) -> bool:
        return bool(self.settings.get("task_acks_late"))

    @property
    def prefetch_multiplier(self) -> int:
        return int(self.settings.get("worker_prefetch_multiplier") or 0)

    # -- transport --------------------------------------------------------------------------
    def transport_option(self, key: str) -> Any:
        if key in self.overrides:
            return self.overrides[key]
        if key in self.app_transport_options:
            return self.app_transport_options[key]
        return self.transport_defaults.get(key)

    def app_transport_option(self, key: str) -> Any:
        """What a worker of the app started by hand uses: the app's, else kombu's default."""
        if key in self.app_transport_options:
            return self.app_transport_options[key]
        return self.transport_defaults.get(key)

    def transport_source(self, key: str) -> str:
        if key in self.overrides:
            return OVERRIDE
        if key in self.app_transport_options:
            return FROM_APP
        return KOMBU_DEFAULT

    def transport_options(self) -> dict[str, Any]:
        """Every option the transport reads, effective: kombu's, the app's, the overrides."""
        keys = list(self.transport_defaults)
        keys += [k for k in (*self.app_transport_options, *self.overrides) if k not in keys]
        return {key: self.transport_option(key) for key in keys}

    def sending_transport_options(self) -> dict[str, Any]:
        """`broker_transport_options` for the panel's own Celery app: what the app sets plus
        the overrides; kombu fills in the rest exactly as it does for the app. An option that
        did not survive the trip from the app's process as itself is left to kombu."""
        kept = {
            k: v
            for k, v in self.app_transport_options.items()
            if f"transport.{k}" not in self.inexact
        }
        return {**kept, **self.overrides}

    def overrides_cannot_travel(self) -> str:
        """Why a worker cannot be started with the profile's overrides, or "". With one, it
        gets the app's transport options, overridden, after `--` (the whole setting is
        replaced); values that are not plain data (a socket option keyed by a number) would
        arrive as text, and a password would show in `ps`."""
        if not self.overrides:
            return ""
        inexact = sorted(k.split(".", 1)[1] for k in self.inexact if k.startswith("transport."))
        if inexact:
            return (
                f"the app's broker_transport_options hold {', '.join(inexact)}, which cannot be "
                "passed on a command line: set the override in the app's own configuration "
                "instead"
            )
        if redact(self.app_transport_options) != self.app_transport_options:
            return (
                "the app's broker_transport_options hold a password, which would show in `ps` "
                "on a command line: set the override in the app's own configuration instead"
            )
        return ""

    @property
    def is_redis(self) -> bool:
        return self.broker_kind == "redis"

    @property
    def is_rabbitmq(self) -> bool:
        return self.broker_kind == "rabbitmq"

    @property
    def priority_steps(self) -> list[int]:
        """The steps the panel sends and reads with (overrides included)."""
        return _steps(self.transport_option("priority_steps"))

    @property
    def app_priority_steps(self) -> list[int]:
        """The steps a worker of the app reads when started by hand: the app's own setting,
        else kombu's default; a profile override does not reach those workers."""
        steps = self.app_transport_options.get("priority_steps")
        return _steps(steps if steps is not None else self.transport_defaults.get("priority_steps"))

    @property
    def sep(self) -> str:
        return str(self.transport_option("sep") or "")

    @property
    def global_keyprefix(self) -> str:
        return str(self.transport_option("global_keyprefix") or "")

    def redelivery_delay_s(self) -> float | None:
        """Worst case before Redis hands a SIGKILLed worker's task to another worker: the
        visibility timeout plus kombu's restore sweep (interval x throttle)."""
        numbers = [
            self.transport_option(k)
            for k in ("visibility_timeout", "unacked_restore_interval", "unacked_restore_throttle")
        ]
        if not all(isinstance(n, int | float) for n in numbers):
            return None
        return float(numbers[0] + numbers[1] * numbers[2])

    # -- queues, routes, tasks --------------------------------------------------------------
    def queue(self, name: str) -> QueueInfo | None:
        return next((q for q in self.queues if q.name == name), None)

    def queue_names(self) -> list[str]:
        return [q.name for q in self.queues]

    def routing(self) -> dict[str, str]:
        """Routing key -> queue, for the keys that differ from the queue's name."""
        found: dict[str, str] = {}
        for queue in self.queues:
            for key in queue.routing_keys():
                found.setdefault(key, queue.name)
        return found

    def task(self, name: str) -> TaskInfo | None:
        return next((t for t in self.tasks if t.name == name), None)

    def exec_options(self, task: str) -> dict[str, Any]:
        """What Celery merges in when the app itself sends this task: its queue, priority
        (task_default_priority among them), routing key, time limits. Empty for a name the
        app does not register (Celery sends those as given)."""
        found = self.task(task)
        return dict(found.exec_options) if found else {}

    def routed_elsewhere(self) -> list[tuple[str, str]]:
        """(task, queue) for the registered tasks the app does not send to its default queue."""
        return [(t.name, t.queue) for t in self.tasks if t.queue and t.queue != self.default_queue]

    def routed_queue(self, task: str) -> str:
        """The queue a task lands in when sent without one, by the app's own routing."""
        found = self.task(task)
        if found is not None and found.queue:
            return found.queue
        return self.default_queue

    # -- identity and display ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Flat, secret-free and JSON: what the fingerprint covers and drift compares."""
        found: dict[str, Any] = {"main": self.main, "broker": self.broker_kind}
        found["result_backend"] = urls.mask(self.result_backend)
        for key in sorted(self.settings):
            found[f"setting.{key}"] = redact(self.settings[key])
        for key in sorted(self.transport_options()):
            # the app's own value, overridden or not: an override is the profile's, not drift
            found[f"transport.{key}"] = redact(self.app_transport_option(key))
        for queue in self.queues:
            if queue.source == FROM_APP:
                found[f"queue.{queue.name}"] = queue.described()
        for task in self.tasks:
            found[f"route.{task.name}"] = task.queue or task.route_error
            if task.exec_options:
                found[f"options.{task.name}"] = redact(task.exec_options)
        plain: dict[str, Any] = json.loads(json.dumps(found, sort_keys=True, default=repr))
        return plain

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def conflicts(self) -> list[Change]:
        """Overrides that contradict what the app itself sets (a value equal to the app's is
        no contradiction; one over a kombu default is a plain choice)."""
        found = []
        for key, value in sorted(self.overrides.items()):
            if key in self.app_transport_options and self.app_transport_options[key] != value:
                found.append(Change(f"transport.{key}", self.app_transport_options[key], value))
        return found


def _steps(value: Any) -> list[int]:
    return sorted({int(s) for s in value}) if isinstance(value, list | tuple) and value else [0]


def _listed(steps: list[int]) -> str:
    return ", ".join(map(str, steps))


@dataclass(frozen=True)
class Change:
    """One difference: a setting's earlier (or the app's) value and the later (or override)."""

    key: str
    before: Any
    after: Any

    def text(self) -> str:
        return f"{self.key}: {_shown(self.before)} → {_shown(self.after)}"


def _shown(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return repr(value) if any(ord(c) < 32 for c in value) or not value else value
    return json.dumps(value, ensure_ascii=False, default=repr)


def drift(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """What changed between two snapshots, key by key."""
    keys = sorted(set(before) | set(after))
    return [Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
