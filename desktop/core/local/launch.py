"""How a profile's local worker is launched: its command line, its environment, and the record
its keeper reads. Pure functions of the profile and the app's configuration.

Why apart from the supervisor: what a worker is started with is a contract of its own (no
secret in argv or in the record, the transport options travelling by environment), tested on
its own, while the supervisor owns the lifecycle (files, locks, signals, adoption).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from desktop.core.app.config import app_environment
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.local import worker_keeper
from desktop.core.local.worker_keeper import Watch
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.settings.profile_model import Endpoints, Profile


def workdir(profile: Profile) -> str:
    return str(Path(profile.workdir).expanduser()) if profile.workdir else os.getcwd()


def interpreter(profile: Profile) -> str:
    return str(Path(profile.python).expanduser()) if profile.python else sys.executable


def worker_argv(profile: Profile, spec: WorkerSpec, config: EffectiveConfig) -> list[str]:
    """`celery -A APP worker` as a person would start it. Settings `celery worker` has no
    option for go after `--` as config overrides; they hold no secret (ps shows them).
    The transport options are the app's own unless the profile overrides one on purpose:
    then the app's options with the overrides over them (the whole setting is replaced)."""
    argv = [interpreter(profile), "-m", "celery", "-A", profile.app_module]
    argv += spec.worker_args()
    extra: list[str] = []
    if spec.acks_late is not None:
        extra.append(f"task_acks_late={'true' if spec.acks_late else 'false'}")
    extra += transport_overrides(config)
    return argv + (["--", *extra] if extra else [])


def transport_overrides(config: EffectiveConfig) -> list[str]:
    """The config override a process of the profile (a worker, its beat) is started with when
    the profile overrides a transport option on purpose: the app's options with the overrides
    over them, so it sends and reads as the panel does (priority steps, a key prefix)."""
    if not config.overrides:
        return []
    options = json.dumps(config.sending_transport_options(), separators=(",", ":"))
    return [f"broker_transport_options=(json){options}"]


def worker_environment(profile: Profile, endpoints: Endpoints) -> dict[str, str]:
    """Broker and backend reach the worker here, never in its argv (ps shows argv): the
    same environment the app probe reads the app's configuration in."""
    return app_environment(profile, endpoints)


def keeper_environment(
    profile: Profile, endpoints: Endpoints, config: EffectiveConfig
) -> dict[str, str]:
    """The worker's environment plus the transport options the keeper pings with: they
    may hold a password (a sentinel's), so they travel here and not in the record."""
    options = json.dumps(config.sending_transport_options(), separators=(",", ":"))
    return {
        **worker_environment(profile, endpoints),
        worker_keeper.TRANSPORT_OPTIONS_ENV: options,
    }


def keeper_record(
    profile: Profile, spec: WorkerSpec, config: EffectiveConfig, watch: Watch
) -> dict[str, Any]:
    """What the keeper reads from `workers/<key>/<name>.json`: no secret, since that file
    is outside the secret store. How the keeper pings its worker is there by the names of
    the environment variables (`keeper_environment`) that hold the broker's URL and the
    transport options, never their values."""
    return {
        "spec": spec.to_dict(),
        "nodename": spec.nodename,
        "profile": profile.name,
        "argv": worker_argv(profile, spec, config),
        "workdir": workdir(profile),
        "auto_restart": spec.auto_restart,
        "watch": watch.to_dict(),
        # Names, not values: the keeper hides their values in the worker's log (HiddenLines).
        "redacted_arguments": list(profile.redacted_arguments),
        "ping": {
            "broker_url_env": "CELERY_BROKER_URL",
            "transport_options_env": worker_keeper.TRANSPORT_OPTIONS_ENV,
            "control_exchange": config.settings.get("control_exchange") or "celery",
        },
        "created": time.time(),
        "host": socket.gethostname(),
    }
