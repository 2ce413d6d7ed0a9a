"""`celery-desk why TASK_ID`: why a task has not run, in words, with the fix
(desktop/core/diagnosis)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from desktop.cli.base import (
    _app_target,
    _fail,
    _merge,
    _step_timeout_option,
    cli,
    selection_options,
)
from desktop.core.settings import urls


@cli.command("why")
@selection_options
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@_step_timeout_option
@click.pass_context
def why(ctx: click.Context, /, task_id: str, as_json: bool, timeout: float, **kwargs: Any) -> None:
    """Why has this task not run? Where it is now, then each check (ok / problem / unknown)
    with its evidence and, under a problem, what to do; the first problem is the cause.

    Exit status: 0 it ran (whatever the verdicts); 1 something did not answer (the journal,
    the result backend, the broker or the workers: their checks say unknown); 2 bad input."""
    from desktop.core.base.bounds import Watchdog
    from desktop.core.diagnosis import diagnose, gather_for

    task_id = task_id.strip()
    if not task_id or any(c.isspace() or not c.isprintable() for c in task_id):
        _fail("give a task id (no spaces or control characters)", 2)
    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    journal = _open_journal(services.journal_path(item), item.redacted_arguments)
    # Each source has its own bound inside gather; this one ends a command stuck past them all.
    guard = Watchdog(timeout * 4 + 10)
    try:
        with guard.waiting_on(f"the broker at {urls.mask(endpoints.broker_url)} (diagnosing)"):
            facts = gather_for(task_id, config, endpoints, journal, timeout)
    finally:
        if journal is not None:
            journal.close()
    found = diagnose(facts)
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
    else:
        click.echo(f"task {task_id}")
        for check in found.checks:
            click.echo(f"  {check.verdict:<8} {check.check:<18} {check.evidence}")
            if check.verdict == "problem" and check.fix:
                click.echo(f"  {'':<8} {'':<18} fix: {check.fix}")
    secrets = [urls.password_of(u) for u in (endpoints.broker_url, endpoints.result_backend)]
    for what in facts.unanswered:
        for secret in filter(None, secrets):
            what = what.replace(secret, "****")  # a client library's error may quote its URL
        click.echo(f"error: {what}", err=True)
    if facts.unanswered:
        sys.exit(1)


def _open_journal(path: Any, hidden: list[str]) -> Any:
    """The profile's journal, read-only (a recorder may be writing it); None when there is
    none yet, which the diagnosis says. One that is not a journal ends the command."""
    from desktop.core.base.argument_redaction import redactor_for
    from desktop.core.monitor.journal_reader import JournalReader

    if not path.exists():
        click.echo(f"note: no journal yet at {path}: the task's history is not known", err=True)
        return None
    return JournalReader(path, redactor=redactor_for(hidden))
