"""Starting the profile's local beat only when a second beat would be safe.

What the panel can honestly see of a beat running elsewhere on the same broker:
- RedBeat: its own lock (`redbeat_lock_key`, under `redbeat_key_prefix`), which every RedBeat
  beat takes and renews; held means a beat runs with this schedule. It is read by the beat
  child with the rest of RedBeat (`BeatReport`), and named with its TTL in the refusal.
- Celery's own schedulers and django-celery-beat keep no lock. A beat with remote control
  (Celery 5.7's `beat_enable_remote_control`, `--enable-remote-control`, which the panel's own
  local beat uses) answers `ping` as `celerybeat@host`: one answering refuses the start.
What it cannot see: a beat elsewhere without remote control. Celery's events carry none of
beat's headers (`task-sent` has no `periodic_task_name` or `celery_beat_task`) and beat sends
no event of its own, so the journal cannot tell a beat's sends from anyone else's; guessing
from task names would refuse for tasks the app sends itself.
"""

from __future__ import annotations

from typing import Any

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.beat.entries import BeatReport, scheduler_source
from desktop.core.local.local_beat import BEAT_NODE, BeatRefused, BeatSupervisor
from desktop.core.local.local_worker import LocalWorker
from desktop.core.settings.profile_model import Endpoints

PING_S = 1.0  # how long the broker is asked whether a beat answers


def start_local_beat(
    supervisor: BeatSupervisor,
    endpoints: Endpoints,
    config: EffectiveConfig,
    report: BeatReport,
    ping_app: Any,
    *,
    loglevel: str = "INFO",
    auto_restart: bool = True,
) -> LocalWorker:
    """Start the profile's beat unless it is not safe (BeatRefused says why). `report` is the
    app's periodic tasks read just now (RedBeat's lock is in it); `ping_app` reaches the
    broker. Returns at once, the beat in state 'starting'."""
    return supervisor.start_beat(
        endpoints, config, lambda: refusal(report, answering_beats(ping_app)),
        loglevel=loglevel, auto_restart=auto_restart,
    )  # fmt: skip


def answering_beats(app: Any, timeout: float = PING_S) -> list[str]:
    """The beats answering a ping on this broker (Celery 5.7's beat remote control), by node
    name. A broker that cannot be asked raises BeatRefused: nothing is started unchecked."""
    try:
        replies = app.control.ping(timeout=timeout)
    except Exception as exc:
        raise BeatRefused(
            f"could not ask the broker whether a beat already runs ({type(exc).__name__}: "
            f"{exc}); not started"
        ) from exc
    return sorted(n for reply in replies or [] for n in reply if n.startswith(f"{BEAT_NODE}@"))


def refusal(report: BeatReport, answering: list[str]) -> str:
    """Why a beat for this app must not start now; "" when it may. RedBeat keeps a lock in
    Redis that every RedBeat beat takes: held means a beat runs somewhere. Celery's own
    schedulers and django-celery-beat hold none: two beats would send every task twice, so a
    beat answering pings on the broker is enough to refuse."""
    source = scheduler_source(report.scheduler)
    said = f"the app's beat_scheduler is {report.scheduler or 'Celery default'}"
    if source == "redbeat":
        state = report.sources.get("redbeat")
        if state is None or state.error:
            problem = state.error if state is not None else "RedBeat could not be read"
            return f"RedBeat's lock could not be checked ({problem}); not started"
        lock = state.lock
        if lock is not None and lock.get("held"):
            ttl = lock.get("ttl_s")
            left = f"{ttl:.0f} s left on its TTL" if isinstance(ttl, int | float) else "no TTL"
            return (
                f"RedBeat's lock {lock.get('key')} is held ({left}): another beat runs with "
                f"this schedule ({said}); stop it, or wait for the lock to expire"
            )
        if lock is not None:
            return ""  # the lock guards RedBeat: a second beat would wait for it anyway
    if answering:
        return (
            f"a beat already answers on this broker ({', '.join(answering)}) and {said}, "
            "which keeps no lock: a second beat would send every periodic task twice"
        )
    return ""
