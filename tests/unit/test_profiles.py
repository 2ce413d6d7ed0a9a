from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core.settings import urls
from desktop.core.settings.config_errors import ProfileError
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_checks import validate
from desktop.core.settings.profile_model import Profile, QueueSpec, TransportOverrides
from desktop.core.settings.profiles import ProfileStore
from desktop.core.settings.secret_store import FileSecretStore


@pytest.fixture
def store(isolated_config: Paths) -> ProfileStore:
    isolated_config.ensure()
    return ProfileStore(isolated_config, FileSecretStore(isolated_config.secrets_file))


def test_builtin_embedded_profile_is_valid_and_active(store: ProfileStore) -> None:
    profiles = store.load()
    assert [p.name for p in profiles] == ["embedded"]
    assert store.active_name() == "embedded"
    assert validate(profiles[0]) == {}
    # Queues and transport options are the app's own: the profile invents none of them.
    assert profiles[0].queues == []
    assert profiles[0].transport.chosen() == {}
    assert profiles[0].result_backend == "embedded"


def test_no_profile_default_differs_from_kombu() -> None:
    """A profile's transport options are overrides only: unset, each is the app's value or
    kombu's own default, never one of ours."""
    from dataclasses import fields

    assert all(getattr(TransportOverrides(), f.name) is None for f in fields(TransportOverrides))
    assert Profile(name="p").to_dict()["transport"] == {}


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"name": ""}, "name", "1-64 characters"),
        ({"name": "bad/name"}, "name", "1-64 characters"),
        ({"broker_url": ""}, "broker_url", "required"),
        ({"broker_url": "localhost:6379"}, "broker_url", "must look like"),
        ({"broker_url": "ftp://host/"}, "broker_url", "scheme 'ftp' is not supported"),
        ({"broker_url": "redis://"}, "broker_url", "no host"),
        ({"broker_url": "redis://h:99999/0"}, "broker_url", "port"),
        ({"broker_url": "redis://h:6379/zero"}, "broker_url", "database must be a number"),
        ({"result_backend": "mongodb://h/"}, "result_backend", "not supported"),
        ({"app_module": "1workers"}, "app_module", "dotted Python name"),
        ({"app_module": "class"}, "app_module", "dotted Python name"),
        ({"workdir": "/no/such/dir"}, "workdir", "does not exist"),
        ({"django_settings": "a..b"}, "django_settings", "dotted"),
        ({"python": "/no/python"}, "python", "not an executable"),
        ({"management_url": "ftp://h"}, "management_url", "not supported"),
    ],
)
def test_each_field_gets_its_own_message(change: dict[str, str], field: str, fragment: str) -> None:
    profile = replace(Profile(name="p", broker_url="redis://h:6379/0", result_backend=""), **change)
    errors = validate(profile)
    assert field in errors, errors
    assert fragment in errors[field]


def test_embedded_backend_needs_embedded_broker() -> None:
    errors = validate(Profile(name="p", broker_url="redis://h/0", result_backend="embedded"))
    assert "needs the embedded broker" in errors["result_backend"]


@pytest.mark.parametrize(
    ("transport", "field"),
    [
        (TransportOverrides(priority_steps=[3, 1]), "transport.priority_steps"),
        (TransportOverrides(priority_steps=[]), "transport.priority_steps"),
        (TransportOverrides(priority_steps=[0, 300]), "transport.priority_steps"),
        (TransportOverrides(queue_order_strategy="fifo"), "transport.queue_order_strategy"),
        (TransportOverrides(sep=""), "transport.sep"),
        (TransportOverrides(visibility_timeout=0), "transport.visibility_timeout"),
    ],
)
def test_transport_overrides_are_checked(transport: TransportOverrides, field: str) -> None:
    assert field in validate(Profile(name="p", transport=transport))


def test_queue_order_strategies_are_kombus_own() -> None:
    from kombu.utils.scheduling import CYCLE_ALIASES

    errors = validate(Profile(name="p", transport=TransportOverrides(queue_order_strategy="x")))
    assert all(name in errors["transport.queue_order_strategy"] for name in CYCLE_ALIASES)


def test_an_old_profiles_file_keeps_only_what_was_chosen(
    store: ProfileStore, isolated_config: Paths
) -> None:
    """Earlier versions wrote steps 0..9, the priority strategy and the demo app's queues into
    every profile; loading such a file keeps only values a person set to something else."""
    isolated_config.profiles_file.write_text(
        'active = "old"\n[[profiles]]\nname = "old"\nbroker_url = "redis://h:6379/0"\n'
        'result_backend = ""\n[profiles.transport]\nqueue_order_strategy = "priority"\n'
        'priority_steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\nsep = "\\u0006\\u0016"\n'
        'global_keyprefix = "app:"\nvisibility_timeout = 60\nunacked_restore_interval = 10\n'
        "unacked_restore_throttle = 10\n"
        '[[profiles.queues]]\nname = "queue1"\nmax_priority = 10\nrouting_keys = ["queue1"]\n'
        '[[profiles.queues]]\nname = "queue2"\nmax_priority = 10\nrouting_keys = ["queue2"]\n'
        '[[profiles.queues]]\nname = "tasks"\nmax_priority = 10\nrouting_keys = ["tasks"]\n'
    )
    old = store.get("old")
    assert old.transport.chosen() == {"global_keyprefix": "app:", "visibility_timeout": 60}
    assert old.queues == []


def test_setting_the_fingerprint_keeps_the_password(store: ProfileStore) -> None:
    store.save(Profile(name="r", broker_url="redis://:pw@h:6379/0", result_backend=""))
    store.set_fingerprint("r", "abc123")
    assert store.get("r").app_fingerprint == "abc123"
    assert urls.password_of(store.with_secrets(store.get("r")).broker_url) == "pw"


def test_queue_problems_point_at_the_row() -> None:
    profile = Profile(
        name="p",
        queues=[QueueSpec("a"), QueueSpec("a"), QueueSpec("b", 300), QueueSpec(" c")],
    )
    errors = validate(profile)
    assert "listed twice" in errors["queues[1].name"]
    assert "between 1 and 255" in errors["queues[2].max_priority"]
    assert "outer spaces" in errors["queues[3].name"]


def test_password_goes_to_the_secret_store_not_the_toml(
    store: ProfileStore, isolated_config: Paths
) -> None:
    store.save(
        Profile(name="rabbit", broker_url="amqp://guest:hunter2@h:5672//", result_backend="")
    )
    text = isolated_config.profiles_file.read_text()
    assert "hunter2" not in text
    assert "amqp://guest@h:5672//" in text
    assert stat.S_IMODE(isolated_config.profiles_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_config.secrets_file.stat().st_mode) == 0o600
    assert json.loads(isolated_config.secrets_file.read_text()) == {
        "profile/rabbit/broker_url": "hunter2"
    }
    loaded = store.get("rabbit")
    assert urls.password_of(loaded.broker_url) is None
    assert urls.password_of(store.with_secrets(loaded).broker_url) == "hunter2"


def test_masked_password_keeps_the_stored_one_and_rename_moves_it(store: ProfileStore) -> None:
    store.save(Profile(name="r", broker_url="redis://:pw1@h:6379/0", result_backend=""))
    shown = store.with_secrets(store.get("r")).masked()
    assert shown.broker_url == "redis://:****@h:6379/0"
    store.save(replace(shown, name="renamed"), replace_name="r")
    assert [p.name for p in store.load()] == ["embedded", "renamed"]
    restored = store.with_secrets(store.get("renamed"))
    assert urls.password_of(restored.broker_url) == "pw1"
    assert store.secrets.get("profile/r/broker_url") is None


def test_rename_onto_an_existing_name_is_refused(store: ProfileStore) -> None:
    store.save(Profile(name="a", broker_url="redis://h/0", result_backend=""))
    store.save(Profile(name="b", broker_url="redis://h/1", result_backend=""))
    with pytest.raises(ProfileError) as raised:
        store.save(Profile(name="b", broker_url="redis://h/2", result_backend=""), replace_name="a")
    assert "already exists" in raised.value.errors["name"]
    assert store.get("b").broker_url == "redis://h/1"


def test_creating_over_an_existing_name_is_refused(store: ProfileStore) -> None:
    store.save(Profile(name="a", broker_url="redis://h/0", result_backend=""))
    with pytest.raises(ProfileError) as raised:
        store.save(Profile(name="a", broker_url="redis://h/5", result_backend=""), create=True)
    assert "already exists" in raised.value.errors["name"]
    assert store.get("a").broker_url == "redis://h/0"
    store.save(Profile(name="a", broker_url="redis://h/5", result_backend=""))
    assert store.get("a").broker_url == "redis://h/5"


def test_invalid_profile_is_not_written(store: ProfileStore, isolated_config: Paths) -> None:
    with pytest.raises(ProfileError) as raised:
        store.save(Profile(name="x", broker_url="ftp://h"))
    assert "broker_url" in raised.value.errors
    assert not isolated_config.profiles_file.exists()


def test_remove_deletes_secret_and_builtin_cannot_go(store: ProfileStore) -> None:
    store.save(Profile(name="r", broker_url="redis://:pw@h:6379/0", result_backend=""))
    store.set_active("r")
    store.remove("r")
    assert store.secrets.get("profile/r/broker_url") is None
    assert store.active_name() == "embedded"
    with pytest.raises(ProfileError):
        store.remove("embedded")
    with pytest.raises(ProfileError):
        store.remove("nope")


def test_broken_toml_and_unknown_keys_give_clear_errors(
    store: ProfileStore, isolated_config: Paths
) -> None:
    isolated_config.profiles_file.write_text("[[profiles]\nname=")
    with pytest.raises(ProfileError) as raised:
        store.load()
    assert "not valid TOML" in str(raised.value)
    isolated_config.profiles_file.write_text('[[profiles]]\nname = "a"\nbrokr_url = "x"\n')
    with pytest.raises(ProfileError) as raised:
        store.load()
    assert "brokr_url" in str(raised.value)


def test_round_trip_keeps_every_setting(store: ProfileStore) -> None:
    original = Profile(
        name="full",
        broker_url="amqp://u@h:5672/v",
        result_backend="redis://h:6379/1",
        app_module="dcelery",
        workdir=str(Path.cwd()),
        django_settings="dcelery.settings",
        management_url="http://h:15672",
        transport=TransportOverrides(
            priority_steps=[0, 3, 6, 9], sep=":", global_keyprefix="app:", visibility_timeout=60
        ),
        queues=[QueueSpec("tasks", 10, ["tasks", "urgent"]), QueueSpec("plain")],
        app_fingerprint="0123abcd",
        redacted_arguments=["pin", "password"],
        keep_argument_values=True,
    )
    store.save(original)
    assert store.get("full") == original


def test_keep_argument_values_is_off_unless_chosen_and_must_be_true_or_false() -> None:
    assert Profile("p").keep_argument_values is False
    assert Profile.from_dict({"name": "p"}).keep_argument_values is False
    with pytest.raises(ProfileError) as raised:
        Profile.from_dict({"name": "p", "keep_argument_values": "yes"})
    assert "keep_argument_values" in str(raised.value)
