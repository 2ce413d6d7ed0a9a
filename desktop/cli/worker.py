"""`celery-desk worker`: local `celery worker` processes of a profile, kept by the panel's
supervisor so they outlive the command that started them."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from desktop.cli.audit import audit_cli_action
from desktop.cli.base import (
    _app_target,
    _fail,
    _field_errors,
    _merge,
    _profile_or_exit,
    _step_timeout_option,
    cli,
    selection_options,
)
from desktop.core.broker.embedded import EmbeddedBrokerError
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.profile_model import Endpoints, Profile

if TYPE_CHECKING:
    from desktop.core.app.effective_config import EffectiveConfig
    from desktop.core.local.supervisor import Supervisor


@cli.group()
def worker() -> None:
    """Local `celery worker` processes of a profile; they keep running after the command."""


def _supervisor_target(
    ctx: click.Context, kwargs: dict[str, Any], *, need_broker: bool
) -> tuple[Supervisor, Profile, Endpoints | None, EffectiveConfig | None]:
    """With `need_broker` the app's configuration is read too (starting a worker needs it)."""
    from desktop.core.local.supervisor import Supervisor

    selection = _merge(ctx, kwargs)
    services = selection.services()
    item = _profile_or_exit(selection, services)
    endpoints: Endpoints | None = None
    if need_broker:
        if item.is_embedded or item.result_backend == urls.EMBEDDED:
            try:
                status = services.embedded.start(keep=True)  # the worker needs it to stay up
            except EmbeddedBrokerError as exc:
                _fail(str(exc))
            if not status.reused:
                click.echo(
                    f"started the embedded broker on 127.0.0.1:{status.port} "
                    "(stop it with `celery-desk broker stop`)",
                    err=True,
                )
        item, endpoints, config = _app_target(selection, services)
        return Supervisor(services.workers_dir(item), item), item, endpoints, config
    with contextlib.suppress(ProfileError, EmbeddedBrokerError):
        endpoints = services.endpoints(item)
    return Supervisor(services.workers_dir(item), item), item, endpoints, None


def _ping_app(endpoints: Endpoints, config: EffectiveConfig | None) -> Any:
    from desktop.core.monitor.events import receiver_app

    return receiver_app(endpoints.broker_url, config)


@worker.command("start")
@selection_options
@click.option("--queue", "-Q", "queues", multiple=True, required=True, help="Queue (repeatable).")
@click.option("--name", "-n", help="Node name before '@host' (default: the first queue).")
@click.option("--concurrency", "-c", type=int, help="Pool processes or threads.")
@click.option("--prefetch", type=int, help="Prefetch multiplier (1 with acks_late = fair order).")
@click.option("--pool", "-P", type=click.Choice(["prefork", "threads", "solo"]), default="prefork")
@click.option("--autoscale", help="MAX,MIN processes, e.g. 8,2.")
@click.option("--max-tasks-per-child", type=int, help="Recycle a pool process after N tasks.")
@click.option("--fair", is_flag=True, help="-O fair: hand a task only to an idle process.")
@click.option("--acks-late/--no-acks-late", default=None, help="Override the app's acks_late.")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--auto-restart", is_flag=True, help="Restart after a crash, with backoff.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Wait for online.")
@click.pass_context
def worker_start(
    ctx: click.Context,
    /,
    queues: tuple[str, ...],
    name: str | None,
    concurrency: int | None,
    prefetch: int | None,
    pool: str,
    autoscale: str | None,
    max_tasks_per_child: int | None,
    fair: bool,
    acks_late: bool | None,
    loglevel: str,
    auto_restart: bool,
    timeout: float,
    **kwargs: Any,
) -> None:
    """Start a worker and return once it answers a ping; prints its node name."""
    from desktop.core.local.worker_spec import WorkerError, WorkerSpec, WorkerSpecError, free_name

    wanted = [q for text in queues for q in text.split(",") if q.strip()]
    high = low = None
    if autoscale:
        try:
            high_text, _, low_text = autoscale.partition(",")
            high, low = int(high_text), int(low_text or 0)
        except ValueError:
            _fail(f"--autoscale takes MAX,MIN (e.g. 8,2), not '{autoscale}'", 2)
    supervisor, item, endpoints, config = _supervisor_target(ctx, kwargs, need_broker=True)
    assert endpoints is not None and config is not None
    spec = WorkerSpec(
        name=name
        or free_name(
            wanted[0] if wanted else "worker", {w.name for w in supervisor.workers() if w.running}
        ),
        queues=wanted,
        concurrency=concurrency,
        pool=pool,
        prefetch_multiplier=prefetch,
        autoscale_max=high,
        autoscale_min=low,
        max_tasks_per_child=max_tasks_per_child,
        fair=fair,
        acks_late=acks_late,
        loglevel=loglevel,
        auto_restart=auto_restart,
    )
    services = _merge(ctx, kwargs).services()
    try:
        supervisor.start(spec, endpoints, config)
        started = supervisor.wait_online(spec.name, _ping_app(endpoints, config), timeout)
    except WorkerSpecError as exc:
        _field_errors(exc.errors)
    except WorkerError as exc:
        audit_cli_action(services, item, "worker start", spec.nodename, dataclasses.asdict(spec),
                         outcome="failed", reply=str(exc))  # fmt: skip
        _fail(str(exc))
    audit_cli_action(services, item, "worker start", spec.nodename, dataclasses.asdict(spec),
                     reply={"state": started.state, "pid": started.pid})  # fmt: skip
    click.echo(started.nodename)
    click.echo(
        f"online: pid {started.pid}, queues {', '.join(spec.queues)}; "
        f"log {started.log_path}; stop with `celery-desk worker stop {spec.name}`",
        err=True,
    )


@worker.command("list")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_step_timeout_option
@click.pass_context
def worker_list(ctx: click.Context, /, as_json: bool, timeout: float, **kwargs: Any) -> None:
    """Local workers of the profile: node name, queues, pid and state. Exit 1 when the broker
    did not answer the ping of workers still starting (their state is then the keeper's)."""
    from desktop.core.base.bounds import NoAnswer, within

    supervisor, item, endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    silent = ""
    if endpoints is not None and any(w.state == "starting" for w in supervisor.workers()):
        from desktop.core.app.config import read_effective_config

        def ping_starting() -> None:
            config = read_effective_config(item, endpoints)  # its control exchange
            supervisor.confirm_online(_ping_app(endpoints, config), timeout=1.0)

        try:
            what = f"the broker at {urls.mask(endpoints.broker_url)} (pinging workers starting)"
            within(timeout, what, ping_starting)
        except NoAnswer as exc:
            silent = str(exc)
        except Exception:  # unreachable broker: they stay 'starting'
            pass
    found = supervisor.workers()
    if as_json:
        click.echo(json.dumps([w.as_json() for w in found], indent=2))
        if silent:
            _fail(silent)
        return
    if not found:
        click.echo(f"no local workers for profile '{item.name}'", err=True)
    for w in found:
        click.echo(
            f"{w.nodename:<32} {w.state:<12} pid {w.pid or '-':<8} {','.join(w.spec.queues)}"
            + (f"  ({w.detail[:100]})" if w.detail else "")
        )
    if silent:
        _fail(silent)


@worker.command("stop")
@selection_options
@click.argument("name", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Every running worker of the profile.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Wait this long.")
@click.option("--kill", "kill_after", is_flag=True, help="SIGKILL what is still running then.")
@click.pass_context
def worker_stop(
    ctx: click.Context,
    /,
    name: str | None,
    stop_all: bool,
    timeout: float,
    kill_after: bool,
    **kwargs: Any,
) -> None:
    """Warm shutdown (running tasks finish), then print each exit status."""
    from desktop.core.local.local_worker import describe_exit
    from desktop.core.local.worker_spec import WorkerError

    if bool(name) == stop_all:
        _fail("give a worker NAME or --all", 2)
    supervisor, item, _endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    services = _merge(ctx, kwargs).services()
    names = [w.name for w in supervisor.workers() if w.running] if stop_all else [str(name)]
    failed = False
    for each in names:
        try:
            supervisor.stop(each)
        except WorkerError as exc:
            _fail(str(exc))
    for each in names:
        done = supervisor.wait_stopped(each, timeout)
        if done.running and kill_after:
            supervisor.kill(each)
            done = supervisor.wait_stopped(each, 10.0)
            audit_cli_action(services, item, "worker kill", each, reply={"state": done.state})
        else:
            audit_cli_action(services, item, "worker stop", each, {"timeout_s": timeout},
                             reply={"state": done.state, "exit": done.exit_code})  # fmt: skip
        if done.running:
            failed = True
            click.echo(
                f"{done.nodename}: still {done.state} after {timeout:.0f} s (a task is running); "
                f"kill it with `celery-desk worker stop {each} --kill`",
                err=True,
            )
        else:
            click.echo(f"{done.nodename}: {done.state} ({describe_exit(done.exit_code)})")
    sys.exit(1 if failed else 0)


@worker.command("logs")
@selection_options
@click.argument("name")
@click.option("--lines", "-n", type=int, default=50, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl+C ends).")
@click.pass_context
def worker_logs(ctx: click.Context, /, name: str, lines: int, follow: bool, **kwargs: Any) -> None:
    """A worker's log: the last lines, and with --follow what it writes next."""
    import time

    supervisor, _item, _endpoints, _config = _supervisor_target(ctx, kwargs, need_broker=False)
    if supervisor.get(name) is None:
        _fail(f"no worker named {name} in this profile (see `celery-desk worker list`)")
    path = supervisor.log_path(name)
    for line in supervisor.log_tail(name, lines):
        click.echo(line)
    if not follow:
        return
    position = path.stat().st_size if path.exists() else 0
    try:
        while True:
            size = path.stat().st_size if path.exists() else 0
            if size < position:  # rotated or restarted: read the new file from its start
                position = 0
            if size > position:
                with open(path, "rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                position += len(chunk)
                click.echo(chunk.decode("utf-8", "replace"), nl=False)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return
