"""`celery-desk audit`, and how the other commands keep what they did to the cluster in the
audit log (desktop/core/monitor/audit.py): the same journal table the window writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.base import _fail, cli, selection_options
from desktop.cli.tasks import _read_journal

if TYPE_CHECKING:
    from desktop.core.services import Services
    from desktop.core.settings.profile_model import Profile


def audit_cli_action(
    services: Services,
    item: Profile,
    action: str,
    target: str,
    params: Mapping[str, Any] | None = None,
    *,
    outcome: str = "ok",
    reply: Any = None,
    journal: Any = None,
) -> None:
    """Keep a command's action in the profile's audit log, through `journal` when the command
    has it open, else opened for this one write. A journal that cannot be written is said on
    stderr; the action happened all the same."""
    from desktop.core.monitor.audit import AuditSink

    opened = None
    try:
        if journal is None:
            journal = opened = services.open_journal(item)
        AuditSink(journal, item.name, "cli").record(
            action, target, params, outcome=outcome, reply=reply
        )
    except Exception as exc:
        click.echo(f"warning: the audit log did not record {action} {target}: {exc}", err=True)
    finally:
        if opened is not None:
            opened.close()


@cli.command("audit")
@selection_options
@click.option("--since", help="Only actions at or after this time: 1h, 2d, 2026-11-29, today.")
@click.option("--action", help="Only this action (revoke, retry, purge, worker start…).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def audit(
    ctx: click.Context,
    /,
    since: str | None,
    action: str | None,
    limit: int,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """What the panel and its commands did to the cluster, newest first: who, what, to which
    target, with which parameters (redacted), and what came back."""
    from desktop.core.monitor.search_time import time_start

    start = None
    if since is not None:
        try:
            start = time_start(since, field="--since")
        except ValueError as exc:
            _fail(str(exc), code=2)
    entries = _read_journal(ctx, kwargs, lambda j: j.audit_entries(limit, start, action))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "at": e.at, "profile": e.profile, "user": e.user, "source": e.source,
                        "action": e.action, "target": e.target, "params": dict(e.params),
                        "outcome": e.outcome, "reply": e.reply,
                    }
                    for e in entries
                ],
                indent=2,
            )
        )  # fmt: skip
        return
    for e in entries:
        when = datetime.fromtimestamp(e.at).isoformat(sep=" ", timespec="seconds")
        params = json.dumps(dict(e.params)) if e.params else ""
        reply = f" -> {e.reply}" if e.reply else ""
        click.echo(
            f"{when}  {e.user:<10} {e.source:<6} {e.outcome:<6} {e.action} {e.target} "
            f"{params}{reply}"[:400]
        )
