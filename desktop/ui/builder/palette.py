"""The builder's palette: a chain, a group, and every task the app or a live worker registers,
grouped by module; each entry drags as a canvas node."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from desktop.core.app.effective_config import TaskInfo
from desktop.core.canvas.model import Node, TaskNode
from desktop.ui.builder.canvas_model import NODE_MIME, empty_container, node_mime

Index = QModelIndex | QPersistentModelIndex
NameRole = Qt.ItemDataRole.UserRole + 1  # a task's full name, "chain" or "group"
ParamsRole = Qt.ItemDataRole.UserRole + 2  # list of parameters, None when not known
CONTAINERS_GROUP = "Canvas"


def describe_params(params: list[dict[str, Any]]) -> str:
    parts = []
    for param in params:
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


class PaletteModel(QStandardItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.params: dict[str, list[dict[str, Any]] | None] = {}
        self.set_tasks([], {})

    def set_tasks(self, tasks: list[TaskInfo], registered: dict[str, list[str]]) -> None:
        """`registered`: worker node -> the task names it answered `inspect registered` with;
        a task only a worker knows still appears, without a signature."""
        self.clear()
        self.params = {task.name: task.params for task in tasks}
        on_workers: dict[str, list[str]] = {}
        for node, names in registered.items():
            for name in names:
                on_workers.setdefault(name.split(" ", 1)[0], []).append(node)
        canvas_group = QStandardItem(CONTAINERS_GROUP)
        canvas_group.setDragEnabled(False)
        for kind, text in (
            ("chain", "chain: steps run one after another, left to right"),
            ("group", "group: tasks run in parallel, top to bottom"),
        ):
            item = QStandardItem(kind)
            item.setData(kind, NameRole)
            item.setToolTip(text)
            canvas_group.appendRow(item)
        self.appendRow(canvas_group)
        modules: dict[str, QStandardItem] = {}
        known = {t.name: t for t in tasks}
        for name in sorted({*known, *on_workers}):
            if name.startswith("celery."):
                continue
            module, _, short = name.rpartition(".")
            group = modules.get(module)
            if group is None:
                group = modules[module] = QStandardItem(module or "(no module)")
                group.setDragEnabled(False)
                self.appendRow(group)
            task = known.get(name)
            item = QStandardItem(short)
            item.setData(name, NameRole)
            item.setData(task.params if task else None, ParamsRole)
            if task is None:
                self.params[name] = None
                item.setText(f"{short}  (workers only)")
            signature = describe_params(task.params) if task else "(signature not known)"
            lines = [f"<b>{name}</b>{signature}"]
            if task and task.doc:
                lines.append(task.doc)
            if name in on_workers:
                lines.append("registered on " + ", ".join(sorted(on_workers[name])))
            elif task is not None:
                lines.append("registered by the app; no live worker reported it")
            item.setToolTip("<br>".join(lines))
            group.appendRow(item)

    def task_names(self) -> list[str]:
        """Every task the palette lists, by full name."""
        return sorted(self.params)

    def index_of(self, name: str) -> QModelIndex:
        """A task's (or "chain"/"group") entry; invalid when the palette does not list it."""
        found = self.match(
            self.index(0, 0),
            NameRole,
            name,
            1,
            Qt.MatchFlag.MatchRecursive | Qt.MatchFlag.MatchExactly,
        )
        return found[0] if found else QModelIndex()

    def node_for(self, index: Index) -> Node | None:
        name = index.data(NameRole)
        if not name:
            return None
        if name in ("chain", "group"):
            return empty_container(str(name))
        return TaskNode(str(name))

    def mimeTypes(self) -> list[str]:
        return [NODE_MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        nodes = [n for n in map(self.node_for, indexes) if n is not None]
        return node_mime(nodes[0]) if nodes else QMimeData()

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.data(NameRole):
            flags |= Qt.ItemFlag.ItemIsDragEnabled
        return flags
