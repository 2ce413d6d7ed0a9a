"""What a person chooses for one local worker: settings, their checks, the tutorial's presets.

Kept apart from `supervisor`, which runs workers: the form, the CLI and the checks only need
this part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from celery.utils.nodenames import host_format

POOLS = ("prefork", "threads", "solo")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class WorkerError(RuntimeError):
    """A worker that cannot be started or controlled as asked; the message says why."""


class WorkerSpecError(WorkerError):
    """Settings refused before anything starts: one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class WorkerSpec:
    """What a person chooses for one worker; None means Celery's (or the app's) own default."""

    name: str
    queues: list[str]
    concurrency: int | None = None
    pool: str = "prefork"
    prefetch_multiplier: int | None = None
    autoscale_max: int | None = None
    autoscale_min: int | None = None
    max_tasks_per_child: int | None = None
    fair: bool = False
    acks_late: bool | None = None
    loglevel: str = "INFO"
    auto_restart: bool = False

    @property
    def nodename(self) -> str:
        return str(host_format(f"{self.name}@%h"))

    def problems(self, known_queues: Iterable[str]) -> dict[str, str]:
        """Every setting that cannot work, by field; empty when the worker may start."""
        errors: dict[str, str] = {}
        if not _NAME_RE.match(self.name or "") or self.name.endswith(".status"):
            errors["name"] = (
                "use letters, digits, '.', '_' or '-' (at most 64), e.g. queue1-worker; "
                "the node name becomes NAME@host"
            )
        known = list(known_queues)
        if not self.queues:
            errors["queues"] = "choose at least one queue"
        else:
            unknown = [q for q in self.queues if q not in known]
            if unknown:
                errors["queues"] = (
                    f"unknown queue(s) {', '.join(unknown)}: this profile has "
                    f"{', '.join(known) or 'none'} (add a queue to the profile first)"
                )
        for attr, low in (
            ("concurrency", 1),
            ("prefetch_multiplier", 1),
            ("max_tasks_per_child", 1),
            ("autoscale_max", 1),
            ("autoscale_min", 0),
        ):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, int) or value < low):
                errors[attr] = f"must be a whole number of at least {low}, not {value!r}"
        if (self.autoscale_max is None) != (self.autoscale_min is None):
            errors["autoscale"] = "give both the most and the fewest processes, or neither"
        elif (
            self.autoscale_max is not None
            and self.autoscale_min is not None
            and self.autoscale_min > self.autoscale_max
        ):
            errors["autoscale"] = "the fewest processes cannot exceed the most"
        if self.pool not in POOLS:
            errors["pool"] = f"'{self.pool}' is not one of {', '.join(POOLS)}"
        elif self.pool == "solo" and (self.concurrency or 1) > 1:
            errors["concurrency"] = "the solo pool runs one task at a time: use 1 or prefork"
        if self.pool != "prefork" and self.autoscale_max is not None:
            errors["autoscale"] = "autoscale needs the prefork pool"
        if self.pool != "prefork" and self.max_tasks_per_child is not None:
            errors["max_tasks_per_child"] = "only the prefork pool recycles processes"
        if self.loglevel.upper() not in LOG_LEVELS:
            errors["loglevel"] = f"'{self.loglevel}' is not one of {', '.join(LOG_LEVELS)}"
        return errors

    def worker_args(self) -> list[str]:
        """The `celery worker` options; the broker is not among them (it travels in env)."""
        args = ["worker", "-n", f"{self.name}@%h", "-Q", ",".join(self.queues)]
        args += ["-l", self.loglevel.upper(), "-E", "-P", self.pool]
        if self.concurrency is not None:
            args += ["-c", str(self.concurrency)]
        if self.prefetch_multiplier is not None:
            args += ["--prefetch-multiplier", str(self.prefetch_multiplier)]
        if self.autoscale_max is not None:
            args += ["--autoscale", f"{self.autoscale_max},{self.autoscale_min or 0}"]
        if self.max_tasks_per_child is not None:
            args += ["--max-tasks-per-child", str(self.max_tasks_per_child)]
        if self.fair:
            args += ["-O", "fair"]
        return args

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def free_name(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3` … : the first name not in `taken`."""
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, 10_000) if f"{base}-{n}" not in taken)


def suggested_name(queues: list[str], taken: set[str]) -> str:
    """A worker's name said by the queues it consumes (`queue1`, `queue1-queue2`), with what a
    node name cannot hold left out, and free among `taken`."""
    base = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "", q) for q in queues).strip("-.") or "worker"
    return free_name(base[:60].rstrip("-."), taken)


def presets(names: list[str]) -> dict[str, list[WorkerSpec]]:
    """The tutorial's set-ups, one click each, for the queues the app has."""
    found: dict[str, list[WorkerSpec]] = {}
    routed = [q for q in ("queue1", "queue2") if q in names]
    if routed:
        found["queue1 + queue2 workers"] = [WorkerSpec(name=q, queues=[q]) for q in routed]
    if "tasks" in names:
        found["priority demo: tasks queue, concurrency 1, prefetch 1, acks_late"] = [
            WorkerSpec(
                name="priority",
                queues=["tasks"],
                concurrency=1,
                prefetch_multiplier=1,
                acks_late=True,
            )
        ]
    if names:
        found["one worker consuming every queue"] = [WorkerSpec(name="all", queues=names)]
    return found
