"""Builder: the tasks the profile's app registers, with their signatures, read in a child."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from desktop.core.app_config import AppConfig, TaskInfo
from desktop.ui.panels.common import fill_table, heading, muted, read_only_table, route_rows


def describe_params(task: TaskInfo) -> str:
    parts = []
    for param in task.params:
        text = param["name"]
        if param.get("annotation"):
            text += f": {param['annotation']}"
        if param.get("default") is not None:
            text += f" = {param['default']}"
        if param.get("kind") == "VAR_POSITIONAL":
            text = "*" + text
        elif param.get("kind") == "VAR_KEYWORD":
            text = "**" + text
        parts.append(text)
    return f"({', '.join(parts)})"


class BuilderPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Builder — registered tasks"))
        self.status = muted("Reading the Celery app…")
        layout.addWidget(self.status)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter tasks by name")
        self.search.textChanged.connect(self._refilter)
        layout.addWidget(self.search)
        self.table = read_only_table(["Task", "Signature", "Queue", "Description"])
        layout.addWidget(self.table, 1)
        self.tasks: list[TaskInfo] = []
        self.routes: dict[str, str] = {}
        self.default_queue = ""

    def show_app_config(self, config: AppConfig | None, error: str) -> None:
        if config is None:
            self.tasks = []
            self.status.setText(f"Could not read the app: {error}")
            self.status.setProperty("role", "error")
        else:
            self.tasks = config.tasks
            self.routes = dict(route_rows(config.routes))
            self.default_queue = config.default_queue
            self.status.setText(
                f"{len(config.tasks)} tasks registered by '{config.main}' "
                f"(default queue '{config.default_queue}')"
            )
            self.status.setProperty("role", "muted")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self._refilter()

    def queue_of(self, task: TaskInfo) -> str:
        """Where a plain `apply_async()` of the task goes: its route, its own queue, or default."""
        if task.name in self.routes:
            return self.routes[task.name]
        return task.queue or f"{self.default_queue} (default)"

    def _refilter(self) -> None:
        needle = self.search.text().strip().lower()
        shown = [t for t in self.tasks if needle in t.name.lower()]
        fill_table(
            self.table,
            [(t.name, describe_params(t), self.queue_of(t), t.doc) for t in shown],
        )
