"""Consumers without Qt, each run alone in its own process: (a) the bare Celery receiver,
(b0) the panel's pipeline headless (as `celery-desk record` runs it), (c) Flower."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import (
    AMQP_CLIENT_ENV,
    FLOWER_MAX_TASKS,
    FLOWER_MAX_WORKERS,
    HISTORY_ENV,
    Control,
    emit,
    memory_mb,
    percentile,
)


def consume_bare(url: str, expected: int, quiet: float) -> dict[str, Any]:
    """Reference: JSON decode + a handler that only counts; reconnects at once when dropped."""
    from celery import Celery

    app = Celery("bench-bare", broker=url, set_as_current=False)
    control = Control()
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    reconnects = 0
    receiver: Any = None
    done = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += 1
        seen["last"] = now
        if seen["count"] >= expected:
            done.set()
            receiver.should_stop = True

    def watchdog() -> None:
        while not done.is_set():
            time.sleep(0.2)
            if control.quiet_for(seen["last"], quiet):
                done.set()
                if receiver is not None:
                    receiver.should_stop = True

    threading.Thread(target=watchdog, name="bench-watchdog", daemon=True).start()
    emit("READY", memory_mb())
    while not done.is_set():
        try:
            with app.connection_for_read() as connection:
                receiver = app.events.Receiver(connection, handlers={"*": on_event})
                receiver.capture(limit=None, timeout=None, wakeup=False)
        except Exception as exc:  # dropped by Redis (output buffer limit): count, go again
            if done.is_set():
                break
            reconnects += 1
            print(f"bare receiver dropped: {type(exc).__name__}: {exc}", file=sys.stderr)
    return {**_span(seen), "reconnects": reconnects, **memory_mb()}


def consume_pika(url: str, expected: int, quiet: float) -> dict[str, Any]:
    """The floor on RabbitMQ: pika, no acknowledgements, orjson, a handler that only counts;
    the queue declared as Celery's receiver declares it (its TTL and expiry included)."""
    import orjson
    import pika
    from celery import Celery

    from desktop.core.monitor.amqp_events import (
        declare_event_queue,
        pika_parameters,
        queue_arguments,
    )

    app = Celery("bench-pika", broker=url, set_as_current=False)
    control = Control()
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    with app.connection_for_read() as kombu_connection:
        queue = app.events.Receiver(kombu_connection).queue
        parameters = pika_parameters(kombu_connection, app.conf.broker_heartbeat)
        arguments = queue_arguments(kombu_connection, queue)
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    declare_event_queue(channel, queue, arguments)

    def on_message(_channel: Any, _method: Any, _properties: Any, body: bytes) -> None:
        payload = orjson.loads(body)
        now = time.perf_counter()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += len(payload) if isinstance(payload, list) else 1
        seen["last"] = now

    channel.basic_consume(queue.name, on_message, auto_ack=True)
    emit("READY", memory_mb())
    while seen["count"] < expected and not control.quiet_for(seen["last"], quiet):
        connection.process_data_events(time_limit=0.2)
    connection.close()
    return {**_span(seen), **memory_mb()}


def _log_progress(stream: Any, progress: dict[str, Any]) -> None:
    """Once a second to the consumer's log (stderr): taken from Redis, processed, queued."""
    started = time.perf_counter()

    def run() -> None:
        while True:
            time.sleep(1.0)
            print(
                f"t={time.perf_counter() - started:6.1f}s taken={stream.stats.received:>7} "
                f"processed={progress['processed']:>7} queued={stream.backlog:>7} "
                f"reconnects={stream.stats.reconnects}",
                file=sys.stderr,
                flush=True,
            )

    threading.Thread(target=run, name="bench-progress", daemon=True).start()


def consume_headless(url: str, expected: int, quiet: float, scratch: Path) -> dict[str, Any]:
    """The pipeline without Qt (what `celery-desk record` runs): tells Qt's share of (b). With
    a history in HISTORY_ENV (events.py --history), the recorder writing to PostgreSQL."""
    from desktop.core.monitor.journal import Journal
    from desktop.core.monitor.pipeline import Monitor

    history = os.environ.get(HISTORY_ENV, "")
    journal: Any
    if history:
        from desktop.core.history.pg_journal import PgJournal

        journal = PgJournal(history)
    else:
        journal = Journal(scratch / "journal.sqlite3")
    journal = TimedWrites(journal)
    monitor = Monitor(url, "", journal)
    monitor.stream.amqp_client = os.environ.get(AMQP_CLIENT_ENV, "pika")
    stream = monitor.stream
    pipeline_batch = stream.on_batch
    control = Control()
    progress = {"processed": 0, "first": 0.0, "last": 0.0, "moved": 0.0}

    def on_batch(batch: list[dict[str, Any]]) -> None:
        pipeline_batch(batch)
        progress["processed"] += len(batch)
        progress["last"] = time.perf_counter()

    stream.on_batch = on_batch
    monitor.start()
    emit("READY", memory_mb())
    _log_progress(stream, progress)
    backlog = 0
    seen: tuple[int, ...] = ()
    while not (progress["processed"] >= expected or control.quiet_for(progress["moved"], quiet)):
        if not progress["first"] and (stream.backlog or stream.stats.received):
            progress["first"] = time.perf_counter()
        backlog = max(backlog, stream.backlog)
        now = (stream.stats.received, stream.backlog, progress["processed"])
        if now != seen:
            seen, progress["moved"] = now, time.perf_counter()
        time.sleep(0.001 if not progress["first"] else 0.01)
    memory = memory_mb()
    monitor.stop()  # waits for the journal's writer: what was handed on is written
    journal.close()
    last = max(progress["last"], journal.done_at)
    elapsed = last - progress["first"] if progress["first"] else 0.0
    return {
        **_stored(history or str(scratch / "journal.sqlite3")),
        **journal.figures(),
        "history": "postgresql" if history else "sqlite",
        "received": progress["processed"],
        "elapsed_s": elapsed,
        "eps": progress["processed"] / elapsed if elapsed else 0.0,
        "reconnects": stream.stats.reconnects,
        "max_backlog_events": backlog,
        **memory,
    }


class TimedWrites:
    """A journal whose batch writes are timed (the rest passed through): the recorder writes
    on a thread of its own behind the stream (monitor/write_behind.py), so the flood is
    handled when the last write is done, not when the last batch was handed on."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal
        self._ms: list[float] = []
        self.done_at = 0.0  # when the last write ended: the journal holds the flood from then

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)

    def write(self, rows: Any, events: Any, heard_until: float | None = None) -> int:
        started = time.perf_counter()
        try:
            return int(self._journal.write(rows, events, heard_until=heard_until))
        finally:
            self.done_at = time.perf_counter()
            self._ms.append((self.done_at - started) * 1000)

    def figures(self) -> dict[str, float]:
        return {
            "writes": len(self._ms),
            "write_ms_p50": percentile(self._ms, 50),
            "write_ms_p99": percentile(self._ms, 99),
            "write_ms_max": max(self._ms, default=0.0),
            "write_s_total": sum(self._ms) / 1000,
        }


def _stored(where: str) -> dict[str, int]:
    """What the journal holds at the end (a SQLite path or a PostgreSQL URL): its tasks, of
    them SUCCESS, and its events; the flood's are all there when nothing was lost."""
    tasks = "SELECT count(*), count(*) FILTER (WHERE state = 'SUCCESS') FROM tasks"
    if where.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(where) as conn:
            counted = conn.execute(tasks).fetchone() or (0, 0)
            events = conn.execute("SELECT count(*) FROM events").fetchone() or (0,)
    else:
        import sqlite3

        conn = sqlite3.connect(where)
        counted = conn.execute(tasks).fetchone()
        events = conn.execute("SELECT count(*) FROM events").fetchone()
        conn.close()
    return {
        "journal_tasks": int(counted[0]),
        "journal_success": int(counted[1] or 0),
        "journal_events": int(events[0]),
    }


def consume_flower(url: str, expected: int, quiet: float) -> dict[str, Any]:
    """Flower's own `Events` thread and `EventsState` on a tornado IOLoop, Flower's defaults."""
    from celery import Celery
    from flower.events import Events
    from tornado.ioloop import IOLoop, PeriodicCallback

    io_loop = IOLoop.current()
    capp = Celery("bench-flower", broker=url, set_as_current=False)
    events = Events(
        capp,
        io_loop,
        enable_events=True,  # Flower's default (--enable-events)
        max_tasks_in_memory=FLOWER_MAX_TASKS,
        max_workers_in_memory=FLOWER_MAX_WORKERS,
    )
    control = Control()
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    flower_event: Callable[[dict[str, Any]], None] = events.state.event

    def counted(event: dict[str, Any]) -> None:
        # Runs on the IOLoop, where Flower applies every event (on_event -> add_callback).
        flower_event(event)
        now = time.perf_counter()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += 1
        seen["last"] = now

    events.state.event = counted  # type: ignore[method-assign]
    taken = {"count": 0, "last": 0.0}
    flower_on_event: Callable[[dict[str, Any]], None] = events.on_event

    def taken_counted(event: dict[str, Any]) -> None:
        # Flower's capture thread: what it took from Redis, before the IOLoop applies it.
        taken["count"] += 1
        taken["last"] = time.perf_counter()
        flower_on_event(event)

    events.on_event = taken_counted  # type: ignore[method-assign]

    def check() -> None:
        moved = max(seen["last"], taken["last"])
        if seen["count"] >= expected or control.quiet_for(moved, quiet):
            io_loop.stop()

    checker = PeriodicCallback(check, 50)
    events.start()
    checker.start()
    emit("READY", memory_mb())
    io_loop.start()
    memory = memory_mb()
    state = events.state
    succeeded = sum(1 for _, task in state.tasks.items() if task.state == "SUCCESS")
    return {
        **_span(seen),
        "taken": taken["count"],
        "tasks_in_memory": len(state.tasks),
        "tasks_success_in_memory": succeeded,
        **memory,
    }


def _span(seen: dict[str, Any]) -> dict[str, Any]:
    elapsed = seen["last"] - seen["first"] if seen["count"] > 1 else 0.0
    return {
        "received": seen["count"],
        "elapsed_s": elapsed,
        "eps": seen["count"] / elapsed if elapsed else 0.0,
    }
