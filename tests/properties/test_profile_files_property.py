"""Whatever profiles.toml holds, reading it either gives profiles the panel can use or raises
the one clear error naming the file (issue 13, defect 10): never a traceback."""

from __future__ import annotations

import atexit
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli.base import Selection
from desktop.core.broker.embedded import EmbeddedRedis
from desktop.core.services import Services
from desktop.core.settings import urls
from desktop.core.settings.config_errors import ConfigFileError
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile
from desktop.core.settings.profiles import ProfileStore
from desktop.core.settings.secret_store import FileSecretStore

_ROOT = Path(
    tempfile.mkdtemp(prefix="profile-files-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
)
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
# Built here, not from the environment: collection runs before the per-test isolation.
_PATHS = Paths(config_dir=_ROOT, data_dir=_ROOT / "data")
_SECRETS = FileSecretStore(_PATHS.secrets_file)
_SERVICES = Services(
    _PATHS, _SECRETS, ProfileStore(_PATHS, _SECRETS), EmbeddedRedis(_PATHS.embedded_dir, _SECRETS)
)
_SELECTION = Selection()
_PROFILES_FILE = _SERVICES.paths.profiles_file

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
toml_values = st.recursive(
    scalars.filter(lambda v: v is not None),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(string.ascii_letters + "_", min_size=1, max_size=12), inner, max_size=4
        )
    ),
    max_leaves=5,
)
url_parts = st.sampled_from(
    [
        "redis://",
        "rediss://",
        "amqp://",
        "ftp://",
        "redis://[",
        "redis://[::1",
        "",
        "://",
        "embedded",
    ]
)
hosts = st.text(string.printable, max_size=20)
urls_ = st.builds(lambda a, b: a + b, url_parts, hosts) | st.sampled_from(
    [
        "redis://[::1/0",
        "redis://h:99999/0",
        "redis://h:x/0",
        "redis://u:p@h/0?password=x",
        urls.EMBEDDED,
    ]
)
field_names = st.sampled_from([*Profile.__dataclass_fields__, "port", "transport", "queues"])
profile_tables = st.dictionaries(
    field_names,
    st.one_of(toml_values, urls_),
    max_size=4,
).map(lambda d: {"name": d.pop("name", "p"), **d} if d.get("name", "p") is not None else d)
documents = st.fixed_dictionaries(
    {},
    optional={
        "active": st.one_of(st.text(max_size=10), toml_values),
        "profiles": st.one_of(st.lists(profile_tables, max_size=2), toml_values),
    },
)


def _as_toml(document: dict[str, Any]) -> bytes | None:
    try:
        return tomlkit.dumps(document).encode()
    except (TypeError, ValueError):
        return None


contents = st.one_of(
    st.binary(max_size=100),
    st.text(max_size=100).map(str.encode),
    documents.map(_as_toml).filter(lambda b: b is not None),
)


@pytest.mark.slow  # 10,000 cases: about 30 s on a quiet core
@settings(
    max_examples=int(os.environ.get("PROFILE_FILE_EXAMPLES", "10000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(contents)
def test_any_profiles_file_loads_or_raises_the_one_config_error(content: bytes) -> None:
    """As `celery-desk profile list` and every command's profile choice read it."""
    _PROFILES_FILE.write_bytes(content)
    try:
        profiles = _SERVICES.profiles.load()
        chosen = _SELECTION.resolve(_SERVICES)
    except ConfigFileError as exc:
        assert str(_PROFILES_FILE) in str(exc)
        return
    assert chosen.name in {p.name for p in profiles}
    for profile in profiles:  # what the commands do next with a loaded profile
        _SERVICES.profiles.with_secrets(profile).masked()
        _SERVICES.journal_path(profile)
        assert profile.broker_kind in ("embedded", "redis", "rabbitmq")
