"""The app's queues as it declares them, and exchanges: what RabbitMQ compares when the panel
declares a queue again (a redeclaration that differs is refused with 406 PRECONDITION_FAILED).

Built from the app probe's description (`app_probe.describe_queue`); a queue the person adds to
the profile is made by Celery's own `Queues.new_missing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desktop.core.settings.profile_model import QueueSpec

FROM_APP = "app"
FROM_PROFILE = "profile"


@dataclass(frozen=True)
class ExchangeInfo:
    name: str
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExchangeInfo:
        return cls(
            str(data.get("name") or ""),
            str(data.get("type") or "direct"),
            bool(data.get("durable", True)),
            bool(data.get("auto_delete", False)),
            dict(data.get("arguments") or {}),
        )

    def to_kombu(self) -> Any:
        from kombu.entity import Exchange

        return Exchange(
            self.name,
            type=self.type,
            durable=self.durable,
            auto_delete=self.auto_delete,
            arguments=self.arguments or None,
        )


@dataclass(frozen=True)
class QueueInfo:
    """A queue exactly as the app declares it (RabbitMQ refuses a redeclaration that differs)."""

    name: str  # what routes, `-Q` and the screens call it (a Broadcast queue: its alias)
    exchange: ExchangeInfo
    routing_key: str
    queue_arguments: dict[str, Any] = field(default_factory=dict)
    binding_arguments: dict[str, Any] = field(default_factory=dict)
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    max_priority: int | None = None  # what the broker applies: x-max-priority, however set
    expires: float | None = None
    message_ttl: float | None = None
    max_length: int | None = None
    bindings: tuple[tuple[ExchangeInfo, str], ...] = ()
    source: str = FROM_APP
    queue_max_priority: int | None = None  # kombu's own max_priority attribute, as declared
    max_length_bytes: int | None = None
    no_declare: bool | None = None
    alias: str | None = None
    broadcast: bool = False  # kombu's Broadcast: a fanout exchange, a queue per consumer

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = FROM_APP) -> QueueInfo:
        top = data.get("max_priority")
        broadcast = bool(data.get("broadcast"))
        own = data.get("queue_max_priority")
        return cls(
            name=str(data.get("alias") or data["name"]) if broadcast else str(data["name"]),
            exchange=ExchangeInfo.from_json(data.get("exchange") or {}),
            routing_key=str(data.get("routing_key") or ""),
            queue_arguments=dict(data.get("queue_arguments") or {}),
            binding_arguments=dict(data.get("binding_arguments") or {}),
            durable=bool(data.get("durable", True)),
            exclusive=bool(data.get("exclusive", False)),
            auto_delete=bool(data.get("auto_delete", False)),
            max_priority=top if isinstance(top, int) and not isinstance(top, bool) else None,
            expires=data.get("expires"),
            message_ttl=data.get("message_ttl"),
            max_length=data.get("max_length"),
            bindings=tuple(
                (ExchangeInfo.from_json(b.get("exchange") or {}), str(b.get("routing_key") or ""))
                for b in data.get("bindings") or []
            ),
            source=source,
            queue_max_priority=own if isinstance(own, int) and not isinstance(own, bool) else None,
            max_length_bytes=data.get("max_length_bytes"),
            no_declare=data.get("no_declare"),
            alias=data.get("alias"),
            broadcast=broadcast,
        )

    @classmethod
    def extra(cls, spec: QueueSpec, settings: dict[str, Any]) -> QueueInfo:
        """A queue the person added to the profile, declared as Celery itself declares a queue
        it creates for a name (`Queues.new_missing`, with the app's exchange type, queue type
        and task_queue_max_priority), plus the x-max-priority the person gave it."""
        from celery import Celery

        from desktop.core.app.probe import describe_queue

        keys = ("task_create_missing_queue_type", "task_create_missing_queue_exchange_type",
                "task_queue_max_priority", "task_default_exchange_type")  # fmt: skip
        bare = Celery("extra", broker="memory://", set_as_current=False)
        bare.conf.update({k: settings[k] for k in keys if settings.get(k) is not None})
        made = describe_queue(bare.amqp.queues[spec.name])
        if spec.max_priority:
            made["queue_arguments"] = {
                **made["queue_arguments"],
                "x-max-priority": spec.max_priority,
            }
            made["max_priority"] = spec.max_priority
        if spec.routing_keys:
            made["routing_key"] = spec.routing_keys[0]
        return cls.from_json(made, FROM_PROFILE)

    def routing_keys(self) -> list[str]:
        """Routing keys that deliver into this queue (Redis names unacked entries by them)."""
        found = [self.routing_key or self.name]
        found += [key for _exchange, key in self.bindings if key and key not in found]
        return found

    def to_kombu(self) -> Any:
        from kombu.common import Broadcast
        from kombu.entity import Queue, binding

        if self.broadcast:  # Celery declares none of it when sending: the exchange is enough
            return Broadcast(self.name, exchange=self.exchange.to_kombu())
        return Queue(
            self.name,
            self.exchange.to_kombu(),
            routing_key=self.routing_key,
            queue_arguments=dict(self.queue_arguments) or None,
            binding_arguments=dict(self.binding_arguments) or None,
            durable=self.durable,
            exclusive=self.exclusive,
            auto_delete=self.auto_delete,
            expires=self.expires,
            message_ttl=self.message_ttl,
            max_length=self.max_length,
            max_length_bytes=self.max_length_bytes,
            max_priority=self.queue_max_priority,
            no_declare=self.no_declare,
            alias=self.alias,
            bindings=[binding(e.to_kombu(), routing_key=k) for e, k in self.bindings] or None,
        )

    def described(self) -> dict[str, Any]:
        return {
            "exchange": f"{self.exchange.name or '(default)'} ({self.exchange.type})",
            "routing_key": self.routing_key,
            "x-max-priority": self.max_priority,
            "arguments": self.queue_arguments or None,
            "source": self.source,
        }
