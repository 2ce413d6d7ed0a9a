"""`celery-desk alerts list|add|remove|log`: the profile's alert rules (alert_rules.py) from the
command line; and what `record` needs to check them headless: a queue poll of its own and
`--alert-command`, run with each alert as JSON on stdin, never through a shell."""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.base import _fail, _profile_or_exit, cli, selection_options
from desktop.core.monitor.alert_rules import KINDS, UNITS, AlertRule

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig
    from desktop.core.monitor.alerts import Alert, AlertEngine
    from desktop.core.monitor.journal_writer import JournalWriter
    from desktop.core.settings.profile_model import Endpoints, Profile

ALERT_TICK_S = 0.5  # how often `record` evaluates the rules
QUEUE_POLL_S = 1.0  # how often it reads the queues, only when a rule watches them
BEAT_POLL_S = 2.0  # how often it reads missed runs, only when a rule watches them
ALERT_COMMAND_TIMEOUT_S = 30.0
ALERT_COMMANDS_QUEUED = 100  # alerts waiting for the command; past it, dropped and said


@cli.group("alerts")
def alerts_group() -> None:
    """Alert rules of a profile (alerts/<profile>.toml beside profiles.toml)."""


def _rules_file(ctx: click.Context, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from desktop.cli.base import _merge
    from desktop.core.monitor.alert_rules import rules_path

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item = _profile_or_exit(selection, services)
    return item, rules_path(services.paths, item.name)


@alerts_group.command("list")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def alerts_list(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """The rules, one a line."""
    from desktop.core.monitor.alert_rules import load_rules

    _item, path = _rules_file(ctx, kwargs)
    loaded = load_rules(path)
    if loaded.problem:
        click.echo(f"warning: {loaded.problem}", err=True)
    if as_json:
        click.echo(json.dumps([rule.to_table() for rule in loaded.rules], indent=2))
        return
    if not loaded.rules:
        click.echo(f"no alert rule ({path})", err=True)
    for rule in loaded.rules:
        click.echo(f"{rule.name}: {rule.kind}: {rule.describe()}")


@alerts_group.command("add")
@selection_options
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option(
    "--threshold",
    type=float,
    required=True,
    help="Above it, the rule fires: " + ", ".join(f"{k} {u}" for k, u in UNITS.items()) + ".",
)
@click.option("--minutes", type=float, default=5.0, show_default=True,
              help="The window of task-failures and failure-rate.")  # fmt: skip
@click.option("--task", default="", help="A task name, a glob (proj.*) or a search query.")
@click.option("--queue", "queue_name", default="", help="Only this queue (default: each).")
@click.option("--worker", default="", help="Only this worker; * globs (default: each).")
@click.pass_context
def alerts_add(
    ctx: click.Context,
    /,
    name: str,
    kind: str,
    threshold: float,
    minutes: float,
    task: str,
    queue_name: str,
    worker: str,
    **kwargs: Any,
) -> None:
    """Add a rule, or replace the one of that name."""
    from desktop.core.monitor.alert_rules import read_rules, save_rules
    from desktop.core.settings.config_errors import ConfigFileError

    _item, path = _rules_file(ctx, kwargs)
    rule = AlertRule(name, kind, threshold, minutes, task, queue_name, worker)
    try:
        current = read_rules(path) or ()
    except (ValueError, OSError) as exc:
        click.echo(f"warning: {path} {exc}; it is kept aside as .damaged", err=True)
        current = ()
    rules = (*[r for r in current if r.name != name], rule)
    try:
        aside = save_rules(path, rules)
    except ValueError as exc:
        _fail(str(exc), 2)
    except ConfigFileError as exc:
        _fail(str(exc))
    if aside is not None:
        click.echo(f"the damaged rules file was moved to {aside}", err=True)
    click.echo(f"{name}: {rule.describe()}")


@alerts_group.command("remove")
@selection_options
@click.argument("name")
@click.pass_context
def alerts_remove(ctx: click.Context, /, name: str, **kwargs: Any) -> None:
    """Remove the rule of that name."""
    from desktop.core.monitor.alert_rules import read_rules, save_rules
    from desktop.core.settings.config_errors import ConfigFileError

    _item, path = _rules_file(ctx, kwargs)
    try:
        current = read_rules(path) or ()
    except (ValueError, OSError) as exc:
        _fail(f"{path} {exc}; fix it or remove it (nothing was changed)", 2)
    if not any(r.name == name for r in current):
        _fail(f"no alert rule named '{name}'", 2)
    try:
        save_rules(path, tuple(r for r in current if r.name != name))
    except ConfigFileError as exc:
        _fail(str(exc))
    click.echo(f"removed {name}")


@alerts_group.command("log")
@selection_options
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def alerts_log(ctx: click.Context, /, limit: int, as_json: bool, **kwargs: Any) -> None:
    """The latest alerts `record` (or the window) fired and resolved, oldest first."""
    from datetime import datetime

    from desktop.cli.base import _merge
    from desktop.core.monitor.alert_log import log_path, read_log

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item = _profile_or_exit(selection, services)
    entries = read_log(log_path(services.paths, item.name), limit)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        at = entry.get("at")
        when = (
            datetime.fromtimestamp(at).isoformat(" ", "seconds")
            if isinstance(at, int | float)
            else "?"
        )
        click.echo(f"{when}  {entry.get('state')}  {entry.get('rule')}: {entry.get('message')}")


# -- what `record` runs ----------------------------------------------------------------------
class AlertCommand:
    """Runs CMD (shlex-split, never a shell) with each alert's JSON on stdin, one at a time on
    a thread of its own, so a slow command never delays the rules. Its failure (cannot start,
    non-zero exit, past the timeout: killed) is said on stderr and never stops recording."""

    def __init__(self, command: str, timeout: float = ALERT_COMMAND_TIMEOUT_S) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("--alert-command is empty")
        self.timeout = timeout
        self._waiting: queue.Queue[Alert | None] = queue.Queue(ALERT_COMMANDS_QUEUED)
        self._thread = threading.Thread(target=self._run, name="alert-command", daemon=True)
        self._thread.start()

    def __call__(self, alert: Alert) -> None:
        from desktop.core.monitor.alerts import FIRING

        if alert.state != FIRING:
            return
        try:
            self._waiting.put_nowait(alert)
        except queue.Full:
            click.echo(f"alert command: too many waiting; not run for {alert.rule}", err=True)

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self._waiting.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (alert := self._waiting.get()) is not None:
            problem = self.run_once(alert)
            if problem:
                click.echo(f"alert command {self.argv[0]}: {problem}", err=True)

    def run_once(self, alert: Alert) -> str | None:
        """Run the command for one alert; what went wrong, else None."""
        try:
            done = subprocess.run(  # a list: no shell ever reads it
                self.argv,
                input=json.dumps(alert.to_json()),
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"did not finish in {self.timeout:.0f} s; it was killed"
        except OSError as exc:
            return f"could not be run: {exc}"
        return f"exited with status {done.returncode}" if done.returncode else None


def say_alert(alert: Alert) -> None:
    """An alert on `record`'s stderr, one line."""
    click.echo(f"alert {alert.state.upper()} [{alert.rule}] {alert.message}", err=True)


def watch_alerts(
    engine: AlertEngine,
    done: threading.Event,
    endpoints: Endpoints,
    config: EffectiveConfig,
    journal: JournalWriter,
    profile: Profile | None = None,
) -> None:
    """`record`'s alerts loop, until `done`: the rules every ALERT_TICK_S, and the queues read
    every QUEUE_POLL_S when a rule watches them (queues.snapshot: counts and each queue's
    oldest age, dated by the journal the recorder writes). A poll that fails is said once per
    failure streak, and leaves the queue rules as they were (unknown is no change). With
    `profile`, the periodic tasks' missed runs every BEAT_POLL_S when a rule watches them
    (beat/runs.BeatWatch: the schedules read each minute, the journal this recorder writes)."""
    from desktop.core.beat.reading import read_beat
    from desktop.core.beat.runs import BeatWatch
    from desktop.core.broker import queue_latency, queues

    source = queues.inspector(endpoints.broker_url, config, endpoints.management_url)
    memory = queue_latency.FirstSeen()
    from desktop.core.monitor.journal_reader import JournalReader

    # Missed beat runs are read from the history's rows: the SQLite journal's reader for now
    # (a PostgreSQL history has no reader yet: said once, below).
    reader = journal if isinstance(journal, JournalReader) else None
    beat = None if profile is None else BeatWatch(lambda: read_beat(profile, endpoints))
    if beat is not None and reader is None and engine.watches_beat:
        click.echo("alerts: beat-missed rules are not checked on a PostgreSQL history yet",
                   err=True)  # fmt: skip
    next_poll = next_beat = 0.0
    failing = beat_failing = False
    try:
        while not done.is_set():
            due = time.monotonic() >= next_beat
            if beat is not None and reader is not None and engine.watches_beat and due:
                next_beat = time.monotonic() + BEAT_POLL_S
                try:
                    engine.feed_beat(beat.streaks(reader))
                    beat_failing = False
                except Exception as exc:  # the app not importable now: said once
                    if not beat_failing:
                        click.echo(f"alerts: the periodic tasks were not read: {exc}", err=True)
                    beat_failing = True
            if engine.watches_queues and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + QUEUE_POLL_S
                names = engine.queues_watched(config.queue_names())
                try:
                    taken = queues.snapshot(source, names, None, 0, False, journal, memory)
                    engine.feed_queues(taken.counts, taken.oldest)
                    failing = False
                except Exception as exc:  # a broker away: said once, retried next poll
                    if not failing:
                        click.echo(f"alerts: the queues were not read: {exc}", err=True)
                    failing = True
            engine.tick()
            done.wait(ALERT_TICK_S)
    finally:
        source.close()
