"""Bulk retry: 1,000 failed tasks sent again, against bare Celery sending the same calls.

Sides, each on the same broker, the same 1,000 calls (workers.tasks.add with its stored
arguments) to one queue, nothing consuming it (the queue is emptied between runs):

- bare Celery: `app.send_task(name, args, kwargs, queue=...)` in a loop, as a person's
  script retries them (Celery takes a producer from its pool for each call);
- the panel without journal: `retrying.resend` (one producer, kombu's `Producer.batch`
  flushed every SEND_BATCH messages);
- the panel as the Failures screen does it: the same, each new task journaled with
  `retry_of` in a real SQLite journal as the broker takes it; and planning (reading the
  stored calls back from the journal) timed on its own.

Brokers: a private embedded Redis, and RabbitMQ when --amqp URL answers (default the local
guest URL; a vhost of its own is not needed: the queue is unique to the run and deleted).
Prints medians of --runs rounds and ratios against bare Celery; asserts nothing about timings.
Usage: python bench/retry.py [--tasks N] [--runs R] [--amqp URL|none]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CELERY_DESK_SECRETS"] = "file"

from celery import Celery  # noqa: E402
from kombu import Connection  # noqa: E402

from desktop.core.broker import retrying  # noqa: E402
from desktop.core.broker.embedded import EmbeddedRedis  # noqa: E402
from desktop.core.monitor.journal import Journal  # noqa: E402
from desktop.core.monitor.state import TaskRow  # noqa: E402
from desktop.core.settings.secret_store import FileSecretStore  # noqa: E402

TASK = "workers.tasks.add"


def failed_rows(count: int, queue: str) -> list[TaskRow]:
    values = dict.fromkeys(TaskRow.__dataclass_fields__)
    rows = []
    for n in range(count):
        values.update(
            id=str(uuid.uuid4()), name=TASK, state="FAILURE", args=f"({n}, 'x')", kwargs="{}",
            routing_key=queue, exception="TypeError('x')", finished=time.time(),
            updated=time.time(),
        )  # fmt: skip
        rows.append(TaskRow(**values))  # type: ignore[arg-type]
    return rows


def median_s(call: Callable[[], object], empty: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        empty()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    empty()
    return statistics.median(times)


def measure(broker_url: str, tasks: int, runs: int, scratch: Path, label: str) -> None:
    queue = f"bench-retry-{uuid.uuid4().hex[:8]}"
    app = Celery("bench", broker=broker_url, set_as_current=False)
    app.conf.task_serializer = "json"
    journal = Journal(scratch / f"{label}.sqlite3")
    journal.write(failed_rows(tasks, queue), [])
    ids = [r["id"] for r in journal.page(None, 0, tasks)]  # type: ignore[arg-type]
    rows = journal.rows(ids)

    def empty() -> None:
        with Connection(broker_url) as conn:
            channel = conn.default_channel
            with contextlib.suppress(Exception):  # not declared yet
                channel.queue_purge(queue)

    planning = median_s(lambda: retrying.plan(journal.rows(ids).values()), lambda: None, runs)
    planned, refused = retrying.plan(rows.values())
    assert not refused and len(planned) == tasks

    def bare() -> None:
        for item in planned:
            app.send_task(item.name, args=item.args, kwargs=item.kwargs, queue=queue)

    def panel() -> None:
        outcome = retrying.resend(app, planned)
        assert outcome.failure is None and len(outcome.resent) == tasks, outcome.failure

    def journaled() -> None:
        def record(taken: list[tuple[retrying.Planned, str]]) -> None:
            journal.record_submitted_many(retrying.submitted(taken))

        outcome = retrying.resend(app, planned, record)
        assert outcome.unrecorded is None and len(outcome.resent) == tasks

    for item in planned:  # every task to the bench's own queue
        object.__setattr__(item, "queue", queue)
    bare()  # warm-up: connection, queue declared
    reference = median_s(bare, empty, runs)
    figures = [
        ("bare Celery send_task loop", reference),
        ("panel resend (one producer, batched)", median_s(panel, empty, runs)),
        ("panel resend + journal (retry_of)", median_s(journaled, empty, runs)),
    ]
    print(f"\n{label}: {tasks} tasks, median of {runs}")
    print(f"  {'planning (rows read back + literals)':<40} {planning * 1000:8.1f} ms")
    for name, seconds in figures:
        print(
            f"  {name:<40} {seconds * 1000:8.1f} ms  {tasks / seconds:9,.0f} tasks/s  "
            f"x{reference / seconds:.2f} of bare"
        )
    with Connection(broker_url) as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)
    journal.close()
    app.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672//")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-bench-retry-"))
    broker = EmbeddedRedis(scratch / "broker", FileSecretStore(scratch / "secrets.json"))
    broker.start()
    try:
        measure(broker.url(0), options.tasks, options.runs, scratch, "Redis (embedded)")
    finally:
        broker.stop()
    if options.amqp != "none":
        try:
            with Connection(options.amqp, connect_timeout=3) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception as exc:
            print(f"\nRabbitMQ: skipped ({exc})")
            return 0
        measure(options.amqp, options.tasks, options.runs, scratch, "RabbitMQ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
