"""The doors between screens: a row, a button or a node on one screen opening another on what
it points at (a task in the Builder, a cause in Failures, a task node in the Beat screen's
Add…). Screens never import each other (import-linter: screens independent); the shell holds
every such wire, here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from desktop.ui.profiles.dialog import ProfileDialog
    from desktop.ui.shell.main_window import MainWindow


def wire_doors(window: MainWindow) -> None:
    """Every door, once the screens are built."""
    tabs, builder = window.tabs, window.builder

    def show(screen: QWidget, then: Any) -> None:
        tabs.setCurrentWidget(screen)
        then()

    def open_in_builder(task_id: str, whole_workflow: bool) -> None:
        builder.open_from_journal(task_id, whole_workflow, lambda: tabs.setCurrentWidget(builder))

    def open_canvas(canvas: Any) -> None:
        builder.open_canvas(canvas)
        tabs.setCurrentWidget(builder)

    window.tasks.open_in_builder.connect(open_in_builder)
    window.failures.open_in_builder.connect(open_in_builder)
    window.queues.open_in_builder.connect(open_canvas)
    builder.schedule_wanted.connect(
        lambda task, args, kwargs: show(
            window.beat, lambda: window.beat.changes.add(task, args, kwargs)
        )
    )
    _wire_overview(window, show)


def _wire_overview(window: MainWindow, show: Any) -> None:
    """The Overview reads what the other screens read (the Queues screen's reads with the
    broker server's facts while it shows, the Workers screen's inspect replies), and each of
    its rows opens its own screen on it."""
    overview, queues, workers = window.overview, window.queues, window.workers
    queues.snapshot_read.connect(overview.show_snapshot)
    overview.watching.connect(lambda on: queues.keep_reading(on, "overview", server=True))
    workers.facts_read.connect(overview.show_worker_facts)
    overview.wants_worker_facts.connect(lambda: _inspect_for_overview(window))
    overview.edit_profile.connect(lambda fields: _edit_profile_with(window, fields))
    overview.open_queue.connect(lambda q: show(queues, lambda: queues.select_queue(q)))
    overview.open_failure.connect(
        lambda cause: show(window.failures, lambda: window.failures.show_cause(cause))
    )
    overview.open_worker.connect(lambda node: show(workers, lambda: workers.select_worker(node)))
    overview.open_local_worker.connect(
        lambda name: show(workers, lambda: workers.show_local_worker(name))
    )
    overview.open_tasks.connect(
        lambda query: show(window.tasks, lambda: window.tasks.show_search(query))
    )


def _edit_profile_with(window: MainWindow, fields: dict[str, str]) -> ProfileDialog:
    """The profile editor with what the Overview found in a project folder filled in
    (working directory, app module, Django settings), to check and save there."""
    dialog = window.edit_profile()
    editors = {"workdir": dialog.workdir, "app_module": dialog.app_module,
               "django_settings": dialog.django}  # fmt: skip
    for key, value in fields.items():
        editors[key].setText(value)
    return dialog


def _inspect_for_overview(window: MainWindow) -> None:
    """Pool sizes and consumed queues for the Overview, once the app is read (its control
    exchange is where its workers listen); a new worker is inspected on its own."""
    if window.session.state == "connected" and window.session.app_config is not None:
        window.workers.inspect()
