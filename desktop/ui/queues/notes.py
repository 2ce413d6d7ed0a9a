"""What the Queues screen says about the broker: how it orders a queue, and the transport
settings behind that order, each with where it came from (the app's own configuration)."""

from __future__ import annotations

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.broker.queue_rabbitmq import Management
from desktop.ui.common.panel_parts import routed_summary


def transport_facts(config: EffectiveConfig, management: Management | None) -> str:
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
