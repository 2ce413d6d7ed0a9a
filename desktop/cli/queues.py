"""`celery-desk queues`: what waits in each queue, in the broker's delivery order."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
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
    from desktop.core.base.argument_redaction import redactor_for
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
    hidden = redactor_for(item.redacted_arguments)
    source = queues.inspector(endpoints.broker_url, config, management_url, hidden)
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
    journal = _SentTimes(services.journal_path(item))
    try:
        with guard.waiting_on(f"{broker} (reading the queues)"):
            found = queues.report(source, chosen, limit, consumers, journal)
    except queue_types.QueueError as exc:
        _fail(f"{broker} (reading the queues): {exc}")
    finally:
        source.close()
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


class _SentTimes:
    """The profile's journal, read-only, as far as the queues' ages read it: the send times of
    the tasks at the queues' heads. A journal that cannot be opened or read (damaged, locked,
    not a journal) is a warning, and the ages it would date are unknown: `queues` still lists."""

    def __init__(self, path: Path) -> None:
        from desktop.core.monitor.journal import Journal

        self.journal: Journal | None = None
        if path.exists():
            try:
                self.journal = Journal(path, read_only=True)
            except Exception as exc:  # a damaged journal must not cost the queue listing
                self._warn(exc)

    def rows(self, task_ids: Iterable[str]) -> Mapping[str, Any]:
        import sqlite3

        if self.journal is None:
            return {}
        try:
            return self.journal.rows(task_ids)
        except sqlite3.Error as exc:
            self._warn(exc)
            return {}

    def _warn(self, exc: BaseException) -> None:
        click.echo(f"warning: the journal was not read for send times: {exc}", err=True)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def _oldest_text(entry: dict[str, Any]) -> str:
    """ ", oldest 12.5 s (journal)": the oldest waiting message's age and what dates it."""
    if not entry.get("waiting"):
        return ""
    age = entry.get("oldest_age_s")
    if age is None:
        return ", oldest ? (nothing dates it: no timestamp, no task-sent event journaled)"
    return f", oldest {age:.1f} s ({entry.get('oldest_source')})"
