"""The local beat's decisions, without processes: its command line from the app's effective
configuration (described by the probe's own `describe` of real Celery apps), when a second beat
is refused, and the words the bar and the CLI use for its state."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from desktop.core.app import probe as app_probe
from desktop.core.app.config import from_probe
from desktop.core.beat.entries import from_child
from desktop.core.beat.local_start import refusal
from desktop.core.local.local_beat import BeatSupervisor, beat_state_text
from desktop.core.local.local_worker import CRASHED, ONLINE, STOPPED, LocalWorker
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.settings.profile_model import Profile


def _supervisor(tmp_path: Path, **settings: Any) -> tuple[BeatSupervisor, Any]:
    app = Celery("beats", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.update(settings)
    profile = Profile(name="p", app_module="proj", workdir=str(tmp_path))
    config = from_probe(app_probe.describe(app), profile)
    return BeatSupervisor(tmp_path / "workers" / "p", profile), config


def test_command_line_is_the_persons_with_the_apps_scheduler(tmp_path: Path) -> None:
    supervisor, config = _supervisor(tmp_path)
    argv = supervisor.beat_argv(config)
    assert argv[1:] == [
        "-m", "celery", "-A", "proj", "beat", "-l", "INFO",
        "--pidfile", str(supervisor.directory / "beat.pid"),
        "--schedule", str(supervisor.directory / "celerybeat-schedule"),
        "--enable-remote-control",
    ]  # fmt: skip
    assert supervisor.directory == (tmp_path / "workers" / "p" / "beat").resolve()

    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    supervisor, config = _supervisor(tmp_path, beat_scheduler=scheduler)
    argv = supervisor.beat_argv(config)
    assert "--schedule" not in argv and "-S" not in argv  # beat reads the setting itself
    record = supervisor.beat_record(config, "INFO", True)
    assert record["scheduler"] == scheduler and record["spec"]["queues"] == []
    assert record["nodename"].startswith("celerybeat@") and record["kind"] == "beat"


def test_a_celery_without_beat_remote_control_gets_no_flag_and_no_ping(tmp_path: Path) -> None:
    supervisor, config = _supervisor(tmp_path)
    assert config.beat_remote_control  # this Celery's (5.7), as the probe read it
    assert "setting.beat_enable_remote_control" not in config.snapshot()  # no drift for it
    older = dataclasses.replace(config, beat_remote_control=False)
    assert "--enable-remote-control" not in supervisor.beat_argv(older)
    assert supervisor.beat_record(older, "INFO", True)["nodename"] == ""


def test_the_profiles_transport_overrides_reach_beat_as_they_reach_workers(
    tmp_path: Path,
) -> None:
    supervisor, config = _supervisor(tmp_path)
    chosen = dataclasses.replace(config, overrides={"priority_steps": [0, 1, 2, 3]})
    argv = supervisor.beat_argv(chosen)
    assert argv[-2] == "--" and argv[-1].startswith("broker_transport_options=(json){")
    assert json.loads(argv[-1].split("(json)", 1)[1])["priority_steps"] == [0, 1, 2, 3]


def _report(scheduler: str, redbeat: dict[str, Any] | None = None) -> Any:
    sources: dict[str, Any] = {"static": {"entries": []}}
    if redbeat is not None:
        sources["redbeat"] = redbeat
    return from_child({"scheduler": scheduler, "timezone": "UTC", "sources": sources})


@pytest.mark.parametrize(
    ("scheduler", "redbeat", "answering", "said"),
    [
        ("celery.beat:PersistentScheduler", None, [], ""),
        ("celery.beat:PersistentScheduler", None, ["celerybeat@h"],
         "a beat already answers on this broker (celerybeat@h) and the app's beat_scheduler is "
         "celery.beat:PersistentScheduler, which keeps no lock"),
        ("django_celery_beat.schedulers:DatabaseScheduler", None, ["celerybeat@h"],
         "a second beat would send every periodic task twice"),
        ("redbeat.RedBeatScheduler",
         {"entries": [], "lock": {"key": "rb::lock", "held": True, "ttl_s": 1499.2}}, [],
         "RedBeat's lock rb::lock is held (1499 s left on its TTL): another beat runs"),
        ("redbeat.RedBeatScheduler",
         {"entries": [], "lock": {"key": "rb::lock", "held": False, "ttl_s": None}},
         ["celerybeat@h"], ""),  # the lock guards it: a second RedBeat beat waits for it
        ("redbeat.RedBeatScheduler", {"entries": [], "error": "ConnectionError: refused"}, [],
         "RedBeat's lock could not be checked (ConnectionError: refused); not started"),
    ],
)  # fmt: skip
def test_refusal(
    scheduler: str, redbeat: dict[str, Any] | None, answering: list[str], said: str
) -> None:
    found = refusal(_report(scheduler, redbeat), answering)
    assert (said in found) if said else found == ""
    assert bool(found) == bool(said)


def test_state_in_words() -> None:
    now = time.time()
    beat = LocalWorker(name="beat", nodename="celerybeat@h", spec=WorkerSpec("beat", []),
                       state=ONLINE, since=now - 130, pid=42, started=now - 130)  # fmt: skip
    assert beat_state_text(beat, now) == "running (pid 42, 2 min)"
    assert beat_state_text(dataclasses.replace(beat, state=STOPPED)) == "stopped"
    crashed = dataclasses.replace(beat, state=CRASHED, exit_code=1)
    assert beat_state_text(crashed) == "crashed (exit code 1)"
    waiting = dataclasses.replace(crashed, next_restart=now + 4.2)
    assert beat_state_text(waiting).startswith("crashed, restarting in ")
    assert beat_state_text(None) == "stopped"
