"""One task's real argument values, on a person's explicit request (the Tasks detail pane's
"Reveal arguments"), or why there is nothing to reveal.

Every read of the journal hides the values under the profile's redacted names
(journal_reader); this is the one place that hands them out for showing, one task at a time.
A journal that stores them hidden (the default) has nothing to reveal, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.core.monitor.history_reader import HistoryReader

NOTHING_HIDDEN = "Nothing to reveal: none of this task's arguments has a hidden name."
STORED_HIDDEN = (
    "Nothing to reveal: this profile's journal stores hidden values as ****, so the real "
    "ones were never kept. To keep them (still shown as **** until revealed), tick "
    "'Keep real argument values in the journal' in the profile: tasks seen from then on "
    "can be revealed."
)
STORED_BEFORE = (
    "Nothing to reveal: this task was journaled while the profile stored hidden values as "
    "****; only tasks seen since it keeps real values can be revealed."
)


@dataclass(frozen=True)
class Revealed:
    """A task's arguments as stored (`why_not` empty), or why none can be shown."""

    task_id: str
    args: str | None = None
    kwargs: str | None = None
    why_not: str = ""

    @property
    def revealed(self) -> bool:
        return not self.why_not


def reveal(reader: HistoryReader, task_id: str, keeps_values: bool) -> Revealed | None:
    """`task_id`'s real arguments (None: not in the journal). `keeps_values`: whether the
    profile keeps real values now (the journal may hold tasks from before either way)."""
    stored = reader.get(task_id, real=True)
    if stored is None:
        return None
    args, kwargs, hidden = stored["args"], stored["kwargs"], reader.redactor
    if hidden.hides_value(args) or hidden.hides_value(kwargs):
        return Revealed(task_id, args, kwargs)
    if not (hidden.redacts(args) or hidden.redacts(kwargs)):
        return Revealed(task_id, why_not=NOTHING_HIDDEN)
    return Revealed(task_id, why_not=STORED_BEFORE if keeps_values else STORED_HIDDEN)
