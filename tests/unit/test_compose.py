"""compose.yaml and the Dockerfile cannot be run here (no Docker engine), so check their shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.queues import QUEUE_NAMES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
# Docker reference: lowercase path components, optional registry port, optional tag.
IMAGE_RE = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data["services"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _worker_queue(service: dict[str, Any]) -> str | None:
    command = _command(service)
    if "worker" not in command:
        return None
    for flag in ("-Q", "--queues"):
        if flag in command:
            return command[command.index(flag) + 1]
    pytest.fail(f"worker service without -Q: {command}")


def _build_dir(build: Any) -> Path:
    context = build if isinstance(build, str) else build.get("context", ".")
    return (COMPOSE.parent / context).resolve()


def _dockerfile(build: Any) -> Path:
    name = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    return _build_dir(build) / name


def test_image_reference_pattern_accepts_and_rejects() -> None:
    assert IMAGE_RE.match("redis:7")
    assert IMAGE_RE.match("rabbitmq:3-management")
    assert IMAGE_RE.match("ghcr.io/owner/image:1.2.3")
    assert not IMAGE_RE.match("Redis:7")
    assert not IMAGE_RE.match("redis:")
    assert not IMAGE_RE.match("")


def test_every_service_has_an_image_or_a_buildable_context(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "image" in service:
            assert IMAGE_RE.match(str(service["image"])), (name, service["image"])
        if "build" in service:
            assert _dockerfile(service["build"]).is_file(), name


def test_brokers_are_the_expected_images(services: dict[str, dict[str, Any]]) -> None:
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    ports = {str(port).split(":")[-1] for port in services["rabbitmq"]["ports"]}
    assert {"5672", "15672"} <= ports


def test_worker_queues_match_the_app(services: dict[str, dict[str, Any]]) -> None:
    queues = {}
    for name, service in services.items():
        queue = _worker_queue(service)
        if queue is None:
            continue
        command = _command(service)
        assert command[:4] == ["celery", "-A", "workers", "worker"], name
        assert "-E" in command, f"{name} must send task events for the panel"
        assert queue in QUEUE_NAMES, (name, queue)
        assert name == f"worker-{queue}"
        assert "redis" in service.get("depends_on", []), name
        assert service["environment"]["CELERY_BROKER"].startswith("redis://redis:"), name
        queues[queue] = name
    assert set(queues) == set(QUEUE_NAMES), "every queue needs a worker service"


def test_dockerfile_installs_the_project_as_non_root(services: dict[str, dict[str, Any]]) -> None:
    dockerfiles = {_dockerfile(s["build"]) for s in services.values() if "build" in s}
    assert dockerfiles == {ROOT / "Dockerfile"}
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.12-slim"
    assert any(re.match(r"RUN .*pip install (?:[^ ]+ )*\.(?:\s|$)", line) for line in lines)
    assert any(line.startswith("COPY pyproject.toml") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert lines[-1].startswith("CMD ")
    assert '"-Q", "tasks"' in lines[-1]
