"""Local workers: start-up to online and idle warm shutdown, panel vs a worker started by hand.

Both sides run the same `celery -A workers worker` with the same options on one embedded Redis,
rounds alternating, and are timed the same way: from spawn until the node answers a ping, and
from SIGTERM until the process is gone. (a) is a plain `celery worker` started by hand
(subprocess, URLs in its environment); (b) is the panel's supervisor (keeper process, log
rotation, state files). Target: b within 10% of a. Prints figures; asserts nothing.
Usage: python bench/workers.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CELERY_DESK_SECRETS"] = "file"

from desktop.core.broker.embedded import EmbeddedRedis  # noqa: E402
from desktop.core.local.supervisor import Supervisor  # noqa: E402
from desktop.core.local.worker_keeper import ping  # noqa: E402
from desktop.core.local.worker_spec import WorkerSpec  # noqa: E402
from desktop.core.monitor.events import receiver_app  # noqa: E402
from desktop.core.settings.profile_model import Endpoints, Profile  # noqa: E402
from desktop.core.settings.secret_store import FileSecretStore  # noqa: E402


def wait_ping(app: Any, node: str, alive: Any, timeout: float = 60.0) -> float:
    """Seconds until `node` answers; the same loop for both sides."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not alive():
            raise RuntimeError(f"{node} exited before it answered")
        if node in ping(app, [node], timeout=0.25):
            return time.perf_counter()
    raise TimeoutError(node)


def by_hand(supervisor: Supervisor, spec: WorkerSpec, endpoints: Endpoints, app: Any, log: Path):
    """(a) `celery worker` as a person starts it: same argv and environment, no keeper."""
    argv = supervisor.argv(spec)
    env = supervisor.environment(endpoints)
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    online = wait_ping(app, spec.nodename, lambda: child.poll() is None) - t0
    t1 = time.perf_counter()
    child.send_signal(signal.SIGTERM)
    child.wait(60)
    return online, time.perf_counter() - t1


def through_panel(supervisor: Supervisor, spec: WorkerSpec, endpoints: Endpoints, app: Any):
    """(b) the supervisor: keeper process, rotated log, state files; timed the same way."""
    t0 = time.perf_counter()
    supervisor.start(spec, endpoints)

    def alive() -> bool:
        worker = supervisor.get(spec.name)
        return worker is not None and worker.state not in ("crashed", "stopped")

    online = wait_ping(app, spec.nodename, alive) - t0
    t1 = time.perf_counter()
    supervisor.stop(spec.name)
    stopped = supervisor.wait_stopped(spec.name, 60)
    assert stopped.state == "stopped", stopped
    return online, time.perf_counter() - t1


def ready_at(log: Path) -> float | None:
    """When the worker logged "<node> ready." (its own idea of being up), as a timestamp."""
    import datetime

    for line in log.read_text(errors="replace").splitlines():
        if line.endswith(" ready.") and line.startswith("["):
            stamp = line[1 : line.index(":", 20)].replace(",", ".")
            return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return None


def screen_lag(scratch: Path, rounds: int) -> list[float]:
    """(c) The Workers screen's path (Session polls and events): seconds from the worker's own
    "ready." line to the row showing online."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["CELERY_DESK_CONFIG_DIR"] = str(scratch / "screen-config")
    from PySide6.QtWidgets import QApplication

    from desktop.core.services import Services
    from desktop.ui.session.session import Session

    qt = QApplication.instance() or QApplication([])
    session = Session(Services.open())
    seen: dict[str, float] = {}
    session.local_workers_changed.connect(
        lambda workers: [
            seen.setdefault(w.name, time.time()) for w in workers if w.state == "online"
        ]
    )
    session.start()
    lags = []
    try:
        deadline = time.monotonic() + 30
        while session.state != "connected" and time.monotonic() < deadline:
            qt.processEvents()
            time.sleep(0.01)
        for round_ in range(rounds):
            name = f"screen{round_}"
            session.start_local_worker(WorkerSpec(name, ["tasks"], concurrency=2))
            deadline = time.monotonic() + 60
            while name not in seen and time.monotonic() < deadline:
                qt.processEvents()
                time.sleep(0.005)
            assert session.supervisor is not None
            ready = ready_at(session.supervisor.log_path(name))
            if name in seen and ready is not None:
                lags.append(seen[name] - ready)
                print(
                    f"screen round {round_ + 1}: online shown {lags[-1]:.3f} s after ready",
                    file=sys.stderr,
                )
            session.supervisor.stop(name)
            session.supervisor.wait_stopped(name, 60)
    finally:
        session.quit_workers = "stop"
        session.shutdown()
    return lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-bench-workers-"))
    broker = EmbeddedRedis(scratch / "broker", FileSecretStore(scratch / "secrets.json"))
    broker.start()
    try:
        endpoints = Endpoints(broker.url(0), broker.url(1), "")
        profile = Profile(
            name="bench", broker_url=endpoints.broker_url, result_backend="", workdir=str(ROOT)
        )
        supervisor = Supervisor(scratch / "workers", profile)
        app = receiver_app(endpoints.broker_url, profile.transport.to_celery())
        hand: list[tuple[float, float]] = []
        panel: list[tuple[float, float]] = []
        for round_ in range(options.rounds):
            spec_a = WorkerSpec(f"hand{round_}", ["tasks"], concurrency=2)
            spec_b = WorkerSpec(f"panel{round_}", ["tasks"], concurrency=2)
            order = [("a", spec_a), ("b", spec_b)]
            for side, spec in order if round_ % 2 == 0 else reversed(order):
                if side == "a":
                    hand.append(by_hand(supervisor, spec, endpoints, app, scratch / "hand.log"))
                else:
                    panel.append(through_panel(supervisor, spec, endpoints, app))
            print(
                f"round {round_ + 1}: online a {hand[-1][0]:.3f} s b {panel[-1][0]:.3f} s; "
                f"warm stop a {hand[-1][1]:.3f} s b {panel[-1][1]:.3f} s",
                file=sys.stderr,
            )
        app.close()
    finally:
        broker.stop()
    online_a = statistics.median(x[0] for x in hand)
    online_b = statistics.median(x[0] for x in panel)
    stop_a = statistics.median(x[1] for x in hand)
    stop_b = statistics.median(x[1] for x in panel)
    print(f"start-up to online, median of {options.rounds}:")
    print(f"  (a) celery worker by hand  {online_a:.3f} s")
    print(f"  (b) panel supervisor       {online_b:.3f} s   b/a {online_b / online_a:.3f}")
    print("warm shutdown when idle, median:")
    print(f"  (a) celery worker by hand  {stop_a:.3f} s")
    print(f"  (b) panel supervisor       {stop_b:.3f} s   b/a {stop_b / stop_a:.3f}")
    target = online_b <= online_a * 1.1 and stop_b <= stop_a * 1.1
    print(f"target (b within 10% of a on both): {'met' if target else 'NOT met'}")
    lags = screen_lag(scratch, options.rounds)
    lag = statistics.median(lags) if lags else float("nan")
    print(
        f"(c) the Workers screen shows online {lag:.3f} s after the worker's own 'ready.' "
        f"(median, max {max(lags, default=float('nan')):.3f} s; target under 1 s)"
    )
    if options.json:
        print(
            json.dumps(
                {
                    "rounds": options.rounds,
                    "online_s_hand": round(online_a, 4),
                    "online_s_panel": round(online_b, 4),
                    "online_ratio": round(online_b / online_a, 4),
                    "warm_stop_s_hand": round(stop_a, 4),
                    "warm_stop_s_panel": round(stop_b, 4),
                    "warm_stop_ratio": round(stop_b / stop_a, 4),
                    "screen_online_lag_s": round(lag, 4),
                    "screen_online_lag_max_s": round(max(lags, default=float("nan")), 4),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
