"""The profile dialog's fields for hidden task arguments: which names are hidden, and whether
the journal keeps their real values (shown as **** all the same, revealed one task at a time
on the Tasks screen) or stores them hidden for good (the default).

Apart from form.py so that file stays one screen's worth of fields; the rule itself is in
desktop/core/base/argument_redaction.py and the journal (monitor/journal.py).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QWidget

from desktop.core.settings.profile_model import Profile

KEEP_TEXT = "Keep real argument values in the journal"
KEEP_TIP = (
    "Off (the default): the journal stores the values of hidden arguments as ****, so nothing "
    "can show them again. On: it keeps them as they were; the screens, copies and the command "
    "line still show ****, and the Tasks screen's 'Reveal arguments' shows one task's on "
    "request (kept in the audit log). The search line finds tasks by them too, and anyone "
    "who can read the journal file can read them."
)


class RedactionFields:
    """The hidden names (comma-separated) and the keep-values box, as rows of a form."""

    def __init__(self, form: QFormLayout, row: Callable[[QFormLayout, str, QWidget, str], None]):
        """`row`: the form's own way to add a field with its error line under it."""
        self.names = QLineEdit()
        self.names.setAccessibleName("Hidden arguments")
        self.names.setToolTip(
            "Argument names (comma-separated) whose values the journal, the screens and the "
            "command line show as ****: any name containing one of these, in nested dicts too."
        )
        row(form, "Hide arguments named", self.names, "redacted_arguments")
        self.keep = QCheckBox(KEEP_TEXT)
        self.keep.setAccessibleName(KEEP_TEXT)
        self.keep.setToolTip(KEEP_TIP)
        row(form, "", self.keep, "keep_argument_values")

    def show(self, profile: Profile) -> None:
        self.names.setText(", ".join(profile.redacted_arguments))
        self.keep.setChecked(profile.keep_argument_values)

    def names_given(self) -> list[str]:
        return [n.strip() for n in self.names.text().split(",") if n.strip()]

    def keeps_values(self) -> bool:
        return self.keep.isChecked()
