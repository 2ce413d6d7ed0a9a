"""The person's app as Celery itself configures it: one effective configuration for everything.

What the panel sends, reads and starts must be exactly what the person's own app would send,
read and start. So nothing here is a default of ours: the app is imported in a child process
(user code can hang, crash or print at import time; the profile's own interpreter, working
directory, environment and DJANGO_SETTINGS_MODULE apply) and reports its configuration after
`app.finalize()`; what it leaves unset is Celery's default and, for the broker transport,
kombu's own (read from kombu's transport class in that interpreter). An app that cannot be
imported gets the same from a bare Celery app: Celery's and kombu's defaults, each marked so.
The profile adds only what the person overrode on purpose (shown as such), and keeps a
fingerprint of the configuration it was last read with, so a change of the app's settings
(drift) is shown where it matters.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from desktop.core.app import probe as app_probe
from desktop.core.app.effective_config import (
    Change,
    EffectiveConfig,
    TaskInfo,
    drift,
)
from desktop.core.app.queues import QueueInfo
from desktop.core.base.files import write_atomic
from desktop.core.settings import urls
from desktop.core.settings.profile_model import Endpoints, Profile
from desktop.core.settings.redaction import hide_secrets

PROBE_TIMEOUT_S = 20.0
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


class AppConfigError(RuntimeError):
    """The app module could not be read; the message says why, in a sentence."""


# -- reading ----------------------------------------------------------------------------------
def app_environment(
    profile: Profile, endpoints: Endpoints | None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment the app runs in, for the probe and for the workers the panel starts
    alike (so both see the same effective configuration): the profile's working directory on
    PYTHONPATH, DJANGO_SETTINGS_MODULE, and the broker (and an explicitly chosen backend) in
    the variables Celery prefers over the app's settings, plus the tutorial's CELERY_BROKER.
    Passwords travel here, never on a command line."""
    env = dict(os.environ if base is None else base)
    workdir = str(Path(profile.workdir).expanduser()) if profile.workdir else os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (workdir, env.get("PYTHONPATH", "")) if p)
    if profile.django_settings:
        env["DJANGO_SETTINGS_MODULE"] = profile.django_settings
    env.setdefault("PYTHONUNBUFFERED", "1")
    if endpoints is not None and urls.scheme_of(endpoints.broker_url):
        env["CELERY_BROKER_URL"] = endpoints.broker_url
        env["CELERY_BROKER"] = endpoints.broker_url
    if endpoints is not None and urls.scheme_of(endpoints.result_backend):
        env["CELERY_RESULT_BACKEND"] = endpoints.result_backend
        env["CELERY_BACKEND"] = endpoints.result_backend
    return env


def with_app_backend(endpoints: Endpoints, config: EffectiveConfig) -> Endpoints:
    """The profile's URLs with the result backend the app itself uses when the profile names
    none (with its password, in memory only: the app computed it, the profile keeps nothing)."""
    if endpoints.result_backend or not urls.scheme_of(config.result_backend):
        return endpoints
    return Endpoints(endpoints.broker_url, config.result_backend, endpoints.management_url)


def broker_kind_of(driver: str, url: str) -> str:
    scheme = driver or urls.scheme_of(url)
    if scheme in ("amqp", "amqps", "pyamqp", "librabbitmq"):
        return "rabbitmq"
    if scheme in ("redis", "rediss"):
        return "redis"
    return scheme or "redis"


def from_probe(data: dict[str, Any], profile: Profile, *, imported: bool = True) -> EffectiveConfig:
    """The effective configuration from the probe's (or `describe`'s) report."""
    transport = dict(data.get("transport") or {})
    priority_range = transport.get("priority_range")
    settings = dict(data.get("settings") or {})
    kind = broker_kind_of(str(transport.get("driver") or ""), str(data.get("broker_url") or ""))
    queues = [QueueInfo.from_json(q) for q in data.get("queues") or [] if isinstance(q, dict)]
    tasks = []
    for item in data.get("tasks") or []:
        route = dict((data.get("routes") or {}).get(item["name"]) or {})
        tasks.append(
            TaskInfo(
                name=str(item["name"]),
                params=list(item.get("params") or []),
                doc=str(item.get("doc") or ""),
                rate_limit=item.get("rate_limit"),
                ignore_result=bool(item.get("ignore_result")),
                exec_options=dict(item.get("exec_options") or {}),
                route=_route_of(route.get("raw")),
                queue=route.get("queue"),
                route_error=str(route.get("error") or ""),
            )
        )
    config = EffectiveConfig(
        main=str(data.get("main") or profile.app_module),
        namespace=str(data.get("namespace") or ""),
        broker_kind=kind,
        settings=settings,
        celery_defaults=dict(data.get("defaults") or {}),
        app_transport_options=dict(data.get("transport_options") or {}),
        transport_defaults=dict(transport.get("options") or {}),
        priority_range=(int(priority_range[0]), int(priority_range[1]))
        if isinstance(priority_range, list) and len(priority_range) == 2
        else None,
        transport_default_priority=int(transport.get("default_priority") or 0),
        overrides=profile.transport.chosen() if kind == "redis" else {},
        inexact=frozenset(str(k) for k in data.get("inexact") or []),
        queues=queues,
        tasks=tasks,
        task_routes=data.get("task_routes"),
        result_backend=str(data.get("result_backend") or ""),
        files=[str(f) for f in data.get("files") or []],
        imported=imported,
        beat_remote_control=bool(data.get("beat_remote_control")),
    )
    known = set(config.queue_names())
    config.queues += [
        QueueInfo.extra(spec, settings) for spec in profile.queues if spec.name not in known
    ]
    return config


def _route_of(raw: Any) -> dict[str, Any] | str:
    """A route as the app's routers returned it: a dict of options or a queue name."""
    return raw if isinstance(raw, dict | str) else {}


def _bare_description(url: str) -> dict[str, Any]:
    """`describe` of a bare Celery app in this process: Celery's and kombu's defaults. A
    scheme kombu has no transport for (a typo) gets Celery's settings and no transport."""
    from celery import Celery

    try:
        return app_probe.describe(Celery("default", broker=url or None, set_as_current=False))
    except (KeyError, ImportError):
        return app_probe.describe(Celery("default", broker="memory://", set_as_current=False))


def defaults_config(profile: Profile, broker_url: str, error: str) -> EffectiveConfig:
    """For an app that cannot be imported: Celery's and kombu's defaults, marked so."""
    # Never connected: the scheme only names the transport (the embedded broker is a Redis).
    description = _bare_description(f"{urls.scheme_of(broker_url) or 'redis'}://")
    return _as_defaults(description, profile, error)


def _as_defaults(description: dict[str, Any], profile: Profile, error: str) -> EffectiveConfig:
    """A bare app's description standing for the person's app that could not be imported."""
    config = from_probe(description, profile, imported=False)
    config.main, config.error, config.result_backend = profile.app_module, error, ""
    return config


def read_effective_config(
    profile: Profile, endpoints: Endpoints | None = None, timeout: float = PROBE_TIMEOUT_S
) -> EffectiveConfig:
    """Never raises: an app that cannot be read gives Celery's and kombu's defaults with the
    reason in `error` (and `imported` False)."""
    try:
        data = _run_probe(profile, endpoints, timeout)
    except AppConfigError as exc:
        fallback = getattr(exc, "fallback", None)
        broker = endpoints.broker_url if endpoints else profile.broker_url
        if isinstance(fallback, dict):  # kombu's defaults from the profile's own interpreter
            return _as_defaults(fallback, profile, str(exc))
        return defaults_config(profile, broker, str(exc))
    return from_probe(data, profile)


def read_app_config(
    profile: Profile, endpoints: Endpoints | None = None, timeout: float = PROBE_TIMEOUT_S
) -> EffectiveConfig:
    """Like read_effective_config, but an app that cannot be imported raises AppConfigError:
    for callers that must not go on with defaults (`profile add --from-app`)."""
    return from_probe(_run_probe(profile, endpoints, timeout), profile)


def _run_probe(
    profile: Profile,
    endpoints: Endpoints | None,
    timeout: float,
    script: str = app_probe.__file__,
    request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a child script (the probe, or a sibling such as `beat_probe`) that imports the
    person's app under the profile's interpreter, directory and environment, and read its one
    JSON report. Every child goes through here, so each is bounded, killed with what it
    started, and cancelled when the panel quits. `request` goes to the child as JSON on its
    standard input (never on its command line, which every user of the machine can read)."""
    interpreter = str(Path(profile.python).expanduser()) if profile.python else sys.executable
    workdir = str(Path(profile.workdir).expanduser()) if profile.workdir else os.getcwd()
    if not Path(workdir).is_dir():
        raise AppConfigError(f"working directory '{workdir}' does not exist")
    if endpoints is None and not profile.is_embedded:
        # Without its secrets the profile still names the broker (and a chosen backend):
        # the app's transport follows it, as it does for the workers the panel starts.
        endpoints = Endpoints(profile.broker_url, profile.result_backend, "")
    env = app_environment(profile, endpoints)
    secrets = _secrets_of(endpoints)
    try:
        child = subprocess.Popen(
            [interpreter, script, profile.app_module, _scheme_hint(profile, endpoints)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL if request is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AppConfigError(f"cannot run {interpreter}: {exc.strerror or exc}") from exc
    with _running_lock:
        _running.add(child)
    try:
        if child.stdin is not None:
            _hand_request(child.stdin, request)
        stdout, stderr = _read_report(child, timeout)
    except subprocess.TimeoutExpired as exc:
        raise AppConfigError(
            f"importing '{profile.app_module}' did not finish within {timeout:.0f} s"
        ) from exc
    finally:
        _kill_group(child)  # what the app started at import (threads, processes) goes too
        child.wait()
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
        with _running_lock:
            _running.discard(child)
    if child.returncode and child.returncode < 0 and app_probe.MARKER.encode() not in stdout:
        raise AppConfigError(f"reading '{profile.app_module}' was stopped")
    return parse_probe_output(
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
        profile.app_module,
        secrets,
    )


def _hand_request(pipe: IO[bytes], request: Mapping[str, Any] | None) -> None:
    """The request, read by the child before it imports the app (a few KB: the pipe's buffer
    takes it without waiting); a child that died at once is said by its report instead."""
    with contextlib.suppress(BrokenPipeError):
        pipe.write(json.dumps(request).encode())
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


def _read_report(child: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """The probe's output up to its report line. Not to the end of its pipes: a process the
    app started at import inherits them and would hold them open until the timeout, and the
    import's real error would be said as "did not finish"."""
    assert child.stdout is not None and child.stderr is not None
    deadline = time.monotonic() + timeout
    marker = app_probe.MARKER.encode()
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ, out)
        selector.register(child.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(child.args, timeout)
            for key, _events in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                key.data.extend(chunk)
            if _holds_report(out, marker):
                break
    return bytes(out), bytes(err)


def _holds_report(out: bytearray, marker: bytes) -> bool:
    """The last line is the probe's whole report (an app may print a look-alike at import)."""
    if not out.endswith(b"\n"):
        return False
    last = bytes(out[out.rfind(b"\n", 0, len(out) - 1) + 1 :])
    if not last.startswith(marker):
        return False
    try:
        json.loads(last[len(marker) :])
    except ValueError:
        return False
    return True


def _scheme_hint(profile: Profile, endpoints: Endpoints | None) -> str:
    """The broker's scheme for a child that cannot import the app (no password in argv)."""
    url = endpoints.broker_url if endpoints else profile.broker_url
    return urls.scheme_of(url) or "redis"  # the embedded broker is a Redis


def _secrets_of(endpoints: Endpoints | None) -> list[str]:
    if endpoints is None:
        return []
    found = (urls.password_of(u) for u in (endpoints.broker_url, endpoints.result_backend))
    return [p for p in found if p]


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


def parse_probe_output(
    stdout: str, stderr: str, module: str, secrets: list[str] | None = None
) -> dict[str, Any]:
    line = next(
        (ln for ln in reversed(stdout.splitlines()) if ln.startswith(app_probe.MARKER)), None
    )
    if line is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no output"
        raise AppConfigError(hide_secrets(f"reading '{module}' failed: {tail}", *(secrets or [])))
    data = json.loads(line[len(app_probe.MARKER) :])
    if not data.get("ok"):
        error = AppConfigError(
            hide_secrets(
                f"cannot import Celery app '{module}': {data.get('error')}", *(secrets or [])
            )
        )
        error.fallback = data.get("fallback")  # type: ignore[attr-defined]
        raise error
    return dict(data)


def run_app_child(
    profile: Profile,
    endpoints: Endpoints | None,
    script: str,
    timeout: float = PROBE_TIMEOUT_S,
    request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A sibling child script's report (`script` is its file, beside probe.py; `request`, if
    any, on its standard input as JSON); an app that cannot be imported, or a child that fails
    or hangs, raises AppConfigError saying why."""
    return _run_probe(profile, endpoints, timeout, script, request)


# -- what the profile was last read with ------------------------------------------------------
@dataclass(frozen=True)
class LastRead:
    """The snapshot a profile's fingerprint stands for, kept to say what changed since."""

    fingerprint: str
    snapshot: dict[str, Any]
    read_at: float


class ConfigHistory:
    """One JSON file per profile beside the journals: the configuration it was last read with.

    Holds no secret (snapshots are redacted). The fingerprint itself lives in the profile."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, profile_name: str) -> Path:
        safe = hashlib.sha256(profile_name.encode()).hexdigest()[:16]
        return self.directory / f"{safe}.json"

    def last(self, profile_name: str) -> LastRead | None:
        try:
            data = json.loads(self._path(profile_name).read_text(encoding="utf-8"))
            return LastRead(
                str(data["fingerprint"]), dict(data["snapshot"]), float(data["read_at"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, profile_name: str, config: EffectiveConfig) -> LastRead:
        last = LastRead(config.fingerprint, config.snapshot(), time.time())
        self.directory.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {"fingerprint": last.fingerprint, "snapshot": last.snapshot}
        document["read_at"] = last.read_at
        write_atomic(self._path(profile_name), json.dumps(document, indent=1), mode=0o600)
        return last


@dataclass(frozen=True)
class Drift:
    """How the app's configuration now differs from what the profile was last read with."""

    changes: list[Change]
    since: float | None  # when it was last read; None: never (nothing to compare)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        if not self.changes:
            return ""
        shown = "; ".join(c.text() for c in self.changes[:3])
        more = f" and {len(self.changes) - 3} more" if len(self.changes) > 3 else ""
        return (
            f"The app's configuration changed since it was last read: {shown}{more}. Workers "
            "started before the change still run with the old values until restarted."
        )


def drift_of(profile: Profile, config: EffectiveConfig, history: ConfigHistory) -> Drift:
    """Compare with what the profile's fingerprint stands for (no fingerprint: no drift)."""
    if not profile.app_fingerprint or not config.imported:
        return Drift([], None)
    if profile.app_fingerprint == config.fingerprint:
        return Drift([], None)
    last = history.last(profile.name)
    if last is None or last.fingerprint != profile.app_fingerprint:
        return Drift([Change("fingerprint", profile.app_fingerprint, config.fingerprint)], None)
    return Drift(drift(last.snapshot, config.snapshot()), last.read_at)
