"""`celery-desk history export`: a task history moved between a SQLite journal, a shared
PostgreSQL history and JSON lines, in chunks, resumable (desktop/core/history/export.py)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

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

_PLACES = (
    "a SQLite journal (a path, or sqlite:///absolute/path), a shared history "
    "(postgresql://user@host:port/db; its password from the profile when not given)"
)


@cli.group("history")
def history_group() -> None:
    """The task history: moved between engines (SQLite journal, PostgreSQL, JSON lines)."""


@history_group.command("export")
@selection_options
@click.option(
    "--from",
    "source",
    metavar="SOURCE",
    default=None,
    help=f"What to export: {_PLACES}. Default: the profile's SQLite journal.",
)
@click.option(
    "--to",
    "target",
    metavar="TARGET",
    required=True,
    help=f"Where to: {_PLACES}, or a file ending in .jsonl (JSON lines).",
)
@click.option(
    "--chunk",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Rows read and stored at a time, each chunk committed with the point it reached.",
)
@click.option(
    "--max-chunks",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many chunks (a big history moved in several sittings); the next "
    "run goes on from there.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def history_export(
    ctx: click.Context,
    /,
    source: str | None,
    target: str,
    chunk: int,
    max_chunks: int | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Copy a task history (tasks, their events, gaps, the audit log, resolved failures) into
    another engine. Resumable: run again after an interruption, it goes on where it stopped
    and stores nothing twice; run again later, it copies what changed since."""
    from desktop.core.history.export import Moved, export
    from desktop.core.history.export_places import ExportError, ExportStopped, place_of
    from desktop.core.history.pg_connect import HistoryUnavailable
    from desktop.core.history.pg_schema import HistorySchemaTooNew
    from desktop.core.monitor.journal_schema import JournalUnwritable
    from desktop.core.settings import urls

    selection = _merge(ctx, kwargs)
    try:
        places = [
            _place(selection, source, place_of, target=False),
            _place(selection, target, place_of, target=True),
        ]
    except ExportError as exc:
        _fail(str(exc), 2)
    for given in (source, target):
        if given and urls.is_shared_history(given) and urls.password_of(given) is not None:
            _warn_password_on_command_line()
    origin, destination = places

    def progress(table: str, moved: Moved) -> None:
        if not as_json:
            click.echo(f"  {table}: {moved.read} read, {moved.stored} stored", err=True)

    if not as_json:
        click.echo(f"exporting {origin.shown} to {destination.shown}", err=True)
    try:
        report = export(origin, destination, chunk=chunk, max_chunks=max_chunks, on_chunk=progress)
    except HistorySchemaTooNew as exc:
        _fail(str(exc), 2)
    except JournalUnwritable as exc:
        _fail(f"{exc}\nnothing was exported", 2)
    except HistoryUnavailable as exc:
        _fail(str(exc), 2)
    except ExportStopped as exc:
        _fail(str(exc), 3)
    except ExportError as exc:
        _fail(str(exc), 2)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        for table, moved in report.tables.items():
            refused = f", {moved.refused} refused (a value the target cannot hold)"
            click.echo(
                f"{table:<18} {moved.read:>9} read {moved.stored:>9} stored"
                + (refused if moved.refused else "")
                + (f" {report.in_target[table]:>9} in the target" if report.in_target else "")
            )
        resumed = " (went on from an earlier run)" if report.resumed else ""
        click.echo(f"{report.chunks} chunk(s) in {report.seconds:.1f} s{resumed}")
    if not report.complete:
        click.echo(
            f"stopped after {report.chunks} chunk(s) (--max-chunks): run the same command "
            "again to go on",
            err=True,
        )


def _place(selection: Selection, given: str | None, place_of: Any, *, target: bool) -> Any:
    """SOURCE or TARGET as a Place; the profile's journal for a SOURCE not given, and the
    profile's stored password joined to a PostgreSQL URL of its history that has none."""
    from desktop.core.history.export_places import Place
    from desktop.core.settings import urls
    from desktop.core.settings.config_errors import ProfileError

    if given is None:
        services = selection.services()
        item = _profile_or_exit(selection, services)
        return Place("sqlite", str(services.journal_path(item)))
    if urls.is_shared_history(given) and urls.password_of(given) is None:
        services = selection.services()
        # no profile that can be read: the URL as given (a server without a password)
        with contextlib.suppress(ProfileError):
            given = services.history_url(selection.resolve(services), given)
    return place_of(given, target=target)
