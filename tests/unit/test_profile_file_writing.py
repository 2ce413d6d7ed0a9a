"""profiles.toml written with tomlkit over what it holds: the person's layout stays."""

from __future__ import annotations

from desktop.core.services import Services
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile, QueueSpec


def test_saving_again_changes_nothing_and_a_removed_profile_leaves_no_trace(
    isolated_config: Paths,
) -> None:
    profiles = Services.open().profiles
    profiles.save(Profile(name="a", broker_url="redis://h/0", result_backend=""))
    profiles.save(Profile(name="b", broker_url="redis://h/1", result_backend=""))
    once = isolated_config.profiles_file.read_bytes()
    for _ in range(5):
        profiles.save(Profile(name="b", broker_url="redis://h/1", result_backend=""))
    assert isolated_config.profiles_file.read_bytes() == once
    profiles.save(
        Profile(name="c", broker_url="redis://h/2", result_backend="", queues=[QueueSpec("q", 5)])
    )
    profiles.remove("c")
    assert isolated_config.profiles_file.read_bytes() == once


def test_an_inline_profiles_array_and_other_tables_are_read_and_written(
    isolated_config: Paths,
) -> None:
    isolated_config.ensure()
    isolated_config.profiles_file.write_text(
        '# top\nprofiles = [{name = "a", broker_url = "redis://h/0", result_backend = ""}]\n'
        'active = "a"\n[elsewhere]\nkept = 1\n',
        encoding="utf-8",
    )
    profiles = Services.open().profiles
    profiles.save(Profile(name="b", broker_url="redis://h/1", result_backend=""), create=True)
    assert {p.name for p in profiles.load()} == {"embedded", "a", "b"}
    assert profiles.active_name() == "a"
    text = isolated_config.profiles_file.read_text(encoding="utf-8")
    assert text.startswith("# top\n")
    assert "[elsewhere]\nkept = 1" in text
