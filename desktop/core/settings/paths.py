"""Where Celery Desk keeps its files, so every module and test agrees on one place."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from desktop.core.settings.config_errors import file_error

APP_NAME = "celery-desk"
CONFIG_DIR_ENV = "CELERY_DESK_CONFIG_DIR"
DATA_DIR_ENV = "CELERY_DESK_DATA_DIR"
_SAFE_KEY = re.compile(r"^[a-z0-9_.-]+$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")


def profile_key(profile_name: str) -> str:
    """The file name a profile's journal and worker directory are kept under, one per name.

    A name already safe as a file name on every system (lower-case letters, digits, `_ . -`)
    is its own key, so the journals of such profiles keep their path. Any other name gets a
    readable slug plus `+` and a hash of the exact name: "team a" and "team@a" (and "Team",
    on a file system blind to case) never share a file, and `+` never occurs in a safe name.
    """
    if _SAFE_KEY.match(profile_name):
        return profile_name
    slug = _UNSAFE_RUN.sub("_", profile_name).lower()[:48] or "_"
    digest = hashlib.sha256(profile_name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slug}+{digest}"


def legacy_profile_key(profile_name: str) -> str:
    """The key earlier versions used (each unsafe run made one `_`), which different names
    could share. Read only to find an existing install's files."""
    return _UNSAFE_RUN.sub("_", profile_name)


@dataclass(frozen=True)
class Paths:
    """The config dir (profiles, secrets) and data dir (embedded broker, logs, journals)."""

    config_dir: Path
    data_dir: Path

    @classmethod
    def resolve(cls, config_dir: str | os.PathLike[str] | None = None) -> Paths:
        """An explicit dir wins, then the environment, then platformdirs.

        When only the config dir is overridden, data goes beside it so that a test or a
        second installation never shares an embedded broker with the person's own.
        """
        chosen = config_dir or os.environ.get(CONFIG_DIR_ENV)
        if chosen:
            config = Path(chosen).expanduser().resolve()
            data_env = os.environ.get(DATA_DIR_ENV)
            data = Path(data_env).expanduser().resolve() if data_env else config / "data"
        else:
            config = Path(platformdirs.user_config_dir(APP_NAME))
            data_env = os.environ.get(DATA_DIR_ENV)
            data = (
                Path(data_env).expanduser().resolve()
                if data_env
                else Path(platformdirs.user_data_dir(APP_NAME))
            )
        return cls(config_dir=config, data_dir=data)

    @property
    def profiles_file(self) -> Path:
        return self.config_dir / "profiles.toml"

    @property
    def secrets_file(self) -> Path:
        return self.config_dir / "secrets.json"

    @property
    def embedded_dir(self) -> Path:
        return self.data_dir / "embedded-redis"

    def ensure(self) -> None:
        """Create both directories; one that cannot be made raises ConfigFileError."""
        for directory in (self.config_dir, self.data_dir):
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise file_error(directory, exc, "create the directory") from exc
