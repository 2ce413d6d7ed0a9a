"""The canvas being edited as a Qt tree model: drag and drop through mime data, undo through
QUndoStack. Every edit replaces the whole tree (a canvas a person builds holds tens of nodes,
not thousands), so undo is "put the previous tree back" and can never drift."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core.canvas import edit as canvas_edit
from desktop.core.canvas.edit import EditError, Position
from desktop.core.canvas.format import CanvasError, node_from_json, node_to_json
from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, Node, TaskNode

Index = QModelIndex | QPersistentModelIndex
NODE_MIME = "application/x-celery-desk-node"  # a node as canvas JSON: from the palette or a copy
MOVE_MIME = "application/x-celery-desk-move"  # {"model": ..., "position": "0.1"}: a move
KEEP = object()  # an undo step that leaves the canvas's file as it is
NodeRole = Qt.ItemDataRole.UserRole + 1
PositionRole = Qt.ItemDataRole.UserRole + 2


def node_mime(node: Node) -> QMimeData:
    data = QMimeData()
    data.setData(NODE_MIME, json.dumps(node_to_json(node)).encode())
    data.setText(json.dumps(node_to_json(node)))
    return data


def empty_container(kind: str) -> Node:
    """What the palette's "chain" and "group" entries drop: to be filled by the person."""
    return ChainNode([]) if kind == "chain" else GroupNode([])


def label(node: Node) -> str:
    if isinstance(node, TaskNode):
        return node.task.rsplit(".", 1)[-1]
    kind = type(node).__name__.removesuffix("Node").lower()
    return f"{kind} ({canvas_edit.task_count(node)} tasks)"


class _TreeCommand(QUndoCommand):
    def __init__(self, model: CanvasModel, before: Any, after: Any, text: str) -> None:
        super().__init__(text)
        self.model, self.before, self.after = model, before, after

    def redo(self) -> None:
        self.model._show(*self.after)

    def undo(self) -> None:
        self.model._show(*self.before)


class CanvasModel(QAbstractItemModel):
    tree_changed = Signal()  # after every edit, undo and redo
    edit_refused = Signal(str)  # why a drop or an edit did nothing

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.token = uuid.uuid4().hex  # moves are only understood by the model they came from
        self.name = ""
        self.root: Node | None = None
        self.undo_stack = QUndoStack(self)
        self.placed: Position | None = None  # where the last drop or move put its node
        self.file: Path | None = None  # where Save writes; None: not saved yet
        self._ids: dict[Position, int] = {}
        self._positions: dict[int, Position] = {}
        self._index_tree()

    # -- the tree ---------------------------------------------------------------------------
    def canvas(self) -> Canvas:
        """The canvas to save or send; EditError when it is empty or holds an empty container."""
        return canvas_edit.as_canvas(self.name, self.root)

    def node(self, position: Position) -> Node:
        return canvas_edit.node_at(self.root, position)

    def edit(self, root: Node | None, text: str, name: str | None = None) -> None:
        """One undoable step to a new tree."""
        before = (self.name, copy.deepcopy(self.root), KEEP)
        after = (self.name if name is None else name, copy.deepcopy(root), KEEP)
        self.undo_stack.push(_TreeCommand(self, before, after, text))

    def load(self, loaded: Canvas, file: Path | None = None) -> None:
        """Another canvas, from `file` or from elsewhere: undo brings back the previous one
        and the file it belongs to, so a Save after that undo writes where it should."""
        before = (self.name, copy.deepcopy(self.root), self.file)
        after = (loaded.name, copy.deepcopy(loaded.root), file)
        self.undo_stack.push(_TreeCommand(self, before, after, f"open '{loaded.name}'"))

    def clear(self) -> None:
        before = (self.name, copy.deepcopy(self.root), self.file)
        self.undo_stack.push(_TreeCommand(self, before, ("", None, None), "new canvas"))

    def try_edit(self, text: str, change: Any) -> bool:
        """Run `change()` -> new root, or (new root, where the edited node now is), which
        `placed` then holds for the view to select; a refused edit says why and changes
        nothing."""
        try:
            outcome = change()
        except EditError as exc:
            self.edit_refused.emit(str(exc))
            return False
        root, self.placed = outcome if isinstance(outcome, tuple) else (outcome, None)
        self.edit(root, text)
        return True

    def _show(self, name: str, root: Node | None, file: Any) -> None:
        self.beginResetModel()
        if file is not KEEP:
            self.file = file
        self.name = name
        self.root = copy.deepcopy(root)
        self._index_tree()
        self.endResetModel()
        self.tree_changed.emit()

    def _index_tree(self) -> None:
        self._ids = {p: i + 1 for i, p in enumerate(canvas_edit.positions(self.root))}
        self._positions = {i: p for p, i in self._ids.items()}

    # -- QAbstractItemModel -----------------------------------------------------------------
    def position(self, index: Index) -> Position | None:
        """None for the invalid index, which stands for the canvas itself."""
        if not index.isValid():
            return None
        return self._positions.get(int(index.internalId()))

    def index_of(self, position: Position) -> QModelIndex:
        if position not in self._ids:
            return QModelIndex()
        return self.createIndex(position[-1] if position else 0, 0, self._ids[position])

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column != 0 or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.index_of(()) if row == 0 and self.root is not None else QModelIndex()
        position = self.position(parent)
        if position is None:
            return QModelIndex()
        return self.index_of((*position, row))

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        position = self.position(index)
        if not position:
            return QModelIndex()
        return self.index_of(position[:-1])

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return 0 if self.root is None else 1
        position = self.position(parent)
        return 0 if position is None else len(canvas_edit.children(self.node(position)))

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        position = self.position(index)
        if position is None:
            return None
        node = self.node(position)
        if role == Qt.ItemDataRole.DisplayRole:
            return label(node)
        if role == NodeRole:
            return node
        if role == PositionRole:
            return canvas_edit.position_text(position)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        position = self.position(index)
        if position is None:
            return Qt.ItemFlag.ItemIsDropEnabled
        flags = base | Qt.ItemFlag.ItemIsDragEnabled
        if canvas_edit.is_container(self.node(position)):
            flags |= Qt.ItemFlag.ItemIsDropEnabled
        return flags

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [NODE_MIME, MOVE_MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        positions = [p for p in map(self.position, indexes) if p is not None]
        if not positions:
            return QMimeData()
        data = node_mime(self.node(positions[0]))
        move = {"model": self.token, "position": canvas_edit.position_text(positions[0])}
        data.setData(MOVE_MIME, json.dumps(move).encode())
        return data

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        return data.hasFormat(NODE_MIME) and (not parent.isValid() or self._drops_into(parent))

    def _drops_into(self, parent: Index) -> bool:
        position = self.position(parent)
        return position is not None and canvas_edit.is_container(self.node(position))

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        """Into the container `parent` before child `row` (-1: at the end); the invalid index
        is the canvas itself. A move from this model moves; anything else inserts a copy."""
        if action == Qt.DropAction.IgnoreAction:
            return True
        if not data.hasFormat(NODE_MIME):
            return False
        target = self.position(parent) if parent.isValid() else None
        if parent.isValid() and (target is None or not self._drops_into(parent)):
            self.edit_refused.emit("a task cannot hold other tasks; drop beside it instead")
            return False
        index = row if row >= 0 else self._end_of(target)
        source = self._move_source(data) if action == Qt.DropAction.MoveAction else None
        if source is not None:
            return self.try_edit("move", lambda: canvas_edit.move(self.root, source, target, index))
        try:
            node = node_from_json(
                json.loads(bytes(data.data(NODE_MIME).data()).decode()), editing=True
            )
        except (CanvasError, ValueError) as exc:
            self.edit_refused.emit(f"not a canvas node: {exc}")
            return False
        what = f"add {label(node)}"
        return self.try_edit(what, lambda: canvas_edit.place(self.root, target, index, node))

    def _end_of(self, target: Position | None) -> int:
        if self.root is None:
            return 0
        if target is None:
            holder = self.root if isinstance(self.root, ChainNode | GroupNode) else None
            return 1 if holder is None else len(holder.children)
        return len(canvas_edit.children(self.node(target)))

    def _move_source(self, data: QMimeData) -> Position | None:
        if not data.hasFormat(MOVE_MIME):
            return None
        try:
            move = json.loads(bytes(data.data(MOVE_MIME).data()).decode())
        except ValueError:
            return None
        if not isinstance(move, dict) or move.get("model") != self.token:
            return None
        return canvas_edit.parse_position(str(move.get("position", "")))

    def removeRows(self, row: int, count: int, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        """Views call this after a move drop; dropMimeData has already moved the node."""
        return False
