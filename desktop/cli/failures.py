"""`celery-desk failures`: the journal's failures grouped by cause (desktop/core/monitor/
failures.py), the most frequent first, read-only like `tasks`."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.base import _fail, cli, selection_options
from desktop.cli.tasks import _read_journal

if TYPE_CHECKING:
    from desktop.core.monitor.failures import FailureGroup

# The states a failure is read from; FAILURE alone unless --state names others.
_STATE_CHOICES = ("FAILURE", "RETRY", "REVOKED")


@cli.command("failures")
@selection_options
@click.option(
    "--since",
    help="Only failures at or after this time: 1h, 30m, 2d, 45s (ago), 2026-11-29, "
    "2026-11-29T10:00, today, yesterday.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(_STATE_CHOICES, case_sensitive=False),
    help="A state read as a failure (repeatable); FAILURE when none is given.",
)
@click.option(
    "--query",
    "query_text",
    help="Only the failures this query finds, e.g. 'name:proj.* queue:emails'.",
)
@click.option(
    "--all",
    "with_resolved",
    is_flag=True,
    help="Also the causes marked resolved on the Failures screen that have not failed since.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def failures(
    ctx: click.Context,
    /,
    since: str | None,
    states: tuple[str, ...],
    query_text: str | None,
    with_resolved: bool,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Failures grouped by cause: the exception with its numbers, ids, paths and addresses
    left out, most frequent first. Causes marked resolved are left out (said on stderr) until
    they fail again, unless --all."""
    from desktop.core.monitor.failures import failure_groups, unresolved
    from desktop.core.monitor.search_time import SearchSyntaxError, time_start
    from desktop.core.monitor.task_search import parse

    start = None
    if since is not None:
        try:
            start = time_start(since, field="--since")
        except ValueError as exc:
            _fail(str(exc), code=2)
    try:
        search = parse(query_text) if query_text else None
    except SearchSyntaxError as exc:
        _fail(f"--query: {exc}", code=2)
    chosen = tuple(dict.fromkeys(s.upper() for s in states)) or ("FAILURE",)
    groups, hidden = _read_journal(
        ctx,
        kwargs,
        lambda journal: unresolved(
            failure_groups(journal, start, chosen, search), journal.resolved_failures()
        ),
    )
    if with_resolved:
        groups, hidden = groups + hidden, []
    elif hidden:
        click.echo(f"note: {len(hidden)} cause(s) marked resolved left out (--all shows them)",
                   err=True)  # fmt: skip
    if as_json:
        click.echo(json.dumps([_group_json(g) for g in groups], indent=2))
        return
    width = shutil.get_terminal_size().columns
    for group in groups:
        click.echo(_group_line(group, width))


def _group_json(group: FailureGroup) -> dict[str, Any]:
    return {
        "fingerprint": group.fingerprint,
        "exception": group.example_exception,
        "count": group.count,
        "first": group.first,
        "last": group.last,
        "task_names": list(group.task_names),
        "workers": list(group.workers),
        "queues": list(group.queues),
        "example_id": group.example_id,
        "by_name": [{"name": name, "count": count} for name, count in group.by_name],
    }


def _group_line(group: FailureGroup, width: int) -> str:
    """Count, last seen (local time), the fingerprint cut to what the terminal leaves after
    the task names (at least 30 characters), the task names."""
    last = datetime.fromtimestamp(group.last).isoformat(sep=" ", timespec="seconds")
    names = ", ".join(group.task_names) or "?"
    head = f"{group.count:>7}  {last}  "
    room = max(30, width - len(head) - len(names) - 2)
    cause = group.fingerprint
    if len(cause) > room:
        cause = cause[: room - 1] + "…"
    return f"{head}{cause:<{room}}  {names}"
