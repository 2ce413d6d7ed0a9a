"""The Beat screen in the real window, on real parts: the static app of the beat conformance
tests listed with the next runs Celery computes, "Run now" run by a real worker and seen in its
recent runs, and a real `celery beat` stopped for three intervals: three missed runs on screen,
heard from the live event stream, and the "beat run missed" alert fired once."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab
from pytestqt.qtbot import QtBot

from desktop.core.monitor.alert_rules import BEAT_MISSED, AlertRule, rules_path, save_rules
from desktop.core.monitor.alerts import FIRING, RESOLVED
from desktop.core.services import Services
from desktop.core.settings.profile_model import Profile
from desktop.ui.beat.model import when
from desktop.ui.shell.main_window import MainWindow
from tests.conformance.beat_parts import APPS, HandWorker, worker_factory  # noqa: F401
from tests.conformance.beat_process import EVERY_S, Beat, beats  # noqa: F401
from tests.conftest import RunningRedis
from tests.desk_cli import celery_desk
from tests.support import window_on

pytestmark = pytest.mark.slow

PARIS = ZoneInfo("Europe/Paris")  # the apps' timezone: every time on the screen is in it


def _profile(name: str, module: str, broker: str) -> Profile:
    return Profile(name=name, broker_url=broker, result_backend="", app_module=module,
                   workdir=str(APPS))  # fmt: skip


def _rows(window: MainWindow) -> dict[str, Any]:
    return {row.entry.name: row for row in window.beat.model.rows()}


def _cell(window: MainWindow, name: str, title: str) -> str:
    model = window.beat.model
    column = [c.title for c in model.columns].index(title)
    row = [r.entry.name for r in model.rows()].index(name)
    return str(model.index(row, column).data())


def test_a_static_app_listed_with_celerys_next_runs_and_run_now(
    qtbot: QtBot,
    embedded_redis: RunningRedis,
    worker_factory: Any,  # noqa: F811 (test_beat.py's fixture)
) -> None:
    broker = embedded_redis.url(13)
    paris = Celery("paris", set_as_current=False)
    paris.conf.timezone = "Europe/Paris"
    # Started first: the window's event stream asks the workers it finds to send events.
    worker = worker_factory("beat_static", broker)
    deadline = time.monotonic() + 60
    while b"ready." not in (worker.log.read_bytes() if worker.log.exists() else b""):
        assert time.monotonic() < deadline and worker.process.poll() is None
        time.sleep(0.2)
    with window_on(qtbot, _profile("beat-static", "beat_static", broker)) as window:
        window.tabs.setCurrentWidget(window.beat)
        qtbot.waitUntil(lambda: len(_rows(window)) == 4, timeout=30000)
        panel = window.beat
        assert "celery.beat:PersistentScheduler (static)" in panel.scheduler.text()
        assert "Europe/Paris" in panel.scheduler.text()
        assert _cell(window, "every-ten", "Schedule") == "every 10 s"
        assert _cell(window, "weekday-morning", "Schedule") == "at 07:30 on weekdays"
        cron = _cell(window, "weekday-morning", "Cron / interval")
        assert cron == "30 7 * * 1-5 (Europe/Paris)"
        morning = crontab(minute=30, hour=7, day_of_week="1-5", app=paris)
        expected = morning.now() + morning.remaining_estimate(morning.now())
        shown = _cell(window, "weekday-morning", "Next run")
        on_screen = datetime.fromisoformat(shown).replace(tzinfo=ZoneInfo("Europe/Paris"))
        assert abs((on_screen - expected).total_seconds()) < 1.0  # shown to the second
        ten = _rows(window)["every-ten"].entry
        assert _cell(window, "every-ten", "Options") == "queue=beats, priority=3"
        assert _cell(window, "every-ten", "Source") == "static"
        assert _cell(window, "every-ten", "Next run") == when(ten.next_run)

        panel.select("not-json")
        assert not panel.run_button.isEnabled() and "not JSON" in panel.run_button.toolTip()
        panel.select("every-ten")
        assert panel.details.copy_python.isVisible()
        copied = panel.details.copy()
        assert "'every-ten': {" in copied and "'schedule': 10.0," in copied
        assert "'options': {'queue': 'beats', 'priority': 3}," in copied

        assert panel.run_button.isEnabled()
        panel.run_button.click()
        qtbot.waitUntil(lambda: panel.status.text().startswith("sent every-ten as "), timeout=20000)
        task_id = panel.status.text().split(" as ")[1].split(" ")[0]
        note = worker.ran(task_id)
        assert note["priority"] == 3 and note["celery_beat_task"] is True

        def recent() -> dict[str, Any]:
            runs = {r.id: r for r in panel.details.runs.rows()}
            return (
                {"state": runs[task_id].state, "by": runs[task_id].by_panel}
                if task_id in runs
                else {}
            )

        qtbot.waitUntil(lambda: recent().get("state") == "SUCCESS", timeout=30000)
        assert recent()["by"] is True
        assert "matched by task name and arguments" in panel.details.facts.text()
        audit = window.session.journal.audit_entries(10, action="beat run")  # type: ignore[union-attr]
        assert [(a.target, a.reply) for a in audit] == [("every-ten", task_id)]


def test_a_beat_stopped_for_three_intervals_misses_three_runs_and_alerts_once(
    qtbot: QtBot,
    embedded_redis: RunningRedis,
    tmp_path: Path,
    beats: list[Beat],  # noqa: F811 (beat_process.py's fixture)
) -> None:
    broker = embedded_redis.url(14)
    name = f"beat-short-{uuid.uuid4().hex[:6]}"
    save_rules(rules_path(Services.open().paths, name), (AlertRule("beat", BEAT_MISSED, 0),))
    with window_on(qtbot, _profile(name, "beat_short", broker)) as window:
        panel = window.beat
        panel._timer.setInterval(500)  # the journal read twice a second: the test waits less
        fired: list[Any] = []
        window.session.alerts.fired.connect(fired.append)
        qtbot.waitUntil(lambda: window.session.alerts.engine.watches_beat, timeout=10000)
        window.tabs.setCurrentWidget(panel)
        qtbot.waitUntil(lambda: "every-six" in _rows(window), timeout=30000)

        beats.append(Beat(broker, tmp_path))

        def sends() -> list[float]:
            runs = panel.runs.runs.get("every-six", []) if panel.runs else []
            return sorted(r.at for r in runs if not r.by_panel)

        qtbot.waitUntil(lambda: len(sends()) >= 2, timeout=40000)  # heard from the event stream
        beats[0].stop()
        last = sends()[-1]

        def missed() -> Any:
            return _rows(window)["every-six"].missed

        qtbot.waitUntil(lambda: missed() is not None and missed().count == 3, timeout=40000)
        seen_at = time.time()
        assert missed().streak == 3
        assert [round(t - last, 1) for t in missed().missed] == [EVERY_S, 2 * EVERY_S, 3 * EVERY_S]
        assert seen_at - last < 4 * EVERY_S  # the fourth is not due yet: beat starts again now
        assert _cell(window, "every-six", "Missed") == "3"
        assert [(a.state, a.target) for a in fired] == [(FIRING, {"entry": "every-six"})]

        beats.append(Beat(broker, tmp_path))  # catches up at once (overdue), then every 6 s
        qtbot.waitUntil(lambda: missed().streak == 0, timeout=30000)
        qtbot.waitUntil(lambda: len(fired) == 2, timeout=5000)
        assert [a.state for a in fired] == [FIRING, RESOLVED]
        assert missed().count == 3  # the three stay counted
        assert "beat's last send heard: every-six" in panel.alive.text()
        panel.select("every-six")
        latest = datetime.fromtimestamp(missed().missed[-1], PARIS).strftime("%H:%M:%S")
        assert "3 missed of" in panel.details.facts.text()
        assert (
            "latest missed: " in panel.details.facts.text() and latest in panel.details.facts.text()
        )
        # the alert's view is this screen on that entry
        window.tabs.setCurrentWidget(window.tasks)
        panel.table.clearSelection()
        assert window.alerts.go_to(BEAT_MISSED, {"entry": "every-six"})
        assert window.tabs.currentWidget() is panel and panel.chosen().name == "every-six"
        # the rule's form: a count, and none of the other kinds' fields
        rules = window.alerts.open_rules()
        form = rules.add_rule()
        form.kind.setCurrentIndex(form.kind.findData(BEAT_MISSED))
        form.name.setText("beat")
        form.threshold.setValue(0)
        assert not any(w.isVisibleTo(form) for w in (form.task, form.queue, form.worker))
        assert form.threshold.decimals() == 0
        assert (
            form.summary.text()
            == "Fires when a periodic task missing more than 0 due runs in a row."
        )
        form.reject()
        rules.reject()
        # `beat list --json` counts from the same journal (up to its last write)
        listed = celery_desk("--profile", name, "beat", "list", "--json", timeout=90)
        assert listed.returncode == 0, listed.stderr
        assert {e["name"]: e["missed"] for e in json.loads(listed.stdout)} == {"every-six": 3}
