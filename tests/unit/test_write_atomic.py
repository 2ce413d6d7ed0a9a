"""Atomic writes never follow a link planted where the temporary file goes (issue 13, 12)."""

from __future__ import annotations

import os
from pathlib import Path

from desktop.core.base.files import write_atomic


def test_a_link_planted_at_the_old_predictable_temporary_name_is_not_followed(
    tmp_path: Path,
) -> None:
    target = tmp_path / "profiles.toml"
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("untouched", encoding="utf-8")
    planted = tmp_path / f".{target.name}.{os.getpid()}.tmp"
    planted.symlink_to(victim)
    write_atomic(target, "secret = 1\n", mode=0o600)
    assert victim.read_text(encoding="utf-8") == "untouched"
    assert target.read_text(encoding="utf-8") == "secret = 1\n"
    assert not target.is_symlink()
    assert oct(target.stat().st_mode & 0o777) == "0o600"
