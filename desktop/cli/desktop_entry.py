"""`celery-desk desktop-entry install|uninstall`: the panel in the desktop's application menu
(desktop/core/local/desktop_entry.py)."""

from __future__ import annotations

from pathlib import Path

import click

from desktop.cli.base import _fail, cli

DIR_HELP = "Where to write it (default: $XDG_DATA_HOME/applications, ~/.local/share/applications)."


@cli.group("desktop-entry")
def desktop_entry() -> None:
    """The panel's entry in the desktop's application menu (a freedesktop .desktop file)."""


@desktop_entry.command("install")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help=DIR_HELP)
def install(directory: Path | None) -> None:
    """Write the entry: this interpreter, this checkout as its directory, the project's icon."""
    from desktop.core.local import desktop_entry as entry

    try:
        path = entry.install(directory)
    except OSError as exc:
        _fail(f"the entry could not be written: {exc}", 1)
    click.echo(f"installed: {path}")


@desktop_entry.command("uninstall")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help=DIR_HELP)
def uninstall(directory: Path | None) -> None:
    """Remove the entry (nothing to do when there is none)."""
    from desktop.core.local import desktop_entry as entry

    try:
        path = entry.uninstall(directory)
    except OSError as exc:
        _fail(f"the entry could not be removed: {exc}", 1)
    click.echo(f"removed: {path}" if path else "no entry was installed")
