"""Alert rules: what each kind watches, and the per-profile TOML file that holds them
(`alerts/<profile key>.toml` beside profiles.toml).

Stored like the saved views (saved_views.py), for the same reasons: a file of its own, so a
damaged one costs the rules only, never the profile. Reading never fails: no file gives no
rules, a damaged one gives no rules and `problem` saying what is wrong (the recorder prints it,
a window would show it). Writing is atomic (tomlkit), and a file that could not be read is
moved aside (`.damaged`) first, never written over. Qt-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.monitor.search_time import SearchSyntaxError
from desktop.core.monitor.task_search import Search, parse
from desktop.core.settings.config_errors import os_problem
from desktop.core.settings.paths import Paths, profile_key
from desktop.core.settings.table_lists import read_table_list, write_table_list

TASK_FAILURES = "task-failures"  # tasks matching `task` failing more than N in M minutes
FAILURE_RATE = "failure-rate"  # failed / finished over M minutes above P %
QUEUE_LENGTH = "queue-length"  # more than N messages waiting in a queue
QUEUE_LATENCY = "queue-latency"  # a queue's oldest waiting message older than S seconds
WORKER_OFFLINE = "worker-offline"  # a worker offline for more than S seconds
NO_EVENTS = "no-events"  # no event at all for S seconds
BEAT_MISSED = "beat-missed"  # a periodic task missing more than N due runs in a row
KINDS = (TASK_FAILURES, FAILURE_RATE, QUEUE_LENGTH, QUEUE_LATENCY, WORKER_OFFLINE, NO_EVENTS,
         BEAT_MISSED)  # fmt: skip
TASK_KINDS = (TASK_FAILURES, FAILURE_RATE)  # read finished tasks over a window
QUEUE_KINDS = (QUEUE_LENGTH, QUEUE_LATENCY)  # read the queues: the recorder polls them
# What the threshold counts, per kind, for messages and the CLI's help.
UNITS = {
    TASK_FAILURES: "failures", FAILURE_RATE: "%", QUEUE_LENGTH: "waiting",
    QUEUE_LATENCY: "s", WORKER_OFFLINE: "s", NO_EVENTS: "s", BEAT_MISSED: "missed in a row",
}  # fmt: skip
MAX_NAME_CHARS = 64
MAX_WINDOW_MINUTES = 24 * 60  # the finished tasks the engine keeps in memory span this at most
_KEYS = {"name", "kind", "threshold", "minutes", "task", "queue", "worker"}


@dataclass(frozen=True)
class AlertRule:
    """One rule. `threshold` is N (task-failures, queue-length), P in % (failure-rate) or S in
    seconds (queue-latency, worker-offline, no-events); the condition is "above it".
    `minutes` is the window of the task kinds. `task` (task kinds) is a task name, a glob
    (`proj.*`) or a query in the search language (`name:proj.* queue:mail`); empty: every task.
    `queue` (queue kinds) and `worker` (worker-offline) narrow to one queue or one worker
    (`*` globs for workers); empty: each queue / worker alerts on its own."""

    name: str
    kind: str
    threshold: float
    minutes: float = 5.0
    task: str = ""
    queue: str = ""
    worker: str = ""

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"name": self.name, "kind": self.kind}
        table["threshold"] = self.threshold
        if self.kind in TASK_KINDS:
            table["minutes"] = self.minutes
            if self.task:
                table["task"] = self.task
        if self.queue:
            table["queue"] = self.queue
        if self.worker:
            table["worker"] = self.worker
        return table

    def search(self) -> Search:
        """The tasks a task kind counts: a bare name or glob means `name:` that; anything with
        a field or several words is a query. SearchSyntaxError when it is not one."""
        text = self.task.strip()
        if text and ":" not in text and " " not in text:
            text = f"name:{text}"
        return parse(text)

    def describe(self) -> str:
        """The rule in words, for the CLI's list and an alert's message."""
        unit = UNITS[self.kind]
        n = f"{self.threshold:g}"
        tasks = f"tasks matching '{self.task}'" if self.task else "tasks"
        return {
            TASK_FAILURES: f"{tasks} failing more than {n} in {self.minutes:g} min",
            FAILURE_RATE: f"{tasks} failing more than {n} % of finished in {self.minutes:g} min",
            QUEUE_LENGTH: f"more than {n} waiting in {self._queue_words()}",
            QUEUE_LATENCY: f"oldest waiting message older than {n} s in {self._queue_words()}",
            WORKER_OFFLINE: f"{self._worker_words()} offline for more than {n} {unit}",
            NO_EVENTS: f"no event for more than {n} s",
            BEAT_MISSED: f"a periodic task missing more than {n} due runs in a row",
        }[self.kind]

    def _queue_words(self) -> str:
        return f"queue '{self.queue}'" if self.queue else "any queue"

    def _worker_words(self) -> str:
        return f"worker '{self.worker}'" if self.worker else "a worker"


def rule_problem(rule: AlertRule, others: tuple[AlertRule, ...] = ()) -> str | None:
    """What makes `rule` unfit to keep beside `others`, else None."""
    name = rule.name.strip()
    if not name or name != rule.name or len(name) > MAX_NAME_CHARS:
        return f"a rule's name is 1-{MAX_NAME_CHARS} characters without outer spaces"
    if any(o.name == name for o in others):
        return f"there is already a rule named '{name}'"
    if rule.kind not in KINDS:
        return f"rule '{name}': unknown kind '{rule.kind}' (one of {', '.join(KINDS)})"
    if not math.isfinite(rule.threshold) or rule.threshold < 0:
        return f"rule '{name}': the threshold must be a number of 0 or more"
    if rule.kind == FAILURE_RATE and rule.threshold >= 100:
        return f"rule '{name}': a failure rate above 100 % never happens"
    if rule.kind in TASK_KINDS:
        if not (0 < rule.minutes <= MAX_WINDOW_MINUTES):
            return f"rule '{name}': minutes must be above 0 and at most {MAX_WINDOW_MINUTES}"
        try:
            rule.search()
        except SearchSyntaxError as exc:
            return f"rule '{name}': task '{rule.task}' is not a query: {exc}"
    return None


@dataclass(frozen=True)
class RulesLoaded:
    """The rules to evaluate, and why there are none when the file could not be read."""

    rules: tuple[AlertRule, ...]
    problem: str | None = None
    path: Path | None = None


def rules_path(paths: Paths, profile_name: str) -> Path:
    """One file per profile, named like its journal (`profile_key`)."""
    return paths.config_dir / "alerts" / f"{profile_key(profile_name)}.toml"


def _number(table: dict[str, Any], key: str, where: str, default: float | None) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: '{key}' must be a number")
    return float(value)


def _rule_of(table: Any, index: int) -> AlertRule:
    """A [[rules]] table as an AlertRule; ValueError names the rule and the field."""
    where = f"rule {index + 1}"
    if not isinstance(table, dict):
        raise ValueError(f"{where} is not a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown setting(s): {', '.join(sorted(unknown))}")
    texts: dict[str, str] = {}
    for key, default in (("name", None), ("kind", None), ("task", ""), ("queue", ""),
                         ("worker", "")):  # fmt: skip
        value = table.get(key, default)
        if not isinstance(value, str):
            raise ValueError(f"{where}: '{key}' must be text")
        texts[key] = value
    return AlertRule(
        texts["name"], texts["kind"], _number(table, "threshold", where, None),
        _number(table, "minutes", where, 5.0), texts["task"], texts["queue"], texts["worker"],
    )  # fmt: skip


def read_rules(path: Path) -> tuple[AlertRule, ...] | None:
    """The rules the file holds; None when there is no file. ValueError says what is wrong
    with a file that cannot be read as rules (OSError: the file system's reason)."""
    tables = read_table_list(path, "rules")
    if tables is None:
        return None
    rules: list[AlertRule] = []
    for index, table in enumerate(tables):
        rule = _rule_of(table, index)
        problem = rule_problem(rule, tuple(rules))
        if problem:
            raise ValueError(problem)
        rules.append(rule)
    return tuple(rules)


def load_rules(path: Path) -> RulesLoaded:
    """The file's rules, none when there is no file, and none with the problem when it cannot
    be read: never an exception."""
    try:
        rules = read_rules(path)
    except ValueError as exc:
        return RulesLoaded((), f"{path} {exc}; no alert rule is checked", path)
    except OSError as exc:
        return RulesLoaded((), f"{path}: {os_problem(exc, 'read it')}; no alert rule is checked")
    return RulesLoaded(rules or (), None, path)


def save_rules(path: Path, rules: tuple[AlertRule, ...]) -> Path | None:
    """Write the rules atomically (tomlkit). A file there that cannot be read as rules is moved
    aside to `<name>.damaged` first, never written over; its new path is returned. ValueError
    when a rule is unfit (`rule_problem`); ConfigFileError when the disk refuses."""
    for index, rule in enumerate(rules):
        problem = rule_problem(rule, rules[:index])
        if problem:
            raise ValueError(problem)
    tables = [each.to_table() for each in rules]
    return write_table_list(
        path,
        "rules",
        tables,
        "Alert rules (Celery Desk), one per table; kinds: " + ", ".join(KINDS),
        read_rules,
    )
