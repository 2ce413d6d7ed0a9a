"""Why has a task not run? Where it is now, and the first cause found, with the fix.

`gather_for` (facts.py; `gather` on a profile's endpoints) asks the journal, the result
backend, the broker and the workers, each within a bound: it blocks, so a window calls it off
its thread. `diagnose` (checks.py) judges the gathered Facts with pure functions, in cause
order: the first `problem` is the cause.
"""

from desktop.core.diagnosis.checks import CHECKS, Check, Diagnosis, diagnose
from desktop.core.diagnosis.facts import Facts, QueuePlace, gather, gather_for

__all__ = [
    "CHECKS",
    "Check",
    "Diagnosis",
    "Facts",
    "QueuePlace",
    "diagnose",
    "gather",
    "gather_for",
]
