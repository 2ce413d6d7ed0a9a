"""The core objects one process needs, built once from a config dir: used by CLI and GUI alike."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from desktop.core import urls
from desktop.core.app_config import ConfigHistory
from desktop.core.embedded import BACKEND_DB, BROKER_DB, EmbeddedBrokerError, EmbeddedRedis
from desktop.core.journal import journal_name
from desktop.core.paths import Paths
from desktop.core.profiles import Endpoints, Profile, ProfileStore
from desktop.core.secret_store import SecretStore, open_secret_store


@dataclass
class Services:
    paths: Paths
    secrets: SecretStore
    profiles: ProfileStore
    embedded: EmbeddedRedis

    @classmethod
    def open(cls, config_dir: str | os.PathLike[str] | None = None) -> Services:
        paths = Paths.resolve(config_dir)
        paths.ensure()
        secrets = open_secret_store(paths.secrets_file)
        return cls(
            paths=paths,
            secrets=secrets,
            profiles=ProfileStore(paths, secrets),
            embedded=EmbeddedRedis(paths.embedded_dir, secrets),
        )

    def journal_path(self, profile: Profile) -> Path:
        """Each profile keeps its own history: two clusters never mix in one table."""
        return self.paths.data_dir / "journals" / journal_name(profile.name)

    def config_history(self) -> ConfigHistory:
        """What each profile's app configuration was when last read: drift is said against it."""
        return ConfigHistory(self.paths.data_dir / "app-config")

    def workers_dir(self, profile: Profile) -> Path:
        """Local workers are kept per profile, like the history."""
        key = journal_name(profile.name).removesuffix(".sqlite3")
        return self.paths.data_dir / "workers" / key

    def draft_path(self, profile: Profile) -> Path:
        """The Builder's unsaved canvas of this profile (canvas_drafts), kept like its history."""
        key = journal_name(profile.name).removesuffix(".sqlite3")
        return self.paths.data_dir / "drafts" / f"{key}.json"

    def endpoints(self, profile: Profile) -> Endpoints:
        """URLs to connect with, passwords restored; the embedded broker must be running."""
        full = self.profiles.with_secrets(profile)
        broker = full.broker_url
        backend = full.result_backend
        if profile.is_embedded or backend == urls.EMBEDDED:
            status = self.embedded.status()
            if not status.running:
                raise EmbeddedBrokerError(
                    "the embedded broker is not running: start it with "
                    "`celery-desk broker start` or open the app"
                )
            if profile.is_embedded:
                broker = self.embedded.url(BROKER_DB)
            if backend == urls.EMBEDDED:
                backend = self.embedded.url(BACKEND_DB)
        return Endpoints(broker, backend, full.management_url)
