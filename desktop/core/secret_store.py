"""Broker passwords: the OS keyring when one works, else a 0600 JSON file beside the profiles."""

from __future__ import annotations

import json
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from desktop.core.bounds import KEYRING_TIMEOUT_S, NoAnswer, within
from desktop.core.files import write_atomic

log = logging.getLogger(__name__)

KEYRING_SERVICE = "celery-desk"
BACKEND_ENV = "CELERY_DESK_SECRETS"  # "keyring", "file", or unset for automatic


class SecretStore(Protocol):
    kind: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...


class FileSecretStore:
    """A JSON object in a file created 0600; the directory is 0700."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} does not hold a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def set(self, key: str, value: str) -> None:
        data = self._load()
        data[key] = value
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True), mode=0o600)

    def delete(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is not None:
            write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True), mode=0o600)


KEYRING = "the system keyring"


class KeyringSecretStore:
    """Each call bounded (bounds.within): a keyring daemon that never answers raises NoAnswer
    ("the system keyring did not answer within N s") instead of hanging the command or window."""

    kind = "keyring"

    def get(self, key: str) -> str | None:
        import keyring

        value: str | None = within(
            KEYRING_TIMEOUT_S, KEYRING, keyring.get_password, KEYRING_SERVICE, key
        )
        return value

    def set(self, key: str, value: str) -> None:
        import keyring

        within(KEYRING_TIMEOUT_S, KEYRING, keyring.set_password, KEYRING_SERVICE, key, value)

    def delete(self, key: str) -> None:
        import keyring
        import keyring.errors

        def delete() -> None:
            with suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, key)

        within(KEYRING_TIMEOUT_S, KEYRING, delete)


def keyring_works(timeout: float = KEYRING_TIMEOUT_S) -> bool:
    """True when a real keyring backend answers (not the 'fail' or 'null' placeholders) within
    `timeout`; one that does not answer is said once on stderr (the log) and counts as none."""
    try:
        return within(timeout, KEYRING, _keyring_answers)
    except NoAnswer as exc:
        log.warning("%s; using the secrets file instead", exc)
        return False


def _keyring_answers() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or "null" in type(backend).__module__:
            return False
        probe = "celery-desk-probe"
        keyring.set_password(KEYRING_SERVICE, probe, "1")
        ok = keyring.get_password(KEYRING_SERVICE, probe) == "1"
        keyring.delete_password(KEYRING_SERVICE, probe)
        return ok
    except Exception as exc:  # any backend failure means: use the file
        log.debug("keyring unavailable: %s", type(exc).__name__)
        return False


def open_secret_store(secrets_file: Path) -> SecretStore:
    choice = os.environ.get(BACKEND_ENV, "").lower()
    if choice == "file":
        return FileSecretStore(secrets_file)
    if choice == "keyring" or keyring_works():
        return KeyringSecretStore()
    return FileSecretStore(secrets_file)
