"""`celery-desk record` with a "beat-missed" rule, on real parts: a real `celery beat` heard
through the recorder's event stream, stopped for three intervals, fires the alert once (at the
third missed run in a row, the rule's threshold being 2) and resolves it when beat is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from desktop.core.beat.missed import tolerance_for
from desktop.core.monitor.alert_rules import BEAT_MISSED, AlertRule, rules_path, save_rules
from desktop.core.monitor.journal_reader import JournalReader
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from tests.conformance.beat_parts import APPS
from tests.conformance.beat_process import EVERY_S, Beat, beats  # noqa: F401
from tests.conftest import RunningRedis, stop_with_this_process

pytestmark = [pytest.mark.slow]


def _wait_for(path: Path, text: str, timeout: float, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        said = path.read_text(errors="replace") if path.exists() else ""
        if text in said:
            return said
        assert process.poll() is None, said[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not said in {timeout} s:\n{path.read_text(errors='replace')}")


def _last_send(journal: Path) -> float:
    """When beat's last send the recorder heard was sent (its task-sent)."""
    reader = JournalReader(journal)
    try:
        sent = [r["sent"] for r in reader.runs_of("beat_tasks.note", 0, 50) if r["sent"]]
    finally:
        reader.close()
    assert sent
    return float(max(sent))


def test_record_fires_a_beat_missed_alert_once_per_streak(
    embedded_redis: RunningRedis,
    tmp_path: Path,
    beats: list[Beat],  # noqa: F811 (beat_process.py's fixture)
) -> None:
    broker = embedded_redis.url(15)
    name = f"record-beat-{uuid.uuid4().hex[:6]}"
    services = Services.open()
    profile = Profile(name=name, broker_url=broker, result_backend="", app_module="beat_short",
                      workdir=str(APPS))  # fmt: skip
    services.profiles.save(profile, create=True)
    save_rules(rules_path(services.paths, name), (AlertRule("beat", BEAT_MISSED, 2),))
    said = tmp_path / "record.err"
    with said.open("wb") as err:
        recorder = subprocess.Popen(
            [sys.executable, "-m", "desktop", "--profile", name, "record"],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            env=dict(os.environ), start_new_session=True,
        )  # fmt: skip
    stop_with_this_process(recorder.pid)
    try:
        _wait_for(said, "checking 1 alert rule(s)", 60, recorder)
        _wait_for(said, "connected", 30, recorder)
        beats.append(Beat(broker, tmp_path))
        time.sleep(2.5 * EVERY_S)  # two sends heard
        beats[0].stop()
        text = _wait_for(said, "alert FIRING [beat]", 6 * EVERY_S, recorder)
        fired_after = time.time() - _last_send(services.journal_path(profile))
        assert "periodic task 'every-six' missed 3 due runs in a row" in text, text
        # at the third due time past its tolerance, before the fourth's
        tolerance = tolerance_for(EVERY_S)
        assert 3 * EVERY_S + tolerance <= fired_after < 4 * EVERY_S + tolerance, fired_after
        beats.append(Beat(broker, tmp_path))  # catches up at once: the streak ends
        text = _wait_for(said, "alert RESOLVED [beat]", 4 * EVERY_S, recorder)
        assert text.count("alert FIRING [beat]") == 1
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
