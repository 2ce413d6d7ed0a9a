"""A per-profile TOML file that holds one list of tables (`[[views]]`, `[[rules]]`): read with
what is wrong said, written atomically, and a file that cannot be read moved aside before it
is replaced, never written over. The saved views and the alert rules keep theirs this way."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit

from desktop.core.base.files import write_atomic
from desktop.core.settings.config_errors import file_error


def read_table_list(path: Path, key: str) -> list[Any] | None:
    """The `[[key]]` tables of the file (not checked further); None when there is no file.
    ValueError says what is wrong with the file (OSError: the file system's reason)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"is not valid TOML: {exc}") from exc
    tables = data.get(key, [])
    if not isinstance(tables, list):
        raise ValueError(f"'{key}' must be a list of [[{key}]] tables")
    return tables


def write_table_list(
    path: Path,
    key: str,
    tables: Sequence[Mapping[str, Any]],
    comment: str,
    readable: Callable[[Path], object],
) -> Path | None:
    """Write `tables` as `[[key]]` atomically (tomlkit), with a comment on top. A file there
    that `readable(path)` refuses (ValueError, OSError) is moved aside to `<name>.damaged`
    first; its new path is returned. ConfigFileError when the disk refuses."""
    kept_aside = None
    try:
        readable(path)
    except (ValueError, OSError):
        kept_aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, kept_aside)
        except OSError as exc:
            raise file_error(path, exc, "move the damaged file aside") from exc
    document = tomlkit.document()
    document.add(tomlkit.comment(comment))
    written = tomlkit.aot()
    for values in tables:
        table = tomlkit.table()
        table.update(dict(values))
        written.append(table)
    document.append(key, written)
    try:
        write_atomic(path, tomlkit.dumps(document), mode=0o600)
    except OSError as exc:
        raise file_error(path, exc, "write it") from exc
    return kept_aside
