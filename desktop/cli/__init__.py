"""`celery-desk`: the GUI when run with no command, and the same core behind a CLI for scripts.

The group and what commands share live in `base`; each command group has its own module, imported
here so that `cli` holds every command once this package is imported."""

from __future__ import annotations

# Each command module registers its commands on `cli` when imported.
from desktop.cli import (  # noqa: F401
    alerts,
    audit,
    beat,
    broker,
    desktop_entry,
    failures,
    history,
    profile,
    queues,
    record,
    retry,
    run,
    tasks,
    why,
    worker,
)
from desktop.cli.base import _fail, cli

__all__ = ["cli", "main"]


def main() -> None:
    from desktop.core.base.bounds import NoAnswer

    try:
        cli(prog_name="celery-desk")
    except NoAnswer as exc:  # the keyring, say, with CELERY_DESK_SECRETS=keyring
        _fail(str(exc))
