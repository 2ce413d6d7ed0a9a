"""`celery-desk beat`: the app's periodic tasks, from every scheduler that keeps them (the app's
`beat_schedule`, django-celery-beat, RedBeat), and one of them sent now as beat would
(desktop/core/beat)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.audit import audit_cli_action
from desktop.cli.base import _app_target, _connect_target, _fail, _merge, cli, selection_options
from desktop.core.settings import urls

if TYPE_CHECKING:
    from desktop.core.beat.entries import BeatReport
    from desktop.core.settings.profile_model import Endpoints, Profile

_PROBE_HELP = "Seconds the app's import and the schedulers' reads may take."


@cli.group()
def beat() -> None:
    """Periodic tasks (celery beat): list them, run one now."""


def _report(item: Profile, endpoints: Endpoints, timeout: float) -> BeatReport:
    """The app's periodic tasks; an app that cannot be imported ends the command."""
    from desktop.core.app.config import AppConfigError
    from desktop.core.beat.reading import read_beat

    try:
        return read_beat(item, endpoints, timeout)
    except AppConfigError as exc:
        _fail(f"{exc}: its periodic tasks cannot be read")


def _missed(services: Any, item: Profile, report: BeatReport) -> dict[str, int | None]:
    """Each entry's missed runs as the profile's journal heard its sends (read-only: a
    recorder may be writing it), judged up to its last write; none without a journal."""
    from desktop.core.base.argument_redaction import redactor_for
    from desktop.core.beat.runs import read_runs
    from desktop.core.monitor.journal_reader import JournalReader

    path = services.journal_path(item)
    if not path.exists():
        click.echo("note: no journal yet: missed runs are not known", err=True)
        return {}
    reader = JournalReader(path, redactor=redactor_for(item.redacted_arguments))
    try:
        runs = read_runs(reader, report, listening=False)
    finally:
        reader.close()
    if runs.unwatched:
        click.echo(f"note: {runs.unwatched}", err=True)
    return {name: m.count for name, m in runs.missed.items()}


@beat.command("list")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_list(ctx: click.Context, /, as_json: bool, timeout: float, **kwargs: Any) -> None:
    """Every periodic task of the app: name, task, schedule in words (and its crontab or
    interval), enabled, last run, next run (computed by Celery's own schedule classes in the
    app's timezone), total runs and source (static: the app's beat_schedule; django:
    django-celery-beat; redbeat: RedBeat) and missed runs: due runs the profile's journal
    never heard beat send, while it was listening (null when not known).

    --json prints a list of objects with `name`, `task`, `schedule`, `schedule_kind`,
    `schedule_text`, `enabled`, `last_run`, `next_run`, `total_runs`, `missed`, `source`,
    `state`, `error`, `in_code`, `args`, `kwargs`, `options` and the source's own fields.
    Exit status: 0 read; 1 the app or one of its schedulers could not be read (what could is
    printed)."""
    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints = _connect_target(selection, services)
    report = _report(item, endpoints, timeout)
    for level, line in report.notes():
        click.echo(f"{level}: {line}", err=True)
    missed = _missed(services, item, report)
    if as_json:
        click.echo(json.dumps([e.to_json(missed.get(e.name)) for e in report.entries], indent=2))
    else:
        click.echo(f"{'NAME':<24} {'SOURCE':<8} {'ON':<3} {'NEXT RUN':<32} {'LAST RUN':<32} "
                   f"{'RUNS':>5} {'MISSED':>6}  SCHEDULE / TASK")  # fmt: skip
        if not report.entries:
            click.echo("(no periodic tasks)")
        for e in report.entries:
            runs = "-" if e.total_runs is None else str(e.total_runs)
            count = missed.get(e.name)
            miss = "-" if count is None else str(count)
            schedule = f"{e.words} [{e.schedule_text}]" if e.words != e.schedule_text else e.words
            problem = f"  ({e.error or e.state})" if e.error or e.state else ""
            click.echo(
                f"{e.name:<24} {e.source:<8} {'yes' if e.enabled else 'no':<3} "
                f"{e.next_run or '-':<32} {e.last_run or '-':<32} {runs:>5} {miss:>6}  {schedule}  "
                f"{e.task}{problem}"
            )
    if any(state.error for state in report.sources.values()):
        sys.exit(1)


@beat.command("run")
@selection_options
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the sent task as JSON.")
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.option(
    "--step-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds the broker may leave the message unanswered; then say so and exit 1.",
)
@click.pass_context
def beat_run(
    ctx: click.Context, /, name: str, as_json: bool, timeout: float, step_timeout: float,
    **kwargs: Any,
) -> None:  # fmt: skip
    """Send the periodic task NAME now, as beat would: the same task, arguments and options
    (queue, priority, exchange, routing key, expires, headers), routed as the app routes it.
    Its schedule is not touched (beat's last run and count stay as they are). The sent task
    is journaled with its queue and priority, and the action kept in the audit log.

    Exit status: 0 sent; 1 the broker or the app could not be reached; 2 no such task, or one
    the panel cannot send exactly as beat would (arguments that are not JSON); 3 sent, but
    the journal could not record it (do not send it again)."""
    from desktop.core.app.panel_app import client_app
    from desktop.core.base.bounds import Watchdog
    from desktop.core.beat.sending import (
        AUDIT_ACTION,
        NotSendable,
        audit_params,
        journal_recorder,
        send_entry,
    )
    from desktop.core.monitor.journal_schema import JournalUnwritable

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    report = _report(item, endpoints, timeout)
    entry = report.find(name)
    if entry is None:
        known = ", ".join(e.name for e in report.entries) or "none"
        _fail(f"no periodic task named {name!r} (the app's: {known})", 2)
    if not entry.sendable:
        _fail(f"{name} is not sent: {entry.why_not_sendable()}", 2)
    try:
        journal = services.open_journal(item)
    except JournalUnwritable as exc:
        _fail(f"not sent: what is sent could not be journaled: {exc}", 2)
    app = client_app(config, endpoints)
    guard = Watchdog(step_timeout)
    try:
        try:
            with guard.waiting_on(f"the broker at {urls.mask(endpoints.broker_url)} (sending)"):
                sent, unrecorded = send_entry(app, entry, journal_recorder(journal, entry))
        except NotSendable as exc:
            _fail(f"{name} is not sent: {exc}", 2)
        except Exception as exc:
            audit_cli_action(services, item, AUDIT_ACTION, name, audit_params(entry),
                             outcome="failed", reply=str(exc), journal=journal)  # fmt: skip
            _fail(f"sending failed: the broker at {urls.mask(endpoints.broker_url)}: {exc}")
        audit_cli_action(services, item, AUDIT_ACTION, name, audit_params(entry, sent),
                         reply=sent.id, journal=journal)  # fmt: skip
    finally:
        journal.close()
        app.close()
    if as_json:
        document = {"id": sent.id, "name": name, "task": entry.task, "source": entry.source,
                    "queue": sent.queue, "priority": sent.priority}  # fmt: skip
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"sent {name} ({entry.task}) as {sent.id} to {sent.queue or 'its queue'}")
    if unrecorded is not None:
        click.echo(
            f"error: the journal did not record it ({unrecorded}); it WAS sent: do not send "
            "it again",
            err=True,
        )
        sys.exit(3)
