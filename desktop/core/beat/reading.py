"""Reading the app's periodic tasks: the beat child run like the app probe, its report made a
`BeatReport`. Blocking (it imports the person's app in a child, up to its time limit)."""

from __future__ import annotations

from desktop.core.app import beat_probe
from desktop.core.app.config import PROBE_TIMEOUT_S, run_app_child
from desktop.core.beat.entries import BeatReport, from_child
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints, Profile


def read_beat(
    profile: Profile, endpoints: Endpoints | None, timeout: float = PROBE_TIMEOUT_S
) -> BeatReport:
    """Every periodic task of the profile's app, from each source it has. An app that cannot
    be imported raises AppConfigError (there is no default schedule to fall back on)."""
    data = run_app_child(profile, endpoints, beat_probe.__file__, timeout)
    secrets = [] if endpoints is None else [
        urls.password_of(u) for u in (endpoints.broker_url, endpoints.result_backend)
    ]  # fmt: skip
    return from_child(data, [s for s in secrets if s])
