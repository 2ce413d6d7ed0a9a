"""Sending a group of N tasks: from a canvas (the panel's path) vs `group(...).apply_async()`.

Both use the same JSON-only app with task-sent events on one embedded Redis, rounds
alternating. (a) is the group written by hand; (b) is `sending.send`: the canvas turned into
signatures, frozen for every id, each id recorded in a journal with its queue and priority,
then sent. Target: b/a <= 1.2. Prints figures; asserts nothing.
Usage: python bench/submit.py [--tasks N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CELERY_DESK_SECRETS"] = "file"

from celery import group  # noqa: E402

from desktop.core.app.panel_app import panel_app  # noqa: E402
from desktop.core.broker.embedded import EmbeddedRedis  # noqa: E402
from desktop.core.canvas import model as canvas  # noqa: E402
from desktop.core.canvas import sending as canvas_sending  # noqa: E402
from desktop.core.monitor.journal import Journal  # noqa: E402
from desktop.core.settings.secret_store import FileSecretStore  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-bench-submit-"))
    broker = EmbeddedRedis(scratch / "broker", FileSecretStore(scratch / "secrets.json"))
    broker.start()
    hand: list[float] = []
    panel: list[float] = []
    try:
        app = panel_app(broker.url(0), broker.url(1))
        queue = f"bench-submit-{uuid.uuid4().hex[:6]}"
        journal = Journal(scratch / "journal.sqlite3")
        workflow = canvas.Canvas(
            "bench",
            canvas.GroupNode(
                [
                    canvas.TaskNode("workers.tasks.add", [i, i], options={"queue": queue})
                    for i in range(options.tasks)
                ]
            ),
        )

        def record(node: canvas_sending.SentNode) -> None:
            journal.record_submitted(node.id, node.task, queue=node.queue, priority=node.priority)

        for round_ in range(options.rounds):
            for side in ("a", "b") if round_ % 2 == 0 else ("b", "a"):
                started = time.perf_counter()
                if side == "a":
                    group(
                        app.signature("workers.tasks.add", args=(i, i), queue=queue)
                        for i in range(options.tasks)
                    ).apply_async()
                    hand.append(time.perf_counter() - started)
                else:
                    canvas_sending.send(workflow, app, record)
                    panel.append(time.perf_counter() - started)
            print(
                f"round {round_ + 1}: (a) by hand {hand[-1]:.3f} s, (b) canvas {panel[-1]:.3f} s",
                file=sys.stderr,
            )
        journal.close()
        gc.collect()  # results of sent groups let go while their backend still answers
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(queue)
        app.close()
    finally:
        broker.stop()
        # Results Celery still tracks try to unsubscribe from the stopped broker at exit;
        # that noise is not a figure of this benchmark.
        sys.unraisablehook = lambda _unraisable: None
    a, b = statistics.median(hand), statistics.median(panel)
    print(f"group of {options.tasks} tasks, median of {options.rounds}:")
    print(f"  (a) group(...).apply_async() by hand   {a:.3f} s ({options.tasks / a:,.0f} tasks/s)")
    print(f"  (b) canvas.send (+ journal records)    {b:.3f} s ({options.tasks / b:,.0f} tasks/s)")
    print(f"  b/a {b / a:.3f}  (target <= 1.2: {'met' if b / a <= 1.2 else 'NOT met'})")
    if options.json:
        print(json.dumps({"tasks": options.tasks, "hand_s": round(a, 4), "canvas_s": round(b, 4),
                          "ratio": round(b / a, 4)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
