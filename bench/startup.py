"""Start-up figures: embedded broker vs a bare redis-server, and window-shown -> connected.

Prints figures and ratios measured in this run; it asserts nothing (see docs/PERFORMANCE.md).
Usage: python bench/startup.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CELERY_DESK_SECRETS"] = "file"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bare_redis_ms(binary: str, scratch: Path) -> float:
    """Reference: redis-server with the same persistence, started by hand, until PING answers."""
    import redis

    port = _free_port()
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--dir",
            str(scratch),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"reference redis-server exited with {child.returncode}")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.002)
    elapsed = (time.perf_counter() - started) * 1000
    child.terminate()
    child.wait()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window
    from desktop.core.broker.embedded import EmbeddedRedis, find_binary
    from desktop.core.services import Services
    from desktop.core.settings.secret_store import FileSecretStore

    binary = find_binary()
    bare, cold, reuse, window = [], [], [], []
    app = QApplication(sys.argv)
    for _ in range(args.runs):
        scratch = Path(tempfile.mkdtemp(prefix="cd-bench-"))
        bare.append(bare_redis_ms(binary, scratch / "bare"))
        broker = EmbeddedRedis(scratch / "emb", FileSecretStore(scratch / "s.json"))
        t0 = time.perf_counter()
        broker.start()
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        broker.start()
        reuse.append((time.perf_counter() - t0) * 1000)
        broker.stop()

        os.environ["CELERY_DESK_CONFIG_DIR"] = str(scratch / "config")
        services = Services.open()
        session, win = build_window(services)
        win.show()
        app.processEvents()
        t0 = time.perf_counter()
        session.start()
        while session.state != "connected":
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - t0 > 30:
                print("window did not connect within 30 s", file=sys.stderr)
                return 1
        window.append((time.perf_counter() - t0) * 1000)
        win.close()
        session.shutdown()

    figures = {
        "bare_redis_ms": statistics.median(bare),
        "embedded_cold_ms": statistics.median(cold),
        "embedded_reuse_ms": statistics.median(reuse),
        "window_to_connected_ms": statistics.median(window),
        "window_to_connected_max_ms": max(window),
    }
    figures["embedded_vs_bare"] = figures["embedded_cold_ms"] / figures["bare_redis_ms"]
    print(f"redis-server binary:            {binary}")
    print(
        f"bare redis-server to PING:      {figures['bare_redis_ms']:.1f} ms (median of {args.runs})"
    )
    print(
        f"embedded broker cold start:     {figures['embedded_cold_ms']:.1f} ms "
        f"({figures['embedded_vs_bare']:.2f}x bare)"
    )
    print(f"embedded broker reuse:          {figures['embedded_reuse_ms']:.1f} ms")
    print(
        f"window shown -> connected:      {figures['window_to_connected_ms']:.1f} ms "
        f"(max {figures['window_to_connected_max_ms']:.1f} ms; target 3000 ms)"
    )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
