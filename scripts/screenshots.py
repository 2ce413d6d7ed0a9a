"""Regenerate the README screenshots: the real window on the embedded broker, one PNG per tab.

Usage: scripts/screenshots.py [OUT_DIR]   (default docs/screenshots)

It first records the README's animated tour (scripts/tour.py: tour.gif, needs Pillow).

It starts real local workers from the Workers screen's presets and sends the tutorial's
scenarios, so the Tasks and Workers screens show live data. It uses a throw-away config dir:
the person's own profiles and broker are never touched. Run offscreen (default) or under Xvfb
with QT_QPA_PLATFORM=xcb.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tour  # scripts/tour.py: the README's animated tour, beside these screenshots

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
TABS = ["overview", "workers", "builder", "tasks", "failures", "queues", "charts", "beat", "audit"]


def pump(app: Any, seconds: float, until: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        app.processEvents()
        time.sleep(0.02)


def save(app: Any, window: Any, widget: Any, path: Path) -> None:
    """`widget` in the light theme (`path`) and in the dark one (`path` with "-dark")."""
    for mode, shot in (("dark", path.with_name(f"{path.stem}-dark.png")), ("light", path)):
        window.appearance.set_mode(mode)
        pump(app, 0.3)
        widget.grab().save(str(shot))


def start_local_workers(app: Any, session: Any, window: Any) -> bool:
    """The tutorial's set-ups from the Workers screen's presets: real local workers."""
    from desktop.core.local.worker_spec import presets

    local = window.workers.local
    pump(app, 30, lambda: session.app_config is not None)
    found = presets(session.app_config.queue_names())
    for label in found:
        if label.startswith(("queue1 + queue2", "priority demo")):
            local.start_preset(found[label])
    window.tabs.setCurrentIndex(TABS.index("workers"))

    def online() -> bool:
        states = [w.state for w in session.local_workers]
        return len(states) == 3 and all(state == "online" for state in states)

    pump(app, 40, online)
    return online()


def send_demo_tasks(endpoints: Any) -> int:
    """The tutorial's scenarios, sent for real: args and kwargs, routing, a chain, a failure."""
    from celery import chain, group

    from workers import create_app

    client = create_app(endpoints.broker_url, endpoints.result_backend, queue_prefix="")
    sig = client.signature
    client.send_task(
        "workers.tasks.t1", args=[1, 2], kwargs={"message": "addition performed"}, priority=6
    )
    client.send_task("workers.tasks.task1")
    client.send_task("workers.tasks.task2")
    chain(sig("workers.tasks.add", args=(2, 3)), sig("workers.tasks.mul", args=(4,))).apply_async()
    group(
        sig("workers.tasks.demo1", args=(0.2,)), sig("workers.tasks.demo2", args=(0.4,))
    ).apply_async()
    client.send_task("workers.tasks.fail", args=["this task always fails"])
    client.send_task("workers.tasks.long_running", kwargs={"steps": 3, "delay": 0.2})
    for n in range(6):  # failures of two more causes, for the Failures screen
        client.send_task("workers.tasks.fail", args=[f"bad input {n}"])
    for n in range(3):
        client.send_task("workers.tasks.add", args=[n, "x"])
    client.close()
    return 18  # tasks sent, counting both links of the chain and both group members


def send_priority_demo(endpoints: Any) -> None:
    """The tutorial's priority demo behind a busy worker, so the Queues screen has a queue
    with messages waiting in delivery order, one held by the worker and one running."""
    from workers import create_app

    client = create_app(endpoints.broker_url, endpoints.result_backend, queue_prefix="")
    client.send_task("workers.tasks.sleep", args=[4], queue="tasks")
    client.send_task("workers.tasks.sleep", args=[1], queue="tasks")
    for name, priority in (("t2", 5), ("t1", 1), ("t3", 10)):
        client.send_task(f"workers.tasks.{name}", queue="tasks", priority=priority)
    client.close()


def demo_finished(session: Any, expected: int) -> bool:
    from desktop.core.monitor.task_query import TaskQuery

    journal = session.journal
    if journal is None:
        return False
    done = sum(journal.count(TaskQuery(state=s)) for s in ("SUCCESS", "FAILURE"))
    return bool(done >= expected)


def sized_canvas(tasks: int) -> Any:
    """A readable workflow of about `tasks` tasks: a chain of steps and fan-out groups."""
    from desktop.core.canvas.model import Canvas, ChainNode, GroupNode, TaskNode

    def t(name: str, *args: Any, **options: Any) -> TaskNode:
        return TaskNode(f"workers.tasks.{name}", list(args), {}, False, options)

    def branch(seed: int) -> ChainNode:  # 6 tasks
        fan = GroupNode([t("mul", n) for n in (2, 3, 4)])
        return ChainNode([t("add", seed, seed), fan, t("xsum"), t("t1", 1, 2, priority=seed % 10)])

    if tasks <= 1:
        return Canvas("one task", t("t1", 1, 2))
    if tasks <= 10:
        root = ChainNode([t("add", 2, 3), GroupNode([t("mul", n) for n in (2, 3, 4, 5)]),
                          t("xsum"), GroupNode([t("t2", queue="tasks"), t("t3", priority=9)]),
                          t("demo1")])  # fmt: skip
        root.children[-1].immutable = True  # type: ignore[union-attr]
        root.children.append(t("demo2"))
        return Canvas("ten tasks", root)
    branches = [branch(n) for n in range(8)]  # 48 tasks
    return Canvas("fifty tasks", ChainNode([GroupNode(list(branches)), t("xsum"), t("demo4")]))


def shoot_builder(app: Any, window: Any, out: Path) -> bool:
    """The canvas at 1, 10 and 50 tasks, then the chain example sent and coloured live."""
    from desktop.core.canvas import library as canvas_library

    builder = window.builder
    window.tabs.setCurrentWidget(builder)
    for size in (1, 10, 50):
        builder.model.load(sized_canvas(size))
        builder.view.select(() if size == 1 else (1,) if size == 10 else (0, 2, 1))
        builder.view.zoom_to_fit()
        pump(app, 0.4)
        save(app, window, window, out / f"builder-{size}.png")
    builder.view.set_zoom(1.0)
    builder.load_file(canvas_library.EXAMPLES_DIR / "chain-s-and-si.json")
    builder.send()
    finished = ("SUCCESS", "FAILURE", "REVOKED")

    def done() -> bool:
        states = builder.view.states.values()
        return bool(states) and all(s.state in finished for s in states)

    pump(app, 30, done)
    builder.view.select((1,))
    pump(app, 0.4)
    save(app, window, window, out / "builder.png")
    return done()


def shoot(app: Any, services: Any, session: Any, window: Any, out: Path) -> bool:
    """Connect, run the demo on a real worker, grab every tab; True when the demo finished."""
    pump(app, 30, lambda: session.state == "connected" and session.app_config is not None)
    # The event stream must listen before the demo tasks are sent.
    pump(app, 10, lambda: window.events_label.text() == "Events: connected")
    endpoints = services.endpoints(session.profile)
    # The tour first: the Overview's guide only shows while the profile has no tasks.
    toured = tour.record(app, session, window, out)
    if not start_local_workers(app, session, window):
        print(f"local workers did not come online: {session.local_workers}", file=sys.stderr)
        return False
    expected = send_demo_tasks(endpoints)
    pump(app, 40, lambda: demo_finished(session, expected))
    pump(app, 1.0)
    out.mkdir(parents=True, exist_ok=True)
    window.tasks.table.selectRow(0)
    window.failures.period.setCurrentIndex(0)  # the last hour
    window.workers.local.table.selectRow(2)
    built = shoot_builder(app, window, out)
    send_priority_demo(endpoints)
    window.queues.select_queue("tasks")
    pump(app, 2.0)
    for index, name in enumerate(TABS):
        if name in ("builder", "beat"):
            continue  # shot with their own data (the shipped app has no periodic tasks)
        window.tabs.setCurrentIndex(index)
        pump(app, 0.5)
        save(app, window, window, out / f"{name}.png")
    dialog = window.edit_profile()
    pump(app, 0.3)
    save(app, window, dialog, out / "profile-dialog.png")
    dialog.reject()
    window.tabs.setCurrentIndex(TABS.index("workers"))
    add = window.workers.local.add_worker()
    pump(app, 0.3)
    save(app, window, add, out / "worker-dialog.png")
    add.reject()
    shoot_why(app, session, window, endpoints, out)
    shoot_alerts(app, services, session, window, out)
    finished = demo_finished(session, expected)
    return shoot_beat(app, services, session, window, out) and finished and built and toured


def shoot_why(app: Any, session: Any, window: Any, endpoints: Any, out: Path) -> None:
    """The "Why?" window on a task sent to a queue no worker consumes."""
    from desktop.ui.session.why_dialog import WhyDialog
    from workers import create_app

    client = create_app(endpoints.broker_url, endpoints.result_backend, queue_prefix="")
    waiting = client.send_task("workers.tasks.add", args=[2, 3], queue="reports")
    client.close()
    dialog = WhyDialog(session, waiting.id, window)
    dialog.show()
    pump(app, 20, lambda: dialog.diagnosis is not None)
    pump(app, 0.3)
    save(app, window, dialog, out / "why-dialog.png")
    dialog.close()


def shoot_alerts(app: Any, services: Any, session: Any, window: Any, out: Path) -> None:
    """The alert rules dialog and the alerts log, with the "reports" queue (the Why? task
    waits there, unconsumed) firing its queue-length rule."""
    from desktop.core.monitor.alert_rules import AlertRule, rules_path, save_rules

    save_rules(
        rules_path(services.paths, session.profile.name),
        (
            AlertRule("reports backlog", "queue-length", 0, queue="reports"),
            AlertRule("adds failing", "task-failures", 5, 10, "workers.tasks.add"),
            AlertRule("slow mail", "queue-latency", 30, queue="mail"),
            AlertRule("worker gone", "worker-offline", 60),
        ),
    )
    session.alerts.reload_rules()
    window.tabs.setCurrentIndex(TABS.index("tasks"))
    pump(app, 15, lambda: bool(session.alerts.engine.firing()))
    log = window.alerts.open_log()
    pump(app, 5, lambda: log.model.rowCount() > 0)
    pump(app, 0.3)
    save(app, window, log, out / "alerts-log.png")
    rules = window.alerts.open_rules()
    pump(app, 5, lambda: rules.loaded and rules.model.rowCount() > 0)
    pump(app, 0.3)
    save(app, window, rules, out / "alert-rules.png")
    rules.reject()
    log.close()


def shoot_beat(app: Any, services: Any, session: Any, window: Any, out: Path) -> bool:
    """The Beat screen on the beat conformance tests' static app (the shipped app has no
    periodic tasks), a profile on the same embedded broker, with one "Run now" sent."""
    from desktop.core.settings.profile_model import Profile

    broker = services.endpoints(session.profile).broker_url
    apps = ROOT / "tests" / "conformance" / "beat_apps"
    demo = Profile(name="beat demo", broker_url=broker, result_backend="",
                   app_module="beat_static", workdir=str(apps))  # fmt: skip
    services.profiles.save(demo, create=True)
    session.activate(demo.name)
    pump(app, 30, lambda: session.app_config is not None and session.profile.name == demo.name)
    window.tabs.setCurrentWidget(window.beat)
    pump(app, 30, lambda: window.beat.model.rowCount() == 4)
    window.beat.select("every-ten")
    window.beat.run_now()
    pump(app, 10, lambda: window.beat.status.text().startswith("sent"))
    pump(app, 3.0)
    save(app, window, window, out / "beat.png")
    return window.beat.model.rowCount() == 4


def main() -> int:
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-shots-"))
    os.environ["CELERY_DESK_CONFIG_DIR"] = str(scratch / "config")
    os.environ["CELERY_DESK_SECRETS"] = "file"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window
    from desktop.core.services import Services
    from desktop.ui.common.theme import stylesheet

    app = QApplication(sys.argv)
    app.setStyleSheet(stylesheet(app.font().pointSizeF()))
    services = Services.open()
    session, window = build_window(services)
    window.resize(1280, 800)  # the size issue 17 judges every screen at
    window.show()
    session.start()
    try:
        finished = shoot(app, services, session, window, out)
    finally:  # the embedded broker and workers never outlive the script, even on an error
        window.close_without_asking()  # the default answer: stop local workers gracefully
        session.shutdown()
    print(
        f"state: {session.state}; demo tasks finished: {finished}; "
        f"wrote {2 * (len(TABS) + 8)} screenshots (light and dark) and {tour.FILE} to {out}"
    )
    return 0 if session.state == "connected" and finished else 1


if __name__ == "__main__":
    sys.exit(main())
