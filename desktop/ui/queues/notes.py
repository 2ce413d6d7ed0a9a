"""What the Queues screen says about the broker: how it orders a queue, and the transport
settings behind that order, each with where it came from (the app's own configuration)."""

from __future__ import annotations

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker import queues
from desktop.ui.common.panel_parts import routed_summary


def priority_note(config: EffectiveConfig) -> str:
    """How this broker orders a queue, by the app's own settings (each with its source)."""
    if not config.is_redis:
        return (
            "RabbitMQ: a higher number runs first, on queues declared with x-max-priority; "
            "it shows with prefetch multiplier 1 and acks_late."
        )
    steps = ", ".join(map(str, config.priority_steps))
    text = (
        f"Redis: a lower number runs first; priorities go to the steps {steps} "
        f"({config.transport_source('priority_steps')}), first in first out within a step."
    )
    delay = config.redelivery_delay_s()
    if delay is not None:
        text += (
            f" A task held by a killed worker returns after ~{delay:.0f} s (visibility timeout "
            f"{config.transport_option('visibility_timeout')} s, "
            f"{config.transport_source('visibility_timeout')}, + restore sweep)."
        )
    return text


def transport_facts(config: EffectiveConfig, management: queues.Management | None) -> str:
    """The line under the tables: routes, and Redis' ordering settings or which RabbitMQ
    management API answered."""
    rabbit = config.is_rabbitmq
    facts = [] if config.imported else [f"(the app could not be read: {config.error})"]
    facts.append(f"Routes: {routed_summary(config)}")
    if not rabbit:
        facts += [
            _fact(config, "queue_order_strategy", "order strategy"),
            _fact(config, "priority_steps", "steps"),
            _fact(config, "sep", "separator"),
            _fact(config, "global_keyprefix", "key prefix"),
            _fact(config, "visibility_timeout", "visibility timeout"),
        ]
    elif management is not None:
        facts.append(management.note)
    return " · ".join(facts)


def _fact(config: EffectiveConfig, key: str, label: str) -> str:
    value = config.transport_option(key)
    if value in ("", None):
        shown = "(none)"
    elif isinstance(value, str):
        shown = repr(value)
    else:
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{label} {shown} ({config.transport_source(key)})"
