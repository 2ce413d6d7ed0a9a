"""Choose another of the app's tasks for a canvas node: the palette's tasks as one list,
narrowed as the person types, each with its signature so they can see which fits the node's
arguments."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.builder.palette import describe_params
from desktop.ui.common.accessible import explain, explain_labelled

NameRole = Qt.ItemDataRole.UserRole + 1


class TaskChooser(QDialog):
    """`chosen()` once accepted; Enter or a double-click takes the selected task."""

    def __init__(
        self,
        names: list[str],
        current: str,
        params: dict[str, list[dict[str, Any]] | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.current = current
        self.setWindowTitle("Replace task")
        self.setMinimumSize(460, 360)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Replace <b>{current}</b> with another task. Its arguments, options and s()/si() "
            "stay; the checks then say whether they fit."
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tasks")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search tasks")
        self.search.installEventFilter(self)
        layout.addWidget(self.search)
        self.tasks = QListWidget()
        explain(self.tasks, "The app's tasks: Enter or a double click replaces with one", "Tasks")
        for name in names:
            known = params.get(name)
            signature = describe_params(known) if known is not None else "(signature not known)"
            text = f"{name}{signature}" + ("   (current)" if name == current else "")
            item = QListWidgetItem(text)
            item.setData(NameRole, name)
            item.setToolTip(f"{name}{signature}")
            self.tasks.addItem(item)
        layout.addWidget(self.tasks, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Replace")
        self.buttons.accepted.connect(self._accept_if_chosen)
        self.buttons.rejected.connect(self.reject)
        explain_labelled(self.buttons, {"Replace": "Put the chosen task in the node's place"})
        layout.addWidget(self.buttons)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._accept_if_chosen)
        self.tasks.currentItemChanged.connect(lambda *_: self._update_ok())
        self.tasks.itemActivated.connect(lambda _item: self._accept_if_chosen())
        self._filter("")
        self.search.setFocus()

    def chosen(self) -> str | None:
        """The selected task's name, None when none or the node's own task is selected."""
        item = self.tasks.currentItem()
        if item is None or item.isHidden():
            return None
        name = str(item.data(NameRole))
        return None if name == self.current else name

    def visible_names(self) -> list[str]:
        return [
            str(self.tasks.item(row).data(NameRole))
            for row in range(self.tasks.count())
            if not self.tasks.item(row).isHidden()
        ]

    def _filter(self, text: str) -> None:
        """As the palette's search filters: the text, trimmed, anywhere in the full name,
        ignoring case."""
        needle = text.strip().casefold()
        first = None
        for row in range(self.tasks.count()):
            item = self.tasks.item(row)
            item.setHidden(needle not in str(item.data(NameRole)).casefold())
            if first is None and not item.isHidden() and item.data(NameRole) != self.current:
                first = item
        current = self.tasks.currentItem()
        if current is None or current.isHidden() or current.data(NameRole) == self.current:
            if first is None:
                self.tasks.setCurrentRow(-1)  # nothing left to choose
            else:
                self.tasks.setCurrentItem(first)
        self._update_ok()

    def _update_ok(self) -> None:
        self.ok.setEnabled(self.chosen() is not None)

    def _accept_if_chosen(self) -> None:
        if self.chosen() is not None:
            self.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Up and Down in the search field walk the list, so the keyboard never has to leave
        the field."""
        arrows = (Qt.Key.Key_Up, Qt.Key.Key_Down)
        if (
            watched is self.search
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in arrows
        ):
            self._step(-1 if event.key() == Qt.Key.Key_Up else 1)
            return True
        return super().eventFilter(watched, event)

    def _step(self, step: int) -> None:
        rows = [r for r in range(self.tasks.count()) if not self.tasks.item(r).isHidden()]
        if not rows:
            return
        now = self.tasks.currentRow()
        at = rows.index(now) + step if now in rows else 0
        self.tasks.setCurrentRow(rows[max(0, min(at, len(rows) - 1))])
