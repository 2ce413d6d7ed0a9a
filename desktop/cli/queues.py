"""`celery-desk queues`: what waits in each queue, in the broker's delivery order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from desktop.core.monitor.journal import Journal


@cli.command("queues")
@selection_options
@click.option("--queue", "names", multiple=True, help="Only this queue (repeatable).")
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="How many of the next messages to list per queue, in delivery order.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_step_timeout_option
@click.pass_context
def queues_command(
    ctx: click.Context,
    /,
    names: tuple[str, ...],
    limit: int,
    as_json: bool,
    timeout: float,
    **kwargs: Any,
) -> None:
    """What waits in each queue, in the order the broker will deliver it."""
    from desktop.core.base.bounds import Watchdog
    from desktop.core.broker import control, queue_rabbitmq, queue_types, queues
    from desktop.core.monitor.events import receiver_app

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    chosen = list(names) or config.queue_names()
    broker = f"the broker at {urls.mask(endpoints.broker_url)}"
    guard = Watchdog(timeout)
    management_url = endpoints.management_url
    if config.is_rabbitmq:  # only RabbitMQ's own credentials go to its management API
        with guard.waiting_on(f"the RabbitMQ management API of {broker}"):
            management = queue_rabbitmq.find_management(endpoints.broker_url, management_url)
        management_url = management.url if management.answered else ""
        click.echo(f"note: {management.note}", err=True)
    source = queues.inspector(endpoints.broker_url, config, management_url)
    consumers = None
    if config.is_redis:  # Redis keeps no consumer list: ask the workers
        app = receiver_app(endpoints.broker_url, config)
        try:
            with guard.waiting_on(f"{broker} (asking the workers which queues they consume)"):
                consumers = control.consumers_per_queue(app)
        except Exception as exc:  # no worker answering (or no broker) is not a failure here
            click.echo(f"warning: consumers not counted: {exc}", err=True)
        finally:
            app.close()
    journal = _sent_times(services.journal_path(item))
    try:
        with guard.waiting_on(f"{broker} (reading the queues)"):
            found = queues.report(source, chosen, limit, consumers, journal)
    except queue_types.QueueError as exc:
        _fail(f"{broker} (reading the queues): {exc}")
    finally:
        source.close()
        if journal is not None:
            journal.close()
    if config.is_rabbitmq and limit and management_url:
        click.echo(f"note: {queue_rabbitmq.PEEK_NOTE}", err=True)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=repr))
        return
    for entry in found:
        counts = ", ".join(f"{k} {entry[k]}" for k in ("waiting", "unacked", "consumers")
                           if entry.get(k) is not None)  # fmt: skip
        error = entry.get("error", "")
        shown = f"{counts} ({error})" if counts and error else counts or error or "not known"
        click.echo(f"{entry['queue']}: {shown}{_oldest_text(entry)}")
        for place, message in enumerate(entry["next"]):
            what = message.get("not_decoded") or f"{message['task']} {message['id']}"
            click.echo(f"  {place:>4}  p{message.get('priority')}  {what}")
        if entry.get("next_error"):
            click.echo(f"  ({entry['next_error']})")


def _sent_times(path: Path) -> Journal | None:
    """The profile's journal, read-only, for the send times of the tasks at the queues' heads
    (the ages of messages Celery does not date); None without one, or one that cannot be read
    (the ages it would date are then unknown, said as such)."""
    import sqlite3

    from desktop.core.monitor.journal import Journal

    if not path.exists():
        return None
    try:
        return Journal(path, read_only=True)
    except (sqlite3.DatabaseError, OSError) as exc:
        click.echo(f"warning: the journal was not read for send times: {exc}", err=True)
        return None


def _oldest_text(entry: dict[str, Any]) -> str:
    """ ", oldest 12.5 s (journal)": the oldest waiting message's age and what dates it."""
    if not entry.get("waiting"):
        return ""
    age = entry.get("oldest_age_s")
    if age is None:
        return ", oldest ? (nothing dates it: no timestamp, no task-sent event journaled)"
    return f", oldest {age:.1f} s ({entry.get('oldest_source')})"
