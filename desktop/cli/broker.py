"""`celery-desk broker`: the embedded local Redis broker, started for scripts and kept running."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from desktop.cli.base import _fail, _merge, cli, selection_options
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.settings import urls


@cli.group()
def broker() -> None:
    """The embedded local Redis broker."""


@broker.command("start")
@selection_options
@click.pass_context
def broker_start(ctx: click.Context, /, **kwargs: Any) -> None:
    """Start (or reuse) the embedded broker; it keeps running until `broker stop`."""
    services = _merge(ctx, kwargs).services()
    try:
        status = services.embedded.start(keep=True)
    except EmbeddedBrokerError as exc:
        _fail(str(exc))
        return
    verb = "already running" if status.reused else "started"
    click.echo(
        f"embedded broker {verb}: Redis {status.version} on 127.0.0.1:{status.port} "
        f"(pid {status.pid}); URL {urls.mask(services.embedded.url())}"
    )


@broker.command("stop")
@selection_options
@click.pass_context
def broker_stop(ctx: click.Context, /, **kwargs: Any) -> None:
    """Stop the embedded broker (waiting tasks are kept on disk)."""
    services = _merge(ctx, kwargs).services()
    if services.embedded.stop():
        click.echo("embedded broker stopped")
    else:
        click.echo("embedded broker was not running")


@broker.command("status")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def broker_status(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """Say whether the embedded broker runs; exit 3 when it does not."""
    services = _merge(ctx, kwargs).services()
    status = services.embedded.status()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": status.running,
                    "pid": status.pid,
                    "port": status.port,
                    "version": status.version,
                    "kept": status.keep,
                    "detail": status.detail,
                }
            )
        )
    elif status.running:
        click.echo(
            f"running: Redis {status.version} on 127.0.0.1:{status.port} (pid {status.pid})"
            + (", kept after the app quits" if status.keep else "")
        )
    else:
        click.echo(f"stopped: {status.detail}")
    if not status.running:
        sys.exit(3)
