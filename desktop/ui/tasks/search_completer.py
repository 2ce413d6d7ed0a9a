"""Completion for the Tasks screen's search line: the word being typed becomes a field name or
one of a field's known values (task names, queues, workers, states), the rest of the line kept.

Qt's completer replaces a line edit's whole text; this one completes the last word only (with
its leading `-`, if any), so a person builds `name:proj.add -state:SUCCESS` a word at a time.
A value is offered as typed (`name:report nightly`) and written as the language reads it back
(`name:"report nightly"`, `task_search.field_term`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QCompleter, QLineEdit

from desktop.core.monitor.task_search import KNOWN_FIELDS, NUMERIC_FIELDS, field_term

# Words offered before any value is known: each field, and the comparisons and times as a
# person starts them.
FIELD_WORDS = [
    *(f"{field}:" for field in KNOWN_FIELDS if field not in NUMERIC_FIELDS),
    *(f"{field}{op}" for field in NUMERIC_FIELDS for op in (">", ">=", "<", "<=", "=")),
    "after:-1h",
    "after:today",
    "before:-1h",
    "sent:today",
    "sent:yesterday",
]


WRITTEN = Qt.ItemDataRole.UserRole  # what a completion writes into the line


class SearchCompleter(QCompleter):
    """Completes the last word of `line` (see the module's docstring)."""

    def __init__(self, line: QLineEdit) -> None:
        self._words = QStandardItemModel()
        super().__init__(self._words, line)
        self._offer([(word, word) for word in FIELD_WORDS])
        self.line = line
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.setModelSorting(QCompleter.ModelSorting.UnsortedModel)
        line.setCompleter(self)

    def set_known(self, values: Mapping[str, Iterable[str]]) -> None:
        """Each field's known values (field -> values), offered as `field:value`."""
        known = sorted(
            (f"{field}:{value}", field_term(field, value))
            for field, seen in values.items()
            for value in seen
        )
        self._offer([*((word, word) for word in FIELD_WORDS), *known])

    def _offer(self, words: list[tuple[str, str]]) -> None:
        """(shown and matched, written into the line) pairs."""
        self._words.clear()
        for shown, written in words:
            item = QStandardItem(shown)
            item.setData(written, WRITTEN)
            self._words.appendRow(item)

    def splitPath(self, path: str) -> list[str]:
        return [_last_word(path).lstrip("-")]

    def pathFromIndex(self, index: QModelIndex | QPersistentModelIndex) -> str:
        """The line with its last word replaced by the chosen completion."""
        chosen = str(index.data(WRITTEN))
        text = self.line.text()
        last = _last_word(text)
        negated = "-" if last.startswith("-") else ""
        return text[: len(text) - len(last)] + negated + chosen


def _last_word(text: str) -> str:
    """What follows the last space: the word the completer works on."""
    return text.rsplit(" ", 1)[-1]
