"""`celery-desk record`: the event stream into the journal without a window, for a headless
recorder whose status lines never show a healthy count while the journal is failing."""

from __future__ import annotations

import time
from typing import Any

import click

from desktop.cli.base import (
    _app_target,
    _fail,
    _merge,
    _warn_password_on_command_line,
    cli,
    selection_options,
)

RECORD_STATUS_EVERY_S = 10.0
# `record` stops (exit 3) when the journal has refused every write this long: past it, what
# the bounded spill dropped is better filled by the next start's gap than held on.
JOURNAL_GIVE_UP_S = 600.0


@cli.command("record")
@selection_options
@click.option("--keep", default=1_000_000, show_default=True, help="Tasks kept in the journal.")
@click.option("--max-age-days", type=float, default=None, help="Drop tasks older than this.")
@click.option(
    "--keep-failures",
    type=click.IntRange(min=1),
    default=None,
    help="Failed tasks kept, apart from --keep (default: the profile's, 100,000).",
)
@click.option(
    "--failures-max-age-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Drop failed tasks older than this (default: the profile's, 30).",
)
@click.option(
    "--alert-command",
    default=None,
    help="Run this command for each alert the profile's rules fire (`celery-desk alerts`), "
    "the alert as JSON on its stdin; split like a shell would, never run through one.",
)
@click.option(
    "--history",
    default=None,
    metavar="URL",
    help="Where to record: 'sqlite' (the profile's journal beside the panel) or a shared "
    "PostgreSQL database, postgresql://user@host:port/db (its password from the profile, "
    "`profile add --history`). Default: the profile's history.",
)
@click.pass_context
def record(
    ctx: click.Context,
    /,
    keep: int,
    max_age_days: float | None,
    keep_failures: int | None,
    failures_max_age_days: float | None,
    alert_command: str | None,
    history: str | None,
    **kwargs: Any,
) -> None:
    """Record the event stream into the journal without a window, until SIGINT/SIGTERM.
    The profile's alert rules are checked as it records: each alert is said on stderr (and
    given to --alert-command)."""
    import signal
    import threading

    from desktop.cli.alerts import AlertCommand, say_alert, watch_alerts
    from desktop.core.history.pg_schema import HistorySchemaTooNew
    from desktop.core.monitor.alert_log import AlertLog, log_path
    from desktop.core.monitor.alert_rules import load_rules, rules_path
    from desktop.core.monitor.alerts import AlertEngine
    from desktop.core.monitor.journal_schema import JournalUnwritable
    from desktop.core.monitor.pipeline import Monitor
    from desktop.core.settings import urls

    if history is not None and history != urls.HISTORY_SQLITE:
        if not urls.is_shared_history(history):
            _fail(f"--history must be 'sqlite' or postgresql://user@host:port/db, not "
                  f"'{urls.mask(history)}'", 2)  # fmt: skip
        if urls.password_of(history) is not None:
            _warn_password_on_command_line()

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    loaded = load_rules(rules_path(services.paths, item.name))
    if loaded.problem:
        click.echo(f"warning: {loaded.problem}", err=True)
    try:
        command = AlertCommand(alert_command) if alert_command is not None else None
    except ValueError as exc:
        _fail(f"--alert-command: {exc}", 2)
    engine = None
    if loaded.rules:
        engine = AlertEngine(loaded.rules, alert_log=AlertLog(log_path(services.paths, item.name)))
        engine.subscribe(say_alert)
        if command is not None:
            engine.subscribe(command)
    elif command is not None:
        click.echo("note: --alert-command given, but the profile has no alert rule "
                   "(`celery-desk alerts add`)", err=True)  # fmt: skip
    try:
        journal = services.open_history(item, history)
    except HistorySchemaTooNew as exc:
        _fail(str(exc), 2)
    except JournalUnwritable as exc:
        _fail(f"{exc}\nnothing was written to it; `record` needs a journal it can write", 2)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())

    def status(state: str, message: str) -> None:
        click.echo(f"{state}: {message}", err=True)

    def journal_status(state: str, message: str) -> None:
        click.echo(f"journal {state}: {message}", err=True)

    monitor = Monitor(
        endpoints.broker_url,
        endpoints.result_backend,
        journal,
        config=config,
        on_status=status,
        on_journal=journal_status,
        on_diff=engine.feed_diff if engine is not None else None,
        retention_tasks=keep,
        retention_age_s=max_age_days * 86400 if max_age_days else None,
        failure_retention_tasks=keep_failures or item.failure_retention_tasks,
        failure_retention_age_s=(failures_max_age_days or item.failure_retention_days) * 86400.0,
    )
    click.echo(f"recording profile '{item.name}' into {journal.path}", err=True)
    if missing := getattr(journal, "text_index_missing", None):  # a shared history's
        click.echo(f"warning: {missing}; a free word is searched by reading every task "
                   "(see the log)", err=True)  # fmt: skip
    monitor.start()
    watcher = None
    if engine is not None:
        click.echo(f"checking {len(engine.rules)} alert rule(s)", err=True)
        watcher = threading.Thread(
            target=watch_alerts,
            args=(engine, done, endpoints, config, journal, item),
            name="alerts",
            daemon=True,
        )
        watcher.start()
    gave_up = False
    next_status = time.monotonic() + RECORD_STATUS_EVERY_S
    try:
        while not done.wait(1.0):
            failing_since = monitor.journal_failing_since
            if monitor.journal_damaged or (
                failing_since is not None and time.time() - failing_since > JOURNAL_GIVE_UP_S
            ):
                gave_up = True
                break
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + RECORD_STATUS_EVERY_S
                click.echo(_record_status(monitor), err=True)
    finally:
        done.set()  # the alerts loop stops with the recording
        if watcher is not None:
            watcher.join(5.0)
        if command is not None:
            command.stop()
        stopped = monitor.stop()
        journal.close()
    click.echo(
        f"stopped: {monitor.stream.stats.received} events recorded"
        + ("" if stopped else " (event threads did not stop in time)"),
        err=True,
    )
    if gave_up and monitor.journal_damaged:
        _fail(
            f"the journal {journal.path} is damaged ({monitor.journal_error}); stopped without "
            "writing to it. Move it aside (keep it to inspect) and run `record` again",
            2,
        )
    if gave_up:
        _fail(
            f"the journal {journal.path} refused every write for {JOURNAL_GIVE_UP_S:.0f} s "
            f"({monitor.journal_error}); stopped. The next `record` fills the gap from the "
            "result backend",
            3,
        )


def _record_status(monitor: Any) -> str:
    """One status line of `record`: never a healthy count while the journal is failing."""
    stats = monitor.stream.stats
    skipped = f", skipped {monitor.skipped}" if monitor.skipped else ""
    if monitor.journal_failing_since is not None:
        spilled = len(monitor.spill)
        lost = f", {monitor.spill.lost} dropped (filled from the backend later)"
        return (
            f"events {stats.received}{skipped}; JOURNAL FAILING for "
            f"{time.time() - monitor.journal_failing_since:.0f} s: {monitor.journal_error}; "
            f"{spilled} kept in memory" + (lost if monitor.spill.lost else "")
        )
    try:
        count = str(monitor.journal.count())
    except Exception as exc:
        count = f"not readable ({exc})"
    return f"events {stats.received}{skipped}, tasks in journal {count}"
