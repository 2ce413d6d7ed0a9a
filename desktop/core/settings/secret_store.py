"""Broker passwords: the OS keyring when one works, else a 0600 JSON file beside the profiles."""

from __future__ import annotations

import json
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from desktop.core.base.bounds import KEYRING_TIMEOUT_S, NoAnswer, within
from desktop.core.base.files import write_atomic
from desktop.core.settings.config_errors import ConfigFileError, file_error

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
        """The stored passwords; a damaged file raises ConfigFileError (never a value from
        it, never written over)."""
        try:
            raw = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return {}
        except UnicodeDecodeError as exc:
            raise ConfigFileError(self.path, "is not UTF-8 text: fix or remove the file") from exc
        except OSError as exc:
            raise file_error(self.path, exc, "read it") from exc
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise ConfigFileError(self.path, f"is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigFileError(self.path, "must hold one JSON object of names and passwords")
        wrong = sorted(str(k) for k, v in data.items() if not isinstance(v, str))
        if wrong:
            raise ConfigFileError(self.path, f"the value of {', '.join(wrong)} is not text")
        return data

    def _store(self, data: dict[str, str]) -> None:
        try:
            write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True), mode=0o600)
        except OSError as exc:
            raise file_error(self.path, exc, "write it") from exc

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def set(self, key: str, value: str) -> None:
        data = self._load()
        data[key] = value
        self._store(data)

    def delete(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is not None:
            self._store(data)


KEYRING = "the system keyring"


class KeyringSecretStore:
    """The OS keyring. Each call is bounded (bounds.within): a keyring daemon that never answers
    raises NoAnswer ("the system keyring did not answer within N s") instead of hanging the
    command or window; a backend that fails (locked, gone, refusing) raises ConfigFileError
    naming the keyring, never the backend's traceback."""

    kind = "keyring"

    def _failed(self, exc: Exception, doing: str) -> ConfigFileError:
        import keyring

        kind = type(keyring.get_keyring())
        backend = f"{kind.__module__}.{kind.__qualname__}"
        return ConfigFileError(
            f"the system keyring ({backend})",
            f"cannot {doing}: {type(exc).__name__}: {exc} (set {BACKEND_ENV}=file to keep "
            "passwords in a 0600 file instead)",
        )

    def get(self, key: str) -> str | None:
        import keyring

        try:
            value: Any = within(
                KEYRING_TIMEOUT_S, KEYRING, keyring.get_password, KEYRING_SERVICE, key
            )
        except NoAnswer:
            raise
        except Exception as exc:
            raise self._failed(exc, "read a password") from exc
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        import keyring

        try:
            within(KEYRING_TIMEOUT_S, KEYRING, keyring.set_password, KEYRING_SERVICE, key, value)
        except NoAnswer:
            raise
        except Exception as exc:
            raise self._failed(exc, "store a password") from exc

    def delete(self, key: str) -> None:
        import keyring
        import keyring.errors

        def delete() -> None:
            with suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, key)

        try:
            within(KEYRING_TIMEOUT_S, KEYRING, delete)
        except NoAnswer:
            raise
        except Exception as exc:
            raise self._failed(exc, "delete a password") from exc


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
