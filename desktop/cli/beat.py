"""`celery-desk beat`: the app's periodic tasks, from every scheduler that keeps them (the app's
`beat_schedule`, django-celery-beat, RedBeat), one of them sent now as beat would
(desktop/core/beat), and the profile's local `celery beat` started and stopped like a local
worker (desktop/core/local/local_beat)."""

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
    """Periodic tasks (celery beat): list them, run one now, enable, disable, edit or delete
    one kept by django-celery-beat or RedBeat, start or stop a local beat."""


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


# -- changing them ----------------------------------------------------------------------------
_DONE = {"enable": "enabled", "disable": "disabled", "edit": "changed", "delete": "deleted"}


def _json_option(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(f"{option}: not JSON ({exc}): {text!r}", 2)


def _change(
    ctx: click.Context, selected: dict[str, Any], name: str, action: str, as_json: bool,
    timeout: float, **fields: Any,
) -> None:  # fmt: skip
    """Read the app's periodic tasks, change NAME with its scheduler's own API (in the app's
    child), keep the action in the audit log and say what it is now."""
    from desktop.core.beat.writing import (
        BeatChange,
        BeatWriteError,
        audit_params,
        change_beat,
        write_note,
        write_reason,
    )

    selection = _merge(ctx, selected)
    services = selection.services()
    item, endpoints = _connect_target(selection, services)
    report = _report(item, endpoints, timeout)
    entry = report.find(name)
    if entry is None:
        known = ", ".join(e.name for e in report.entries) or "none"
        _fail(f"no periodic task named {name!r} (the app's: {known})", 2)
    reason = write_reason(entry)
    if reason:
        _fail(f"{name} cannot be {_DONE[action]} here: it {reason}", 2)
    note = write_note(entry, action)
    if note:
        click.echo(f"note: {note}", err=True)
    change = BeatChange(name, entry.source, action, **fields)
    params = audit_params(change, item.redacted_arguments)
    try:
        after = change_beat(item, endpoints, change, timeout)
    except BeatWriteError as exc:
        if not exc.refused:
            audit_cli_action(services, item, f"beat {action}", name, params, outcome="failed",
                             reply=str(exc))  # fmt: skip
        _fail(str(exc), 2 if exc.refused else 1)
    audit_cli_action(services, item, f"beat {action}", name, params,
                     reply=_DONE[action])  # fmt: skip
    if as_json:
        click.echo(json.dumps({**after.to_json(), "done": _DONE[action]}, indent=2))
        return
    said = f"{_DONE[action]} {name} ({entry.source})"
    if action != "delete":
        said += f": {'enabled' if after.enabled else 'disabled'}, {after.words}"
        said += f", next run {after.next_run or '-'}"
    click.echo(said)


_WRITE_JSON = "Print the entry as it is now (as it was, for delete) as JSON."
_WRITE_EXIT = """Exit status: 0 done; 1 the app or its scheduler failed or did not answer (said);
    2 refused, nothing changed: no such task, one in the app's code (beat_schedule), or a
    change its scheduler cannot take."""


@beat.command("enable")
@selection_options
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=_WRITE_JSON)
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_enable(ctx: click.Context, /, name: str, as_json: bool, timeout: float,
                **kwargs: Any) -> None:  # fmt: skip
    """Enable the periodic task NAME in its scheduler (django-celery-beat or RedBeat): a running
    beat sends it again from its next tick. Kept in the audit log.

    {exit}"""
    _change(ctx, kwargs, name, "enable", as_json, timeout)


@beat.command("disable")
@selection_options
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=_WRITE_JSON)
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_disable(ctx: click.Context, /, name: str, as_json: bool, timeout: float,
                 **kwargs: Any) -> None:  # fmt: skip
    """Disable the periodic task NAME in its scheduler (django-celery-beat or RedBeat): a
    running beat stops sending it from its next tick. Kept in the audit log.

    {exit}"""
    _change(ctx, kwargs, name, "disable", as_json, timeout)


@beat.command("edit")
@selection_options
@click.argument("name")
@click.option("--every", type=float, help="Run every SECONDS (an interval schedule).")
@click.option("--crontab", "cron", metavar="'M H DOM MON DOW'",
              help="Run at these times, cron's five fields (a crontab schedule).")  # fmt: skip
@click.option("--args", "args_json", metavar="JSON", help="Its arguments, a JSON list.")
@click.option("--kwargs", "kwargs_json", metavar="JSON", help="Its keyword arguments, a JSON "
              "object.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help=_WRITE_JSON)
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_edit(
    ctx: click.Context, /, name: str, every: float | None, cron: str | None,
    args_json: str | None, kwargs_json: str | None, as_json: bool, timeout: float,
    **kwargs: Any,
) -> None:  # fmt: skip
    """Change the schedule or the arguments of the periodic task NAME in its scheduler
    (django-celery-beat through its models, RedBeat through its own entry): a running beat
    follows the new schedule from its next tick, counted from the task's last run. What is
    not given stays as it is. Kept in the audit log.

    {exit}"""
    from desktop.core.beat.writing import BeatWriteError, crontab_schedule, interval_schedule

    if every is not None and cron is not None:
        _fail("give --every or --crontab, not both", 2)
    schedule = None
    try:
        if cron is not None:
            schedule = crontab_schedule(cron)
    except BeatWriteError as exc:
        _fail(f"--crontab: {exc}", 2)
    if every is not None:
        schedule = interval_schedule(every)
    args, kw = _json_option(args_json, "--args"), _json_option(kwargs_json, "--kwargs")
    if schedule is None and args is None and kw is None:
        _fail("nothing to change: give --every, --crontab, --args or --kwargs", 2)
    _change(ctx, kwargs, name, "edit", as_json, timeout, schedule=schedule, args=args, kwargs=kw)


@beat.command("delete")
@selection_options
@click.argument("name")
@click.option("--yes", is_flag=True, help="Really delete it (required: there is no undo).")
@click.option("--json", "as_json", is_flag=True, help=_WRITE_JSON)
@click.option("--timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_delete(ctx: click.Context, /, name: str, yes: bool, as_json: bool, timeout: float,
                **kwargs: Any) -> None:  # fmt: skip
    """Delete the periodic task NAME from its scheduler (django-celery-beat or RedBeat); a
    running beat stops sending it from its next tick. Needs --yes. Kept in the audit log.

    {exit}"""
    if not yes:
        _fail(f"deleting {name} cannot be undone: add --yes to delete it", 2)
    _change(ctx, kwargs, name, "delete", as_json, timeout)


for _command in (beat_enable, beat_disable, beat_edit, beat_delete):
    _command.help = (_command.help or "").replace("{exit}", _WRITE_EXIT)


@beat.command("start")
@selection_options
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option(
    "--auto-restart/--no-auto-restart", default=True, show_default=True,
    help="Restart it after a crash, with backoff.",
)  # fmt: skip
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Wait for it.")
@click.option("--probe-timeout", type=float, default=20.0, show_default=True, help=_PROBE_HELP)
@click.pass_context
def beat_start(
    ctx: click.Context, /, loglevel: str, auto_restart: bool, timeout: float,
    probe_timeout: float, **kwargs: Any,
) -> None:  # fmt: skip
    """Start `celery -A APP beat` for the profile, kept by the panel's keeper like a local
    worker (it keeps running after this command; its log is kept; one per profile), and return
    once it runs. The scheduler is the app's own beat_scheduler setting.

    Refused when a second beat would not be safe: one already runs for this profile here;
    RedBeat's lock is held (another RedBeat beat runs); or, for Celery's own schedulers and
    django-celery-beat, which keep no lock, a beat answers pings on the broker (a beat with
    remote control, Celery 5.7). Exit status: 0 running; 1 it failed to start; 2 refused."""
    from desktop.cli.worker import _ping_app, _supervisor_target
    from desktop.core.beat.local_start import start_local_beat
    from desktop.core.local.local_beat import BEAT, BeatRefused, BeatSupervisor, beat_state_text
    from desktop.core.local.worker_spec import WorkerError

    workers, item, endpoints, config = _supervisor_target(ctx, kwargs, need_broker=True)
    assert endpoints is not None and config is not None
    services = _merge(ctx, kwargs).services()
    supervisor = BeatSupervisor(workers.directory, item)
    report = _report(item, endpoints, probe_timeout)
    app = _ping_app(endpoints, config)
    params = {"scheduler": report.scheduler, "loglevel": loglevel, "auto_restart": auto_restart}
    try:
        start_local_beat(supervisor, endpoints, config, report, app, loglevel=loglevel,
                         auto_restart=auto_restart)  # fmt: skip
        started = supervisor.wait_online(BEAT, app, timeout)
    except BeatRefused as exc:
        audit_cli_action(services, item, "beat start", BEAT, params, outcome="failed",
                         reply=str(exc))  # fmt: skip
        _fail(f"not started: {exc}", 2)
    except WorkerError as exc:
        audit_cli_action(services, item, "beat start", BEAT, params, outcome="failed",
                         reply=str(exc))  # fmt: skip
        _fail(str(exc))
    finally:
        app.close()
    audit_cli_action(services, item, "beat start", BEAT, params,
                     reply={"state": started.state, "pid": started.pid})  # fmt: skip
    click.echo(f"local beat: {beat_state_text(started)}")
    click.echo(
        f"note: {report.scheduler_said().split(';')[0]}; log {started.log_path}; stop with "
        "`celery-desk beat stop`",
        err=True,
    )


@beat.command("stop")
@selection_options
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Wait this long.")
@click.option("--kill", "kill_after", is_flag=True, help="SIGKILL it if still running then.")
@click.pass_context
def beat_stop(ctx: click.Context, /, timeout: float, kill_after: bool, **kwargs: Any) -> None:
    """Stop the profile's local beat (beat saves its schedule and exits), then print how it
    ended. Exit status: 0 stopped; 1 none runs, or it still runs after --timeout."""
    from desktop.cli.worker import _supervisor_target
    from desktop.core.local.local_beat import BEAT, BeatSupervisor
    from desktop.core.local.local_worker import describe_exit
    from desktop.core.local.worker_spec import WorkerError

    workers, item, _endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    services = _merge(ctx, kwargs).services()
    supervisor = BeatSupervisor(workers.directory, item)
    current = supervisor.beat()
    if current is None or not current.running:
        _fail(f"no local beat runs for profile '{item.name}'")
    try:
        supervisor.stop(BEAT)
    except WorkerError as exc:
        _fail(str(exc))
    done = supervisor.wait_stopped(BEAT, timeout)
    if done.running and kill_after:
        supervisor.kill(BEAT)
        done = supervisor.wait_stopped(BEAT, 10.0)
    action = "beat kill" if kill_after and done.exit_code == -9 else "beat stop"
    audit_cli_action(services, item, action, BEAT, {"timeout_s": timeout},
                     reply={"state": done.state, "exit": done.exit_code})  # fmt: skip
    if done.running:
        _fail(f"beat: still {done.state} after {timeout:.0f} s; kill it with "
              "`celery-desk beat stop --kill`")  # fmt: skip
    click.echo(f"local beat: {done.state} ({describe_exit(done.exit_code)})")
