"""`celery-desk tasks` and `gaps`: the journal read back, read-only, so that a recorder writing
it (or a read-only disk) does not stop a script from reading history; or the profile's shared
history on PostgreSQL (`--history`, history/pg_reader.py), by the same query."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from desktop.cli.base import (
    Selection,
    _fail,
    _merge,
    _profile_or_exit,
    _warn_password_on_command_line,
    cli,
    selection_options,
)

if TYPE_CHECKING:
    from desktop.core.base.task_record import TaskRecord
    from desktop.core.history.pg_reader import PgReader
    from desktop.core.monitor.journal import Journal

    History = Journal | PgReader

T = TypeVar("T")


@cli.command("gaps")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def gaps(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """Windows the journal did not hear (the recorder stopped, a broker outage, a full disk)
    and how each was filled from the result backend."""
    listed = _read_history(ctx, kwargs, lambda history: history.gaps())  # schema 1: none yet
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(g) for g in listed], indent=2))
        return
    for gap in listed:
        start = datetime.fromtimestamp(gap.start).isoformat(sep=" ", timespec="seconds")
        click.echo(
            f"{start}  {gap.end - gap.start:8.1f} s  {gap.status:<7} {gap.found:>6} tasks  "
            f"{gap.reason}" + (f" ({gap.note})" if gap.note else "")
        )


def _read_history(
    ctx: click.Context,
    kwargs: dict[str, Any],
    read: Callable[[History], T],
    history: str | None = None,
) -> T:
    """`read(history)` of the selected profile's history (`history`: --history, else the
    profile's): its SQLite journal (`_read_journal`) or its shared history on PostgreSQL.
    Only for what both readers give (pages, a task, the gaps)."""
    from desktop.core.base.argument_redaction import redactor_for
    from desktop.core.settings import urls
    from desktop.core.settings.config_errors import ProfileError

    selection = _merge(ctx, kwargs)
    services = selection.services()
    if history is not None and urls.is_shared_history(history):
        try:  # a profile only for its stored password and redacted names: none is needed
            shared = selection.resolve(services)
        except ProfileError:
            return _read_shared(history, redactor_for(None), read)
        url = services.history_url(shared, history)
        return _read_shared(url, redactor_for(shared.redacted_arguments), read)
    item = _profile_or_exit(selection, services)
    url = services.history_url(item, history)
    if urls.is_shared_history(url):
        return _read_shared(url, redactor_for(item.redacted_arguments), read)
    return _journal_of(selection, read)


def _read_journal(ctx: click.Context, kwargs: dict[str, Any], read: Callable[[Journal], T]) -> T:
    """`read(journal)` of the selected profile's journal, opened read-only: a journal on a
    read-only disk, or one a recorder writes, serves as it is; one that is not a journal is
    named with what is wrong (ConfigFileError). The SQLite journal only: what the shared
    history's reader does not give yet (failures, the audit log) is read from it."""
    return _journal_of(_merge(ctx, kwargs), read)


def _journal_of(selection: Selection, read: Callable[[Journal], T]) -> T:
    import sqlite3

    from desktop.core.base.argument_redaction import redactor_for
    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.journal_schema import damaged_journal

    services = selection.services()
    item = _profile_or_exit(selection, services)
    path = services.journal_path(item)
    if not path.exists():
        _fail(f"no history for profile '{item.name}' yet: open the app or run `celery-desk record`")
    journal = Journal(path, read_only=True, redactor=redactor_for(item.redacted_arguments))
    try:
        return read(journal)
    except sqlite3.DatabaseError as exc:
        raise damaged_journal(path, exc, writing=False) from exc
    finally:
        journal.close()


def _read_shared(url: str, redactor: Any, read: Callable[[History], T]) -> T:
    from desktop.core.history.pg_connect import HistoryUnavailable
    from desktop.core.history.pg_reader import PgReader
    from desktop.core.history.pg_schema import HistorySchemaTooNew

    try:
        reader = PgReader(url, redactor=redactor)
    except (HistoryUnavailable, HistorySchemaTooNew) as exc:
        _fail(str(exc), 2)
    try:
        return read(reader)
    except HistoryUnavailable as exc:
        _fail(str(exc), 2)
    finally:
        reader.close()


@cli.command("tasks")
@selection_options
@click.argument("task_id", required=False)
@click.option(
    "--logs",
    is_flag=True,
    help="With TASK_ID: the lines of the local worker's log that belong to the task.",
)
@click.option("--state", help="SUCCESS, FAILURE, STARTED, …")
@click.option("--name", "task_name", help="Exact task name.")
@click.option("--queue", help="Queue or routing key.")
@click.option("--worker", help="Worker node name.")
@click.option("--search", help="Text in id, name, args, kwargs, result or exception.")
@click.option(
    "--since",
    help="Only tasks sent (else received) at or after this time: 1h, 30m, 2d, 45s (ago), "
    "2026-11-29, 2026-11-29T10:00, today, yesterday.",
)
@click.option(
    "--query",
    "query_text",
    help="The query language, e.g. 'name:proj.* -state:SUCCESS runtime>2 after:-1h' "
    "(desktop/core/monitor/task_search.py); ANDed with the other filters.",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--history",
    default=None,
    metavar="URL",
    help="Read this history: 'sqlite' (the profile's journal) or a shared PostgreSQL one, "
    "postgresql://user@host:port/db (its password from the profile). Default: the "
    "profile's history.",
)
@click.pass_context
def tasks(
    ctx: click.Context,
    /,
    task_id: str | None,
    logs: bool,
    state: str | None,
    task_name: str | None,
    queue: str | None,
    worker: str | None,
    search: str | None,
    since: str | None,
    query_text: str | None,
    limit: int,
    as_json: bool,
    history: str | None,
    **kwargs: Any,
) -> None:
    """List tasks from the journal, newest first; or one task (TASK_ID), with --logs the
    lines its local worker logged about it."""
    from desktop.core.monitor.task_query import TaskQuery
    from desktop.core.settings import urls

    if history is not None and history != urls.HISTORY_SQLITE:
        if not urls.is_shared_history(history):
            _fail(f"--history must be 'sqlite' or postgresql://user@host:port/db, not "
                  f"'{urls.mask(history)}'", 2)  # fmt: skip
        if urls.password_of(history) is not None:
            _warn_password_on_command_line()
    if task_id is not None:
        _one_task(ctx, kwargs, task_id, logs, as_json, history)
        return
    if logs:
        _fail("--logs needs a TASK_ID", code=2)
    parsed = _search_of(query_text, since)
    query = TaskQuery(
        state=state.upper() if state else None,
        name=task_name,
        queue=queue,
        worker=worker,
        text=search,
        search=parsed,
    )
    rows = _read_history(ctx, kwargs, lambda journal: journal.page(query, 0, limit), history)
    if as_json:
        click.echo(json.dumps([_task_json(r) for r in rows], indent=2))
        return
    for row in rows:
        runtime = f"{row['runtime']:.3f}s" if row["runtime"] is not None else "-"
        click.echo(
            f"{row['id']}  {row['state']:<8} {row['name'] or '?':<32} "
            f"{row['worker'] or '-':<24} {runtime}"
        )


def _search_of(query_text: str | None, since: str | None) -> Any:
    """--query parsed, ANDed with --since; None when neither is given."""
    from desktop.core.monitor.search_time import SearchSyntaxError, time_start
    from desktop.core.monitor.task_search import Junction, Search, TimeRange, parse

    try:
        parsed = parse(query_text) if query_text is not None else None
    except SearchSyntaxError as exc:
        _fail(f"--query: {exc}", code=2)
    if since is None:
        return parsed
    try:
        start = TimeRange(time_start(since, field="--since"), None)
    except ValueError as exc:
        _fail(str(exc), code=2)
    if parsed is None or parsed.condition is None:
        return Search(f"after:{since}", start)
    return Search(parsed.text, Junction("AND", (parsed.condition, start)))


def _one_task(
    ctx: click.Context,
    kwargs: dict[str, Any],
    task_id: str,
    logs: bool,
    as_json: bool,
    history: str | None = None,
) -> None:
    from desktop.core.local.supervisor import Supervisor
    from desktop.core.local.task_logs import local_log_of, task_log_lines

    # a copy: _merge takes the selection out of it, and --logs reads it again below
    row = _read_history(ctx, dict(kwargs), lambda journal: journal.get(task_id), history)
    if row is None:
        _fail(f"no task {task_id} in the journal", code=1)
    lines: list[str] = []
    if logs:
        selection = _merge(ctx, kwargs)
        services = selection.services()
        item = _profile_or_exit(selection, services)
        workers = Supervisor(services.workers_dir(item), item).workers()
        log = local_log_of(workers, row["worker"])
        if log is None:
            click.echo(
                f"note: {row['worker'] or 'no worker'} is not a local worker of this profile: "
                "its log is on its own machine",
                err=True,
            )
        else:
            lines = task_log_lines(log, task_id)
    if as_json:
        document = _task_json(row)
        if logs:
            document["logs"] = lines
        click.echo(json.dumps(document, indent=2))
        return
    for key, value in _task_json(row).items():
        click.echo(f"{key:<10} {value}")
    for line in lines:
        click.echo(line)


def _task_json(row: TaskRecord) -> dict[str, Any]:
    """Args, kwargs and result as JSON values where the journal's text is one (or a Python
    literal, as Celery's events give them); the text itself where it is not."""
    from desktop.core.base.task_record import queue_of
    from desktop.core.monitor.journal_reader import stored_value

    return {
        "id": row["id"],
        "name": row["name"],
        "state": row["state"],
        "args": stored_value(row["args"]),
        "kwargs": stored_value(row["kwargs"]),
        "result": stored_value(row["result"]),
        "exception": row["exception"],
        "worker": row["worker"],
        "queue": queue_of(row),
        "priority": row["priority"],
        "sent": row["sent"],
        "received": row["received"],
        "started": row["started"],
        "finished": row["finished"],
        "runtime": row["runtime"],
        "retries": row["retries"],
        "parent_id": row["parent_id"],
        "root_id": row["root_id"],
    }
