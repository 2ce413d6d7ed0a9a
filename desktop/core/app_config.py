"""What a profile's Celery app says about itself, read in a child process.

User code can hang, crash or print at import time; a child with a timeout keeps all of that
away from the panel, and a profile's own interpreter and working directory are honoured.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.core import app_probe, urls
from desktop.core.profiles import Profile, QueueSpec, TransportOptions

PROBE_TIMEOUT_S = 20.0
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


class AppConfigError(RuntimeError):
    """The app module could not be read; the message says why, in a sentence."""


@dataclass(frozen=True)
class TaskInfo:
    name: str
    params: list[dict[str, Any]]
    doc: str = ""
    queue: str | None = None


@dataclass(frozen=True)
class AppConfig:
    main: str
    result_backend: str
    default_queue: str
    queues: list[QueueSpec]
    routes: Any
    transport_options: dict[str, Any]
    default_priority: int | None
    acks_late: bool
    prefetch_multiplier: int
    tasks: list[TaskInfo] = field(default_factory=list)


def child_environment(profile: Profile, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a child of this profile runs in: its workdir on PYTHONPATH, Django set."""
    env = dict(os.environ if base is None else base)
    workdir = str(Path(profile.workdir).expanduser()) if profile.workdir else os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (workdir, env.get("PYTHONPATH", "")) if p)
    if profile.django_settings:
        env["DJANGO_SETTINGS_MODULE"] = profile.django_settings
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def read_app_config(profile: Profile, timeout: float = PROBE_TIMEOUT_S) -> AppConfig:
    interpreter = str(Path(profile.python).expanduser()) if profile.python else sys.executable
    workdir = str(Path(profile.workdir).expanduser()) if profile.workdir else os.getcwd()
    if not Path(workdir).is_dir():
        raise AppConfigError(f"working directory '{workdir}' does not exist")
    env = child_environment(profile)
    # Apps that read their broker from the environment (the tutorial's CELERY_BROKER) then
    # report values consistent with this profile. The probe never connects: no password.
    for variable, value in (
        ("CELERY_BROKER", profile.broker_url),
        ("CELERY_BACKEND", profile.result_backend),
    ):
        if urls.scheme_of(value):
            env[variable] = urls.split_password(value).url
    try:
        child = subprocess.Popen(
            [interpreter, app_probe.__file__, profile.app_module],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AppConfigError(f"cannot run {interpreter}: {exc.strerror or exc}") from exc
    with _running_lock:
        _running.add(child)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(child)
        child.communicate()
        raise AppConfigError(
            f"importing '{profile.app_module}' did not finish within {timeout:.0f} s"
        ) from exc
    finally:
        with _running_lock:
            _running.discard(child)
    if child.returncode and child.returncode < 0:
        raise AppConfigError(f"reading '{profile.app_module}' was stopped")
    return parse_probe_output(
        stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), profile.app_module
    )


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def cancel_running_probes() -> int:
    """Kill every probe child still importing user code; the app calls this when it quits."""
    with _running_lock:
        children = list(_running)
    for child in children:
        _kill_group(child)
    return len(children)


def parse_probe_output(stdout: str, stderr: str, module: str) -> AppConfig:
    line = next(
        (ln for ln in reversed(stdout.splitlines()) if ln.startswith(app_probe.MARKER)), None
    )
    if line is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no output"
        raise AppConfigError(f"reading '{module}' failed: {tail}")
    data = json.loads(line[len(app_probe.MARKER) :])
    if not data.get("ok"):
        raise AppConfigError(f"cannot import Celery app '{module}': {data.get('error')}")
    queues = [
        QueueSpec(
            name=str(q["name"]),
            max_priority=q.get("max_priority") if isinstance(q.get("max_priority"), int) else None,
            routing_keys=[str(q["routing_key"])] if q.get("routing_key") else [],
        )
        for q in data.get("queues", [])
    ]
    return AppConfig(
        main=str(data.get("main") or module),
        result_backend=str(data.get("result_backend") or ""),
        default_queue=str(data.get("default_queue") or "celery"),
        queues=queues,
        routes=data.get("routes"),
        transport_options=dict(data.get("transport_options") or {}),
        default_priority=data.get("default_priority"),
        acks_late=bool(data.get("acks_late")),
        prefetch_multiplier=int(data.get("prefetch_multiplier") or 4),
        tasks=[
            TaskInfo(t["name"], list(t.get("params", [])), t.get("doc", ""), t.get("queue"))
            for t in data.get("tasks", [])
        ],
    )


def apply_app_defaults(profile: Profile, config: AppConfig) -> Profile:
    """Fill the profile's queues, transport options and backend from the app's own config.

    What the person already set explicitly (a non-default backend URL) is kept.
    """
    transport_fields = TransportOptions.__dataclass_fields__
    known = {k: v for k, v in config.transport_options.items() if k in transport_fields}
    transport = TransportOptions(**{**profile.transport.__dict__, **known})
    if isinstance(transport.priority_steps, tuple):
        transport.priority_steps = list(transport.priority_steps)
    queues = config.queues or [QueueSpec(config.default_queue)]
    backend = profile.result_backend
    if not backend and config.result_backend and urls.scheme_of(config.result_backend):
        backend = config.result_backend
    return Profile(
        **{
            **profile.__dict__,
            "transport": transport,
            "queues": queues,
            "result_backend": backend,
        }
    )
