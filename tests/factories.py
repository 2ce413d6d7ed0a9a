"""Test data builders (Qt-free, so unit tests can use them)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.monitor.state import TaskRow


def task_row(task_id: str, **values: Any) -> TaskRow:
    """A TaskRow: SUCCESS, updated at 0, every other field None unless the test names it."""
    row: dict[str, Any] = {f.name: None for f in fields(TaskRow)}
    row.update(id=task_id, state="SUCCESS", updated=0.0)
    row.update(values)
    return TaskRow(**row)


def app_config(
    broker: str = "redis://",
    *,
    tasks: dict[str, dict[str, Any]] | None = None,
    profile: Any = None,
    **settings: Any,
) -> EffectiveConfig:
    """The effective configuration of a real Celery app built here (no broker is contacted):
    the same `describe` the app probe runs in its child. `tasks` registers name -> task
    options (queue, priority…)."""
    from celery import Celery

    from desktop.core.app import probe as app_probe
    from desktop.core.app.config import from_probe
    from desktop.core.settings.profile_model import Profile

    app = Celery("t", broker=broker, set_as_current=False)
    app.conf.update(settings)
    for name, options in (tasks or {}).items():

        def run(*args: Any, **kwargs: Any) -> None:
            """A task body the tests never run."""

        app.task(name=name, shared=False, **options)(run)
    return from_probe(app_probe.describe(app), profile or Profile(name="t"))


def default_profile_journal() -> Any:
    """The journal of the built-in profile in the configuration the environment points at
    (saved first, as the window's first start saves it), for CLI tests that read it back."""
    from desktop.core.monitor.journal import Journal
    from desktop.core.services import Services

    services = Services.open()
    services.profiles.save(services.profiles.builtin())
    return Journal(services.journal_path(services.profiles.get("embedded")))
