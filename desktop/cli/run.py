"""`celery-desk run`: a saved canvas checked, sent and journaled, with exit codes that tell a
script whether it may send again."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from desktop.cli.audit import audit_cli_action
from desktop.cli.base import _app_target, _fail, _merge, cli, selection_options
from desktop.core.settings import urls


@cli.command("run")
@selection_options
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True, help="Wait until every task has finished.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="With --wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the ids (and results) as JSON.")
@click.option(
    "--no-check",
    is_flag=True,
    help="Do not check task names and arguments against the app (sent the app's way still).",
)
@click.option(
    "--step-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds the broker or backend may leave one message or one result read unanswered; "
    "then say which did not answer and exit 1 (3 when it is the journal, after a send).",
)
@click.pass_context
def run(
    ctx: click.Context,
    /,
    file: str,
    wait: bool,
    timeout: float,
    as_json: bool,
    no_check: bool,
    step_timeout: float,
    **kwargs: Any,
) -> None:
    """Check and send a saved canvas (celery-desk/canvas JSON).

    Each task is journaled as the broker takes it. Exit status: 0 sent (and with --wait, all
    succeeded); 1 sending failed part way, a step did not answer, or with --wait a task failed
    or did not finish; 2 refused before sending (a bad file or call, or a journal that cannot
    be written: nothing is sent that could not be journaled); 3 SENT (all, or part way before
    a failure), but the journal could not record some of them (disk full, locked, or it did
    not answer): do not send again."""
    import sqlite3
    import time
    from pathlib import Path

    from celery.signals import after_task_publish

    from desktop.core.app.panel_app import client_app
    from desktop.core.app.results import read_result
    from desktop.core.base.bounds import Watchdog, exit_now
    from desktop.core.base.task_states import is_finished
    from desktop.core.canvas import checks as canvas_checks
    from desktop.core.canvas import format as canvas_format
    from desktop.core.canvas import sending as canvas_sending
    from desktop.core.monitor.journal_schema import BUSY_TIMEOUT_S, JournalUnwritable

    try:
        loaded = canvas_format.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}", 2)
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text", 2)
    except canvas_format.CanvasError as exc:
        _fail(f"{file}: {exc}", 2)
    selection = _merge(ctx, kwargs)
    services = selection.services()
    item, endpoints, config = _app_target(selection, services)
    target = canvas_checks.Target.for_config(config, bool(endpoints.result_backend))
    if no_check:
        target = canvas_checks.Target(has_backend=bool(endpoints.result_backend), config=config)
    problems = canvas_checks.check(loaded, target)
    for problem in problems:
        where = f"node {problem.path}" if problem.path else "root"
        click.echo(f"{problem.level}: {where}: {problem.message}", err=True)
    if any(p.level == canvas_checks.ERROR for p in problems):
        sys.exit(2)
    journal_path = services.journal_path(item)
    try:
        journal = services.open_journal(item)
    except JournalUnwritable as exc:
        _fail(f"not sent: what is sent could not be journaled: {exc}", 2)
    app = client_app(config, endpoints, poll_results=True)
    unjournaled = ""
    went_out: set[str] = set()  # the tasks handed to the journal: the broker took them

    def were_sent(tasks: str) -> str:
        return f"{tasks} WERE sent: do not send them again (the journal {journal_path})"

    try:

        def journal_stuck(message: str) -> None:
            """The broker took these tasks: a journal that never answers is exit 3, not 1."""
            exit_now(f"{message}; {were_sent(f'{len(went_out)} task(s), not all journaled,')}", 3)

        def record(node: canvas_sending.SentNode) -> None:
            went_out.add(node.id)
            # Past SQLite's own wait for a locked journal, so that a locked one is said as
            # such and the send goes on; a journal stuck longer than that ends with exit 3.
            with guard.waiting_on(
                f"the journal {journal_path} (recording what was sent)",
                max(step_timeout, BUSY_TIMEOUT_S + 1),
                journal_stuck,
            ):
                journal.record_submitted(
                    node.id, node.task, queue=node.queue, priority=node.priority
                )

        def published(**_: Any) -> None:
            guard.progress()  # a message went out: the broker answers

        guard = Watchdog(step_timeout)
        after_task_publish.connect(published, weak=False)
        try:
            with guard.waiting_on(f"the broker at {urls.mask(endpoints.broker_url)} (sending)"):
                sent = canvas_sending.send(loaded, app, record, config)
        except canvas_sending.SendError as exc:  # what was sent is in the journal, nothing else
            failed = f"sending failed: the broker at {urls.mask(endpoints.broker_url)}: {exc}"
            audit_cli_action(
                services, item, "send", loaded.name or file, {"file": file}, outcome="failed",
                reply=f"{len(exc.sent)} of {exc.total} sent: {exc}", journal=journal,
            )  # fmt: skip
            if exc.unjournaled is not None:  # and some of what was sent is in no journal
                _fail(f"{failed}; those {len(exc.sent)} of {exc.total} {were_sent('task(s)')}", 3)
            _fail(failed)
        finally:
            after_task_publish.disconnect(published)
        audit_cli_action(
            services, item, "send", loaded.name or file, {"file": file},
            reply={"root_id": sent.root_id, "tasks": len(sent.nodes)}, journal=journal,
        )  # fmt: skip
        if sent.unjournaled is not None:
            unjournaled = f"{sent.unjournaled.said(len(sent.nodes))}; {were_sent('the tasks')}"
            click.echo(f"error: {unjournaled}", err=True)
        states: dict[str, tuple[str, Any]] = {n.id: ("PENDING", None) for n in sent.nodes}
        deadline = time.monotonic() + timeout
        reading = f"the result backend at {urls.mask(endpoints.result_backend)} (reading results)"
        while wait:
            for node in sent.nodes:
                if is_finished(states[node.id][0]):
                    continue
                with guard.waiting_on(reading):
                    read = read_result(app, node.id)
                states[node.id] = (read.state, read.outcome)
            done = all(is_finished(s) for s, _ in states.values())
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        try:
            for task_id, (state, value) in states.items():
                if is_finished(state):  # what the backend says is final
                    journal.set_final(task_id, state, repr(value), time.time())
        except (sqlite3.Error, JournalUnwritable) as exc:
            if not unjournaled:
                unjournaled = f"the results were not journaled: {exc} (the journal {journal_path})"
                click.echo(f"error: {unjournaled}", err=True)
    finally:
        journal.close()
        app.close()
    unfinished = [n for n in sent.nodes if not is_finished(states[n.id][0])]
    if as_json:
        document = {
            "root_id": sent.root_id,
            "nodes": [
                {
                    "path": n.path,
                    "task": n.task,
                    "id": n.id,
                    "state": states[n.id][0],
                    "result": _jsonable(states[n.id][1]),
                }
                for n in sent.nodes
            ],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"sent '{loaded.name or file}': root id {sent.root_id}")
        for n in sent.nodes:
            state, value = states[n.id]
            shown = "" if value is None else f" -> {value!r}"[:200]
            click.echo(f"  {n.path or 'root':<8} {n.task:<32} {n.id}  {state}{shown}")
    if wait and unfinished:
        click.echo(f"error: {len(unfinished)} task(s) unfinished after {timeout:.0f} s", err=True)
    if unjournaled:
        sys.exit(3)
    if wait and unfinished:
        sys.exit(1)
    if wait and any(states[n.id][0] != "SUCCESS" for n in sent.nodes):
        sys.exit(1)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
