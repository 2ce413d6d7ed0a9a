from __future__ import annotations

import stat
from pathlib import Path

from desktop.core.settings.secret_store import FileSecretStore, open_secret_store


def test_file_store_is_private_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "secrets.json"
    store = FileSecretStore(path)
    store.set("k", "v")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileSecretStore(path).get("k") == "v"
    store.delete("k")
    assert FileSecretStore(path).get("k") is None
    assert not list(path.parent.glob(".*.tmp"))


def test_env_forces_the_file_store(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CELERY_DESK_SECRETS", "file")
    assert open_secret_store(tmp_path / "s.json").kind == "file"
