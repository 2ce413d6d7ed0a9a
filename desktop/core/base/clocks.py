"""Event times on the panel's own clock, whatever the time zone and the clock of their sender.

An event's `timestamp` is its sender's `time.time()`: seconds since the epoch, one number in
every time zone. Its `utcoffset` (hours west of UTC, `celery.utils.time.utcoffset()`) only says
which zone the sender shows local time in, so it must not move the timestamp. Celery's receiver
moves it anyway, by the difference of the sender's and the receiver's offsets
(`celery.utils.time.adjust_timestamp`, celery/celery#2482; Flower inherits it): a worker in
America/Chicago, such as a Django project without TIME_ZONE, then dates everything 6 h early on
a panel in UTC. The panel decodes events without that step (`events.event_receiver`) and
converts each timestamp here, once, when the batch enters `ClusterState.apply`.

What remains is the sender's clock, which may be off by seconds or minutes. Every event reached
the panel after it was sent, so `local_received - timestamp` is the sender's clock offset plus
the transit time, and the smallest such value over the last `WINDOW_S` seconds (this batch
included) is the offset plus the shortest transit. A sender measured within
`TRUSTED_WITHIN_S` is taken at its word: that much is what transit alone can look like, and
NTP keeps real clocks far closer (two processes on one machine share one clock exactly, and
correcting each by its own shortest transit would set their events out of order by the
difference). Beyond it the measured offset is added: the sender's events then land where they
happened on the panel's clock, never later than they arrived, one sender's spacing exact. A
clock set to local time in place of UTC is just a large offset, corrected the same way.
Beyond Celery's own threshold (`HEARTBEAT_DRIFT_MAX`, the drift at which `celery.events.state`
warns that clocks may be out of sync) the Workers screen says so.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from celery.events.state import HEARTBEAT_DRIFT_MAX

# Long enough to hold dozens of heartbeats (every 2 s), so one late delivery never sets the
# estimate; short enough that a clock stepped back (NTP catching up) is followed within it.
WINDOW_S = 120.0
# A sender measured this close to the panel's clock is not corrected (see above); state.py
# also keeps a task's stages in order by moving one event no further than this.
TRUSTED_WITHIN_S = 1.0
MAX_SENDERS = 10_000  # clients are named gen<pid>@host: bound the memory a churn of them takes
# Celery's own "clocks may be out of sync" threshold, the one its State logs a warning at.
DRIFT_WARNING_S: int = HEARTBEAT_DRIFT_MAX


def drifted(offset: float | None) -> bool:
    """Off by more than Celery tolerates (`DRIFT_WARNING_S`)."""
    return offset is not None and abs(offset) > DRIFT_WARNING_S


class _SlidingMinimum:
    """The smallest offset measured within the window: a deque of (received, offset) with
    offsets increasing, so adding and reading are O(1) amortised."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, received: float, offset: float, window_s: float) -> None:
        samples = self.samples
        while samples and samples[-1][1] >= offset:
            samples.pop()
        samples.append((received, offset))
        horizon = received - window_s
        while samples[0][0] < horizon:
            samples.popleft()


class SenderClocks:
    """The measured clock offset of every sender (by hostname), and the correction it calls for."""

    def __init__(self, window_s: float = WINDOW_S, max_senders: int = MAX_SENDERS) -> None:
        self.window_s = window_s
        self.max_senders = max(1, max_senders)
        self._senders: OrderedDict[str, _SlidingMinimum] = OrderedDict()

    def measure(self, sender: str, offset: float, received: float) -> None:
        """`received - timestamp` of one event of `sender` (or the smallest of a batch's),
        the event having reached the panel at `received`."""
        if not math.isfinite(offset):
            return
        senders = self._senders
        measured = senders.get(sender)
        if measured is None:
            measured = senders[sender] = _SlidingMinimum()
            if len(senders) > self.max_senders:
                senders.popitem(last=False)
        else:
            senders.move_to_end(sender)
        measured.add(received, offset, self.window_s)

    def correction(self, sender: str) -> float:
        """What to add to `sender`'s timestamps to put them on the panel's clock."""
        offset = self.offset(sender)
        return 0.0 if offset is None or abs(offset) <= TRUSTED_WITHIN_S else offset

    def offset(self, sender: str) -> float | None:
        """How far `sender`'s clock is behind the panel's (negative: ahead), in seconds;
        None before any of its events."""
        measured = self._senders.get(sender)
        return measured.samples[0][1] if measured is not None else None
