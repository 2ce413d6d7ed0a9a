"""`celery-desk retry`: failed tasks sent again as the app would, each new task linked in the
journal to the one it retries (desktop/core/broker/retrying.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from desktop.cli.audit import audit_cli_action
from desktop.cli.base import _app_target, _fail, _merge, cli, selection_options
from desktop.core.settings import urls


@cli.command("retry")
@selection_options
@click.argument("task_ids", nargs=-1)
@click.option(
    "--query",
    "query_text",
    help="Retry what this query finds, e.g. 'state:FAILURE name:proj.* after:-1h'.",
)
@click.option(
    "--failure-group",
    "fingerprint",
    help="Retry the failures of this cause (a fingerprint `celery-desk failures` prints).",
)
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="With --query: at most this many tasks, newest first.",
)
@click.option(
    "--edit-args",
    "edit_json",
    help="New arguments instead of the stored ones: a JSON list (the args) or "
    '{"args": [...], "kwargs": {...}}.',
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the new ids as JSON.")
@click.option(
    "--step-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds the broker may leave one message unanswered; then say so and exit 1.",
)
@click.pass_context
def retry(
    ctx: click.Context,
    /,
    task_ids: tuple[str, ...],
    query_text: str | None,
    fingerprint: str | None,
    limit: int,
    edit_json: str | None,
    dry_run: bool,
    as_json: bool,
    step_timeout: float,
    **kwargs: Any,
) -> None:
    """Send tasks again (by id, or what --query finds) with the same name, arguments, queue
    and priority; prints each new id beside the one it retries.

    Exit status: 0 all sent; 1 some were refused (arguments that cannot be read back, a task
    not in the journal) or the broker failed part way (what went out before stays sent and
    journaled); 2 nothing to send or a bad option; 3 sent, but the journal could not record
    some of them (do not send again)."""
    from desktop.core.broker import retrying
    from desktop.core.monitor.failures import failure_groups
    from desktop.core.monitor.journal_schema import JournalUnwritable
    from desktop.core.monitor.search_time import SearchSyntaxError
    from desktop.core.monitor.task_query import TaskQuery
    from desktop.core.monitor.task_search import parse

    if sum(map(bool, (task_ids, query_text, fingerprint))) != 1:
        _fail("give task ids, --query or --failure-group (one of them)", 2)
    edit = None
    if edit_json is not None:
        try:
            edit = retrying.ArgumentEdit.from_json(edit_json)
        except retrying.RetryRefused as exc:
            _fail(f"--edit-args: {exc}", 2)
    try:
        search = parse(query_text) if query_text else None
    except SearchSyntaxError as exc:
        _fail(f"--query: {exc}", 2)
    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    try:
        journal = services.open_journal(item)
    except JournalUnwritable as exc:
        _fail(f"not sent: what is sent could not be journaled: {exc}", 2)
    try:
        missing: list[str] = []
        # Real arguments where the journal keeps them: they go to the broker, never shown.
        if search is not None:
            matched = [r["id"] for r in journal.page(TaskQuery(search=search), 0, limit)]
            found = journal.rows(matched, real=True)
            rows: list[Any] = [found[i] for i in matched if i in found]
        elif fingerprint is not None:
            group = next((g for g in failure_groups(journal) if g.fingerprint == fingerprint), None)
            if group is None:
                _fail(f"no failures of the cause {fingerprint!r} in the journal", 2)
            found = journal.rows(group.ids[:limit], real=True)
            rows = [found[i] for i in group.ids[:limit] if i in found]
        else:
            found = journal.rows(task_ids, real=True)
            rows = [found[i] for i in dict.fromkeys(task_ids) if i in found]
            missing = [i for i in dict.fromkeys(task_ids) if i not in found]
        planned, refused = retrying.plan(rows, edit, config.routing())
        refused += [retrying.Refused(i, "not in the journal") for i in missing]
        for problem in refused:
            click.echo(f"refused: {problem.task_id}: {problem.reason}", err=True)
        if not planned:
            _fail("nothing to send" + ("" if refused else ": no task matched"), 2)
        if dry_run:
            _print(as_json, [(p.retry_of, None, p.name) for p in planned], refused, dry_run)
            sys.exit(1 if refused else 0)
        outcome = _send(journal, planned, config, endpoints, step_timeout)
        audit_cli_action(
            services, item, "retry", f"{len(planned)} task(s)",
            {"retry_of": [p.retry_of for p in planned[:100]], "tasks": len(planned)},
            outcome="failed" if outcome.failure else "ok", reply=outcome.summary(),
            journal=journal,
        )  # fmt: skip
    finally:
        journal.close()
    _print(as_json, [(r.old_id, r.new_id, r.name) for r in outcome.resent], refused, dry_run)
    if outcome.unrecorded is not None:
        click.echo(
            f"error: the journal did not record them ({outcome.unrecorded}); "
            f"{len(outcome.resent)} task(s) WERE sent: do not send them again",
            err=True,
        )
        sys.exit(3)
    if outcome.failure is not None:
        click.echo(
            f"error: sending failed after {len(outcome.resent)} of {len(planned)}: "
            f"the broker at {urls.mask(endpoints.broker_url)}: {outcome.failure}",
            err=True,
        )
    if refused or outcome.failure is not None:
        sys.exit(1)


def _send(journal: Any, planned: list[Any], config: Any, endpoints: Any, step_s: float) -> Any:
    """Send through one producer, each new task journaled as the broker takes it; a broker
    that stops answering ends the command (exit 1) naming it."""
    from desktop.core.app.panel_app import client_app
    from desktop.core.base.bounds import Watchdog
    from desktop.core.broker import retrying

    app = client_app(config, endpoints)
    guard = Watchdog(step_s)

    def record(taken: list[tuple[retrying.Planned, str]]) -> None:
        journal.record_submitted_many(retrying.submitted(taken))

    try:
        with guard.waiting_on(f"the broker at {urls.mask(endpoints.broker_url)} (sending)"):
            return retrying.resend(app, planned, record, lambda *_: guard.progress())
    finally:
        app.close()


def _print(
    as_json: bool, sent: list[tuple[str, str | None, str]], refused: list[Any], dry_run: bool
) -> None:
    if as_json:
        document = {
            "dry_run": dry_run,
            "sent": [{"id": new, "retry_of": old, "name": name} for old, new, name in sent],
            "refused": [{"id": r.task_id, "reason": r.reason} for r in refused],
        }
        click.echo(json.dumps(document, indent=2))
        return
    for old, new, name in sent:
        click.echo(f"{new or '(dry run)':<36}  retries {old}  {name}")
