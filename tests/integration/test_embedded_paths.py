"""The embedded broker's data path goes into redis.conf quoted as Redis reads it (issue 13,
defect 12): a real redis-server started in a directory with a hostile name."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.broker.embedded import EmbeddedRedis, redis_quoted
from desktop.core.settings.secret_store import FileSecretStore


@pytest.mark.parametrize(
    "name", ['a" b\\', "with spaces and 'quotes'", 'x"\nrequirepass ""', "tab\tand é"]
)
def test_the_broker_starts_and_keeps_its_data_in_a_directory_with_a_hostile_name(
    tmp_path: Path, name: str
) -> None:
    root = tmp_path / name / "embedded"
    broker = EmbeddedRedis(root, FileSecretStore(tmp_path / "secrets.json"))
    try:
        status = broker.start()
        assert status.running, broker.status().detail
        client = broker._client(status.port or 0)
        try:
            assert client.config_get("dir")["dir"] == str(broker.data_dir)
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()
    finally:
        broker.stop()
    assert (broker.data_dir / "appendonlydir").is_dir() or any(broker.data_dir.iterdir())


def test_quoting_keeps_one_argument() -> None:
    assert redis_quoted('a" b\\') == '"a\\" b\\\\"'
    assert redis_quoted("a\nb") == '"a\\x0ab"'
