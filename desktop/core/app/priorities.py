"""The broker's priority rules, in one place: which Redis list (step) a priority lands in and
which lists exist, RabbitMQ's x-max-priority cap, the order each broker delivers in, and the
notes that tell people so (the Builder's editor, the Queues screen, the Builder's checks).

They were methods of EffectiveConfig, a copy of the broker note in the Queues screen and a copy
of the cap rules in the Builder's checks; each function takes the app's effective configuration,
which knows the steps, the range kombu clamps to and each queue's x-max-priority.
"""

from __future__ import annotations

from bisect import bisect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig


def _listed(steps: list[int]) -> str:
    return ", ".join(map(str, steps))


def clamp_priority(config: EffectiveConfig, priority: int) -> int:
    """kombu's virtual transports clamp a message priority before choosing a list."""
    if config.priority_range is None:
        return priority
    low, high = config.priority_range
    return max(low, min(priority, high))


def redis_step(
    config: EffectiveConfig, priority: int | None, steps: list[int] | None = None
) -> int:
    """The Redis list a priority lands in, as kombu picks it: the sent priority (or the
    transport's default when none) clamped, then the highest step not above it
    (kombu/transport/redis.py, Channel.priority)."""
    ordered = sorted(set(steps if steps is not None else config.priority_steps)) or [0]
    value = clamp_priority(
        config, config.transport_default_priority if priority is None else priority
    )
    return ordered[bisect(ordered, value) - 1]  # kombu's index; -1 (the top step) included


def stored_steps(config: EffectiveConfig) -> list[int]:
    """Every Redis step list a message can sit in: the panel's (overrides included) and
    those of the app's own senders and workers, so nothing waits unseen or unpurged."""
    return sorted(set(config.priority_steps) | set(config.app_priority_steps))


def unread_step(config: EffectiveConfig, priority: int | None) -> str:
    """Why a message of this priority would never run, or "": on Redis, the list it goes
    to must be one the app's workers read (their steps may differ from the overrides)."""
    if not config.is_redis or config.app_priority_steps == config.priority_steps:
        return ""
    step = redis_step(config, priority)
    if step in config.app_priority_steps:
        return ""
    shown = "no priority" if priority is None else f"priority {priority}"
    return (
        f"{shown} would go to the step-{step} list (the profile's priority_steps "
        f"{_listed(config.priority_steps)}), which workers of the app never read (they read "
        f"steps {_listed(config.app_priority_steps)}): the task would wait forever. Remove "
        "the profile's priority_steps override, or set the same steps in the app."
    )


def sent_priority(config: EffectiveConfig, task: str, options: dict[str, Any]) -> int | None:
    """The priority Celery puts on the message: the one given, else the task's own
    (task_default_priority lands there); None when neither."""
    value = options.get("priority")
    if value is None:
        value = config.exec_options(task).get("priority")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def priority_note(
    config: EffectiveConfig, priority: int | None, queue: str | None, task: str = ""
) -> str:
    """What the chosen priority does on this broker, so nobody expects 255 to beat 9 on
    Redis, or a priority to count in a RabbitMQ queue without x-max-priority."""
    sent = priority if priority is not None else config.exec_options(task).get("priority")
    if priority is None and sent is not None:
        whose = (
            "its task_default_priority"
            if sent == config.default_priority
            else "the task's own priority"
        )
        subject = f"no priority given: the app sends {sent} ({whose})"
    elif priority is None:
        subject = "no priority given"
    else:
        subject = f"priority {priority}"
    if config.is_redis:
        step = redis_step(config, sent)
        top = config.priority_range[1] if config.priority_range else None
        if isinstance(sent, int) and top is not None and sent > top:
            subject += f" (kombu caps it at {top})"
        elif sent is None:
            subject += f" (kombu counts it as {config.transport_default_priority})"
        same = [n for n in range(0, (top or 9) + 1) if redis_step(config, n) == step]
        shared = str(same[0]) if len(same) == 1 else f"{same[0]} to {same[-1]}"
        source = config.transport_source("priority_steps")
        text = (
            f"Redis: a lower number runs first. Steps {_listed(config.priority_steps)} "
            f"({source}): {subject} is served with the {step} step, first in first out "
            f"with priorities {shared}."
        )
        unread = unread_step(config, sent)
        return f"{text} {unread}" if unread else text
    text = "RabbitMQ: a higher number runs first; needs x-max-priority on the queue. "
    text += subject[0].upper() + subject[1:] + (" counts as 0." if sent is None else ".")
    if queue:
        top = max_priority_of(config, queue)
        if top is None:
            text += f" Queue '{queue}' has no x-max-priority: priority is ignored."
        else:
            text += f" Queue '{queue}' has x-max-priority {top}; above it counts as {top}."
    return text


def max_priority_of(config: EffectiveConfig, queue: str) -> int | None:
    found = config.queue(queue)
    if found is not None:
        return found.max_priority
    top = config.settings.get("task_queue_max_priority")
    return int(top) if isinstance(top, int) else None


def delivery_rank(config: EffectiveConfig, priority: int | None, queue: str) -> int | None:
    """Lower is delivered first; None when the priority is not known. Redis: by step
    (first in, first out within one); RabbitMQ: higher first, capped at x-max-priority,
    and all alike in a queue without it."""
    if priority is None:
        return None
    if config.is_redis:
        return redis_step(config, priority)
    top = max_priority_of(config, queue)
    return -min(priority, top if top is not None else 0)


def step_key(config: EffectiveConfig, queue: str, step: int) -> str:
    """The Redis list holding a queue's messages of one step (kombu's _q_for_pri)."""
    name = f"{queue}{config.sep}{step}" if step else queue
    return config.global_keyprefix + name


def capped(config: EffectiveConfig, given: int, queue: str | None) -> str:
    """What the broker does to a priority it does not take as given, or "": kombu caps a
    Redis priority at the top of its range; RabbitMQ ignores priorities on a queue without
    x-max-priority and caps them at it on one with it."""
    if config.is_redis and config.priority_range and given > config.priority_range[1]:
        top = config.priority_range[1]
        return f"priority {given} is above kombu's maximum {top}: it is treated as {top}"
    if not config.is_redis and queue:
        cap = max_priority_of(config, queue)
        if cap is None:
            return f"queue '{queue}' has no x-max-priority: RabbitMQ ignores priority {given}"
        if given > cap:
            return (
                f"priority {given} is above the x-max-priority {cap} of queue '{queue}': "
                f"it is treated as {cap}"
            )
    return ""


def broker_note(config: EffectiveConfig) -> str:
    """How this broker orders a queue, by the app's own settings (each with its source): the
    Queues screen's note."""
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
