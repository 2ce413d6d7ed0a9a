"""The core objects one process needs, built once from a config dir: used by CLI and GUI alike."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from desktop.core.app.config import ConfigHistory
from desktop.core.base.argument_redaction import ArgumentRedactor
from desktop.core.broker.embedded import BACKEND_DB, BROKER_DB, EmbeddedBrokerError, EmbeddedRedis
from desktop.core.monitor.history_reader import HistoryReader
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.monitor.journal_schema import JOURNAL_SUFFIX
from desktop.core.monitor.journal_writer import JournalWriter
from desktop.core.settings import urls
from desktop.core.settings.paths import Paths, legacy_profile_key, profile_key
from desktop.core.settings.profile_model import Endpoints, Profile
from desktop.core.settings.profiles import ProfileStore
from desktop.core.settings.secret_store import SecretStore, open_secret_store

log = logging.getLogger(__name__)


def open_reader(journal: Journal) -> HistoryReader:
    """A reader of its own of the history a journal's screens show: the profile's shared
    history on PostgreSQL when it has one (`reads_from`), else the file, read-only. Blocking
    (it connects): off the GUI thread. Raises what either engine's opening raises."""
    if journal.reads_from is not None:
        from desktop.core.history.pg_reader import PgReader  # psycopg only when shared

        return PgReader(journal.reads_from, redactor=journal.redactor)
    return JournalReader(journal.path, redactor=journal.redactor)


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
        return self._profile_path(self.paths.data_dir / "journals", profile.name, JOURNAL_SUFFIX)

    def open_journal(self, profile: Profile) -> Journal:
        """The profile's journal opened for writing, with the profile's redacted argument
        names: their values stored hidden, or kept real when the profile says so (shown hidden
        either way; raises JournalUnwritable when it cannot be written). A profile whose
        history is shared reads it from PostgreSQL (`reads_from`, with its stored password):
        the recorders write it, this file keeps only what the panel itself hears and does."""
        journal = Journal(
            self.journal_path(profile),
            redactor=ArgumentRedactor(profile.redacted_arguments),
            keep_argument_values=profile.keep_argument_values,
        )
        if urls.is_shared_history(profile.history):
            journal.reads_from = self.history_url(profile)
        return journal

    def history_url(self, profile: Profile, given: str | None = None) -> str:
        """The history a command writes: `given` (its --history) or the profile's own, with
        the profile's stored password joined in memory when the URL names the same database
        without one (a password is never needed on a command line). "sqlite" is the journal
        beside the panel."""
        chosen = (given or profile.history).strip()
        if not urls.is_shared_history(chosen) or urls.password_of(chosen) is not None:
            return chosen
        stored = self.profiles.with_secrets(profile).history
        if urls.split_password(stored).url == chosen:
            return stored
        return chosen

    def open_history(self, profile: Profile, given: str | None = None) -> JournalWriter:
        """The journal a recorder writes: the profile's SQLite journal, or its shared history
        on PostgreSQL (`history_url`), with the profile's redacted argument names. Raises
        JournalUnwritable (or history's HistorySchemaTooNew), saying why, password masked."""
        url = self.history_url(profile, given)
        if not urls.is_shared_history(url):
            return self.open_journal(profile)
        from desktop.core.history.pg_journal import PgJournal  # psycopg only when shared

        return PgJournal(
            url,
            redactor=ArgumentRedactor(profile.redacted_arguments),
            keep_argument_values=profile.keep_argument_values,
        )

    def config_history(self) -> ConfigHistory:
        """What each profile's app configuration was when last read: drift is said against it."""
        return ConfigHistory(self.paths.data_dir / "app-config")

    def workers_dir(self, profile: Profile) -> Path:
        """Local workers are kept per profile, like the history."""
        return self._profile_path(self.paths.data_dir / "workers", profile.name, "")

    def _profile_path(self, directory: Path, name: str, suffix: str) -> Path:
        """`directory/<profile_key><suffix>`; an install of an earlier version kept it under
        the legacy key, which different names could share. That file is taken over (a link
        at the new name makes the choice stick) only when no other profile shares its legacy
        key; when one does, it is left for the person to sort out, and the log says so."""
        path = directory / (profile_key(name) + suffix)
        legacy = directory / (legacy_profile_key(name) + suffix)
        if path.is_symlink():
            return path.resolve()
        if path.exists() or legacy == path or not legacy.exists():
            return path
        sharing = sorted(
            p.name
            for p in self.profiles.load()
            if p.name != name and legacy_profile_key(p.name) == legacy_profile_key(name)
        )
        if sharing:
            log.warning(
                "%s was kept for profile '%s' and also for %s by an earlier version; it is left "
                "as it is and '%s' now uses %s",
                legacy, name, ", ".join(f"'{n}'" for n in sharing), name, path,
            )  # fmt: skip
            return path
        with contextlib.suppress(OSError):  # a read-only data dir: use it without the link
            path.symlink_to(legacy.name)
        return legacy

    def draft_path(self, profile: Profile) -> Path:
        """The Builder's unsaved canvas of this profile (canvas_drafts), kept like its history."""
        return self.paths.data_dir / "drafts" / f"{profile_key(profile.name)}.json"

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
