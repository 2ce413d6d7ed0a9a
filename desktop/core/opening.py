"""Opening a profile: start the embedded broker when needed, then one bounded connection test.

Blocking by design; the window runs it on a worker thread and shows the facts it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.core.broker.connection import ConnectionReport, Outcome, check_broker
from desktop.core.broker.embedded import EmbeddedBrokerError, EmbeddedStatus
from desktop.core.services import Services
from desktop.core.settings.profile_model import Endpoints, Profile


@dataclass(frozen=True)
class ConnectionFacts:
    """What the window shows about the active profile; every URL in it is masked."""

    profile: Profile
    endpoints: Endpoints | None
    report: ConnectionReport
    embedded: EmbeddedStatus | None = None


def open_profile(services: Services, profile: Profile, timeout: float = 5.0) -> ConnectionFacts:
    embedded: EmbeddedStatus | None = None
    shown = services.profiles.with_secrets(profile).masked()
    try:
        if profile.is_embedded:
            embedded = services.embedded.start()
        endpoints = services.endpoints(profile)
    except EmbeddedBrokerError as exc:
        return ConnectionFacts(shown, None, ConnectionReport(Outcome.ERROR, str(exc)), embedded)
    report = check_broker(endpoints.broker_url, timeout=timeout)
    if report.ok and embedded is not None:
        how = "reused" if embedded.reused else "started"
        report = ConnectionReport(
            report.outcome,
            f"{report.message} (embedded, {how}, pid {embedded.pid})",
            report.server,
            report.elapsed_s,
        )
    return ConnectionFacts(shown, endpoints.masked(), report, embedded)


def check_profile(services: Services, profile: Profile, timeout: float = 5.0) -> ConnectionFacts:
    """The periodic health check: like open_profile but never starts anything."""
    shown = services.profiles.with_secrets(profile).masked()
    try:
        endpoints = services.endpoints(profile)
    except EmbeddedBrokerError as exc:
        return ConnectionFacts(shown, None, ConnectionReport(Outcome.ERROR, str(exc)))
    embedded = services.embedded.status() if profile.is_embedded else None
    return ConnectionFacts(
        shown, endpoints.masked(), check_broker(endpoints.broker_url, timeout=timeout), embedded
    )
