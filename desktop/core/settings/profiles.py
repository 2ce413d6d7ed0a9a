"""Broker profiles stored as TOML: what a person connects to.

Passwords never reach the TOML file: `ProfileStore.save` moves them to the secret store and
`ProfileStore.endpoints` puts them back only in memory, just before a connection is made. The
profile's shape lives in `profile_model` and its checks in `profile_checks`.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from typing import Any

import tomlkit
import tomlkit.exceptions
import tomlkit.items

from desktop.core.base.files import write_atomic
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ConfigFileError, ProfileError, file_error
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_checks import validate, validate_fields
from desktop.core.settings.profile_model import _SECRET_FIELDS, DEFAULT_PROFILE_NAME, Profile
from desktop.core.settings.secret_store import SecretStore


class ProfileStore:
    """profiles.toml (no secrets) plus the secret store; the embedded profile always exists."""

    def __init__(self, paths: Paths, secrets: SecretStore) -> None:
        self.paths = paths
        self.secrets = secrets

    @staticmethod
    def builtin() -> Profile:
        return Profile(name=DEFAULT_PROFILE_NAME)

    def _text(self) -> str | None:
        """profiles.toml as text; None when there is none yet."""
        path = self.paths.profiles_file
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ConfigFileError(
                path, f"is not UTF-8 text (byte {exc.start}): fix or remove the file"
            ) from exc
        except OSError as exc:
            raise file_error(path, exc, "read it") from exc

    def _read(self) -> dict[str, Any]:
        """The file's tables, shaped as the panel writes them (ConfigFileError otherwise)."""
        path = self.paths.profiles_file
        raw = self._text()
        if raw is None:
            return {}
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(path, f"is not valid TOML: {exc}") from exc
        if not isinstance(data.get("profiles", []), list):
            raise ConfigFileError(path, "'profiles' must be a list of [[profiles]] tables")
        if not isinstance(data.get("active", ""), str):
            raise ConfigFileError(path, "'active' must be the name of a profile, as text")
        return data

    def load(self) -> list[Profile]:
        """Every profile of the file, each checked as when it was saved: a damaged or
        hand-broken file raises ConfigFileError naming it, the profile and the field."""
        profiles = []
        for index, item in enumerate(self._read().get("profiles", [])):
            where = f"profile {index + 1}"
            if not isinstance(item, dict):
                raise ConfigFileError(self.paths.profiles_file, f"{where} is not a table")
            if isinstance(item.get("name"), str):
                where += f" ('{item['name']}')"
            try:
                profile = Profile.from_dict(item)
                errors = validate_fields(profile)
            except ProfileError as exc:
                errors = exc.errors
            if errors:
                problems = "; ".join(f"{k}: {v}" for k, v in errors.items())
                raise ConfigFileError(self.paths.profiles_file, f"{where}: {problems}")
            profiles.append(profile)
        if not any(p.name == DEFAULT_PROFILE_NAME for p in profiles):
            profiles.insert(0, self.builtin())
        return profiles

    def active_name(self) -> str:
        name = self._read().get("active")
        names = {p.name for p in self.load()}
        return name if isinstance(name, str) and name in names else DEFAULT_PROFILE_NAME

    def get(self, name: str) -> Profile:
        for profile in self.load():
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.load())
        raise ProfileError({"name": f"no profile named '{name}' (known: {known})"})

    def _write(self, profiles: list[Profile], active: str) -> None:
        """Write the file with tomlkit over what it holds, so a person's comments and layout
        stay; each profile's table is updated in place, key by key."""
        path = self.paths.profiles_file
        raw = self._text() or ""
        try:
            document = tomlkit.parse(raw)
        except tomlkit.exceptions.TOMLKitError as exc:
            raise ConfigFileError(path, f"is not valid TOML: {exc}") from exc
        document["active"] = active
        tables = document.get("profiles")
        if not isinstance(tables, tomlkit.items.AoT):  # none yet, or an inline array
            document.pop("profiles", None)
            tables = tomlkit.aot()
            document.append("profiles", tables)
        wanted = {p.name: p for p in profiles}
        for index in reversed(range(len(tables))):  # [[profiles]] tables keep their comments
            if tables[index].get("name") not in wanted:
                del tables[index]
        present = {t.get("name"): t for t in tables}
        for profile in profiles:
            table = present.get(profile.name)
            if table is None:
                table = tomlkit.table()
                _update_table(table, profile.to_dict())
                tables.append(table)
            else:
                _update_table(table, profile.to_dict())
        try:
            write_atomic(path, tomlkit.dumps(document), mode=0o600)
        except OSError as exc:
            raise file_error(path, exc, "write it") from exc

    def _secret_key(self, profile_name: str, field_name: str) -> str:
        return f"profile/{profile_name}/{field_name}"

    def save(
        self, profile: Profile, *, replace_name: str | None = None, create: bool = False
    ) -> Profile:
        """Validate, move passwords to the secret store and write the TOML atomically.

        A URL whose password is the mask (`****`) keeps the stored password, so editing a
        shown profile never wipes its secret. `replace_name` renames an existing profile;
        `create` refuses to overwrite one that already has the name.
        """
        errors = validate(profile)
        if errors:
            raise ProfileError(errors)
        profiles = self.load()
        old_name = replace_name or profile.name
        renaming = replace_name is not None and replace_name != profile.name
        if (create or renaming) and any(p.name == profile.name for p in profiles):
            raise ProfileError({"name": f"a profile named '{profile.name}' already exists"})
        stored = replace(profile)
        for field_name in _SECRET_FIELDS:
            value: str = getattr(profile, field_name)
            split = urls.split_password(value)
            key = self._secret_key(profile.name, field_name)
            old_key = self._secret_key(old_name, field_name)
            if split.password == urls.MASK:
                kept = self.secrets.get(old_key)
                if kept is not None and old_key != key:
                    self.secrets.set(key, kept)
            elif split.password is not None:
                self.secrets.set(key, split.password)
            else:
                self.secrets.delete(key)
            if old_key != key:
                self.secrets.delete(old_key)
            setattr(stored, field_name, split.url)
        remaining = [p for p in profiles if p.name not in (old_name, profile.name)]
        position = next((i for i, p in enumerate(profiles) if p.name == old_name), len(remaining))
        remaining.insert(min(position, len(remaining)), stored)
        active = self.active_name()
        if active == old_name:
            active = profile.name
        self._write(remaining, active)
        return stored

    def remove(self, name: str) -> None:
        if name == DEFAULT_PROFILE_NAME:
            raise ProfileError({"name": "the embedded profile is built in and cannot be removed"})
        profiles = self.load()
        if not any(p.name == name for p in profiles):
            raise ProfileError({"name": f"no profile named '{name}'"})
        for field_name in _SECRET_FIELDS:
            self.secrets.delete(self._secret_key(name, field_name))
        active = self.active_name()
        self._write(
            [p for p in profiles if p.name != name],
            DEFAULT_PROFILE_NAME if active == name else active,
        )

    def set_fingerprint(self, name: str, fingerprint: str) -> None:
        """Remember which effective configuration of its app the profile was read with; the
        rest of the profile and its secrets stay as they are."""
        profiles = self.load()
        found = next((p for p in profiles if p.name == name), None)
        if found is None:
            raise ProfileError({"name": f"no profile named '{name}'"})
        found.app_fingerprint = fingerprint
        self._write(profiles, self.active_name())

    def set_active(self, name: str) -> None:
        self.get(name)
        self._write(self.load(), name)

    def with_secrets(self, profile: Profile) -> Profile:
        """The profile with stored passwords joined back into its URLs (memory only)."""
        restored = replace(profile)
        for field_name in _SECRET_FIELDS:
            value: str = getattr(profile, field_name)
            if urls.password_of(value) not in (None, urls.MASK):
                continue
            password = self.secrets.get(self._secret_key(profile.name, field_name))
            if password is not None:
                bare = urls.split_password(value).url
                setattr(restored, field_name, urls.join_password(bare, password))
        return restored


def _update_table(table: Any, values: dict[str, Any]) -> None:
    """Set what changed and drop what is gone; a key that keeps its value keeps its comment."""
    for key in [k for k in table if k not in values]:
        del table[key]
    for key, value in values.items():
        if key not in table or _plain(table[key]) != value:
            table[key] = value


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value
