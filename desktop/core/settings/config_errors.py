"""The two ways a person's configuration can be refused, fit to show as they are.

`ProfileError` is a profile whose fields are wrong (the dialog puts each message by its field);
`ConfigFileError` is one of the panel's own stores (profiles.toml, secrets.json, the keyring, a
journal, the config and data directories) that cannot be read or written as it is. It names
the store and says what is wrong, and it is a `ProfileError`, so whatever shows a profile's
problems shows it too. Callers never see a traceback for a damaged file, and a store that
cannot be read is never written over.
"""

from __future__ import annotations

import os
from pathlib import Path


class ProfileError(ValueError):
    """Field-level problems, keyed by field path (`broker_url`, `queues[1].name`)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class ConfigFileError(ProfileError):
    """`where` (a file, or the keyring) cannot be used as it is: `problem` says why."""

    def __init__(self, where: str | os.PathLike[str], problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__({self.where: problem})


def os_problem(exc: OSError, doing: str) -> str:
    """An OSError as a person reads it: what was being done and the system's reason."""
    reason = exc.strerror or type(exc).__name__
    return f"cannot {doing}: {reason}"


def file_error(path: Path, exc: OSError, doing: str) -> ConfigFileError:
    """`path` (not a temporary file the write went through) and the system's reason."""
    return ConfigFileError(path, os_problem(exc, doing))
