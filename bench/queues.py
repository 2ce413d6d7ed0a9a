"""Queues on Redis: one page of a 100,000-message queue, and counts of 1,000 queues, vs Flower.

On a private embedded Redis, a Celery app (JSON, broker_transport_options
{"queue_order_strategy": "priority", "priority_steps": 0..9}) publishes real task messages with
`app.send_task(..., priority=p, producer=producer)` inside kombu's `producer.batch()` (kombu
routes each message to its step list itself and buffers the LPUSHes in pipelines):

- one queue of N messages (default 100,000), priority i % 10, so ten step lists of N/10;
- Q small queues (default 1,000) of 1-5 messages each over several steps; a worker-style
  consumer takes one message of every tenth queue without acking it (the `unacked` hash).

Then, `RedisQueues` as the Queues panel uses it: a new client per refresh (connect + AUTH +
SELECT included: "cold"), and with a client kept open ("warm"):
(a) `waiting(queue, 0, 50)`, the first page, and a deep page (offset 95,000);
(b) `counts(names)` of the Q queues, its round trips counted by the sends on redis-py
    connections and checked against `INFO commandstats` deltas;
(c) the reference: Flower 2.x's own code (`flower.utils.broker.Broker(...).queues(names)`,
    built per call as Flower's views build it, on one asyncio loop) on the same data; it only
    counts (Flower cannot list contents);
(d) custom steps [0, 3, 6, 9] and one message at priority 5 (kombu puts it in step 3): Flower's
    count vs ours vs the lists themselves.
Every figure is checked for correctness first (ids in delivery order, counts equal to what was
published). Prints figures and ratios from this run; asserts nothing about timings.
Usage: python bench/queues.py [--messages N] [--queues Q] [--runs R] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CELERY_DESK_SECRETS"] = "file"

import redis  # noqa: E402
import redis.asyncio.connection  # noqa: E402
import redis.connection  # noqa: E402
from celery import Celery  # noqa: E402
from flower.utils.broker import Broker  # noqa: E402

from desktop.core.app import probe as app_probe  # noqa: E402
from desktop.core.app.config import from_probe  # noqa: E402
from desktop.core.app.effective_config import EffectiveConfig  # noqa: E402
from desktop.core.broker.embedded import EmbeddedRedis  # noqa: E402
from desktop.core.broker.queue_redis import RedisQueues  # noqa: E402
from desktop.core.broker.queues import snapshot  # noqa: E402
from desktop.core.settings.profile_model import Profile  # noqa: E402
from desktop.core.settings.secret_store import FileSecretStore  # noqa: E402

TASK = "bench.queues.noop"  # never run: no worker consumes these queues
STEPS = list(range(10))
CUSTOM_STEPS = [0, 3, 6, 9]
PAGE = 50
PANEL_PAGE = 200  # desktop/ui/queues/reading.py PAGE


def make_app(url: str, steps: list[int]) -> Celery:
    app = Celery("bench-queues", broker=url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=False,
        broker_transport_options={"queue_order_strategy": "priority", "priority_steps": steps},
    )
    return app


def effective(app: Celery) -> EffectiveConfig:
    """The app's effective configuration, read as the panel reads a person's app."""
    return from_probe(app_probe.describe(app), Profile(name="bench-queues"))


def publish(app: Celery, items: list[tuple[str, int, int]]) -> list[str]:
    """(queue, priority, arg) in publish order; the task ids, in the same order."""
    ids = []
    with app.producer_or_acquire() as producer, producer.batch(1000):
        for queue, priority, arg in items:
            sent = app.send_task(
                TASK, args=(arg,), queue=queue, priority=priority, producer=producer
            )
            ids.append(sent.id)
    return ids


def timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    call()  # warm-up: imports, first connection of a kept client
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def ms(seconds: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


@contextlib.contextmanager
def counting_sends() -> Iterator[list[int]]:
    """Counts writes to Redis sockets (sync and asyncio redis-py): one per round trip, since a
    pipeline packs all its commands into one send and a single command is one send."""
    found = [0]
    patched = []
    for cls in (redis.connection.AbstractConnection, redis.asyncio.connection.AbstractConnection):
        original = cls.send_packed_command
        if asyncio.iscoroutinefunction(original):

            async def counted_async(self: Any, *a: Any, _o: Any = original, **k: Any) -> Any:
                found[0] += 1
                return await _o(self, *a, **k)

            cls.send_packed_command = counted_async  # type: ignore[method-assign]
        else:

            def counted(self: Any, *a: Any, _o: Any = original, **k: Any) -> Any:
                found[0] += 1
                return _o(self, *a, **k)

            cls.send_packed_command = counted  # type: ignore[method-assign]
        patched.append((cls, original))
    try:
        yield found
    finally:
        for cls, original in patched:
            cls.send_packed_command = original  # type: ignore[method-assign]


def command_calls(admin: redis.Redis) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {name: after[name] - before.get(name, 0) for name in after}
    return {name: n for name, n in sorted(changed.items()) if n and name != "info"}


def flower_counts(url: str, options: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Flower's `BaseHandler.get_broker()` builds a Broker per request; then `queues(names)`."""

    async def ask() -> list[dict[str, Any]]:
        return await Broker(url, http_api=None, broker_options=options).queues(names)

    return asyncio.run(ask())


class FlowerTimer:
    """Flower's coroutine, timed on one asyncio loop (a new Broker and connection per call)."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url, self.options = url, options
        self.loop = asyncio.new_event_loop()

    def __call__(self, names: list[str]) -> list[dict[str, Any]]:
        broker = Broker(self.url, http_api=None, broker_options=self.options)
        return self.loop.run_until_complete(broker.queues(names))

    def close(self) -> None:
        self.loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--deep", type=int, default=95_000, help="offset of the deep page")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    deep = min(options.deep, max(options.messages - PAGE, 0))
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-bench-queues-"))
    broker = EmbeddedRedis(scratch / "broker", FileSecretStore(scratch / "secrets.json"))
    status = broker.start()
    figures: dict[str, Any] = {
        "messages": options.messages,
        "queues": options.queues,
        "runs": options.runs,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "redis_server": status.version,
    }
    problems: list[str] = []
    try:
        url = broker.url(0)
        admin = redis.Redis.from_url(url)
        app = make_app(url, STEPS)
        transport = effective(app)
        tag = uuid.uuid4().hex[:6]

        # -- fill -----------------------------------------------------------------------------
        big = f"bench-queues-{tag}-big"
        started = time.perf_counter()
        big_ids = publish(app, [(big, i % 10, i) for i in range(options.messages)])
        fill_s = time.perf_counter() - started
        figures["fill_s"] = round(fill_s, 2)
        print(
            f"published {options.messages:,} messages to {big} in {fill_s:.1f} s "
            f"({options.messages / fill_s:,.0f}/s, Celery send_task in producer.batch)",
            file=sys.stderr,
        )
        # Delivery order: step 0 first, then 1, ...; inside a step, first published first.
        order = sorted(range(options.messages), key=lambda i: (i % 10, i))
        expected_ids = [big_ids[i] for i in order]

        names = [f"bench-queues-{tag}-{j:04d}" for j in range(options.queues)]
        small: list[tuple[str, int, int]] = []
        truth: dict[str, int] = {}
        for j, name in enumerate(names):
            count = 1 + j % 5
            truth[name] = count
            small += [(name, (j * 7 + k * 3) % 10, k) for k in range(count)]
        publish(app, small)
        # A consumer takes one message of every tenth queue and keeps it unacked (the
        # connection stays open: closing the channel would restore them).
        taker = app.connection_for_read()
        channel = taker.default_channel
        held = {}
        for name in names[::10]:
            message = channel.basic_get(name, no_ack=False)
            if message is not None:
                truth[name] -= 1
                held[name] = 1
        figures["unacked"] = len(held)
        print(
            f"published {len(small):,} messages to {options.queues:,} queues; "
            f"{len(held)} taken and not acked",
            file=sys.stderr,
        )

        def cold(call: Callable[[RedisQueues], Any]) -> Callable[[], Any]:
            def run() -> Any:
                source = RedisQueues(url, transport)  # as the panel's refresh does
                try:
                    return call(source)
                finally:
                    source.close()

            return run

        warm_source = RedisQueues(url, transport)

        # -- (a) pages ----------------------------------------------------------------------
        first_page = lambda q: q.waiting(big, 0, PAGE)  # noqa: E731
        deep_page = lambda q: q.waiting(big, deep, PAGE)  # noqa: E731
        for label, call, offset in (("first", first_page, 0), ("deep", deep_page, deep)):
            page = call(warm_source)
            got = [w.message.id for w in page]
            positions = [w.position for w in page]
            if got != expected_ids[offset : offset + PAGE] or positions != list(
                range(offset, offset + len(page))
            ):
                problems.append(f"{label} page is not the delivery order")
            cold_s, _ = timed(cold(call), options.runs)
            warm_s, _ = timed(lambda call=call: call(warm_source), options.runs)
            figures[f"{label}_page"] = {"cold": ms(cold_s), "warm": ms(warm_s), "offset": offset}
            with counting_sends() as sends:
                call(warm_source)
            figures[f"{label}_page"]["round_trips_warm"] = sends[0]

        # -- (b) counts of Q queues ---------------------------------------------------------
        counted = warm_source.counts(names)
        wrong = [
            c.queue
            for c in counted
            if c.waiting != truth[c.queue] or c.unacked != held.get(c.queue, 0)
        ]
        if wrong:
            problems.append(f"Desk counts wrong for {len(wrong)} queues, e.g. {wrong[0]}")
        counts_call = lambda q: q.counts(names)  # noqa: E731
        cold_s, _ = timed(cold(counts_call), options.runs)
        warm_s, _ = timed(lambda: counts_call(warm_source), options.runs)
        before = command_calls(admin)
        with counting_sends() as sends_warm:
            counts_call(warm_source)
        commands = delta(before, command_calls(admin))
        with counting_sends() as sends_cold:
            cold(counts_call)()
        figures["counts"] = {
            "cold": ms(cold_s),
            "warm": ms(warm_s),
            "round_trips_warm": sends_warm[0],
            "round_trips_cold": sends_cold[0],
            "commands_warm": commands,
        }

        # The panel's whole refresh: counts of every queue, a page of 200, the unacked hash.
        panel_s, _ = timed(
            cold(lambda q: snapshot(q, [*names, big], big, PANEL_PAGE, False)), options.runs
        )
        figures["panel_refresh"] = ms(panel_s)

        # -- (c) Flower on the same data ----------------------------------------------------
        celery_options = dict(app.conf.broker_transport_options)
        flower = FlowerTimer(url, celery_options)
        try:
            answer = flower(names)
            flower_wrong = [a["name"] for a in answer if a["messages"] != truth[a["name"]]]
            if flower_wrong:
                problems.append(f"Flower counts differ for {len(flower_wrong)} queues")
            f_names, _ = timed(lambda: flower(names), options.runs)
            f_big, big_answer = timed(lambda: flower([big]), options.runs)
            with counting_sends() as sends_flower:
                flower(names)
        finally:
            flower.close()
        d_big, desk_big = timed(cold(lambda q: q.counts([big])), options.runs)
        figures["flower"] = {
            "counts": ms(f_names),
            "round_trips": sends_flower[0],
            "big_queue_length": ms(f_big),
            "big_queue_messages": big_answer[0]["messages"],
        }
        figures["desk_big_queue_length"] = ms(d_big)
        if big_answer[0]["messages"] != options.messages or desk_big[0].waiting != len(big_ids):
            problems.append("the big queue's length is wrong")
        figures["flower_without_app_options_big"] = flower_counts(url, {}, [big])[0]["messages"]
        figures["ratios"] = {
            "counts_desk_cold_over_flower": round(
                statistics.median(cold_s) / statistics.median(f_names), 3
            ),
            "big_length_desk_cold_over_flower": round(
                statistics.median(d_big) / statistics.median(f_big), 3
            ),
            "first_page_desk_cold_over_flower_length": round(
                figures["first_page"]["cold"]["median_ms"] / 1000 / statistics.median(f_big), 3
            ),
        }

        # -- (d) custom steps ------------------------------------------------------------------
        custom_app = make_app(url, CUSTOM_STEPS)
        custom = f"bench-queues-{tag}-steps"
        publish(custom_app, [(custom, 5, 0)])
        sep = effective(custom_app).sep
        lists = {
            step: int(admin.llen(f"{custom}{sep}{step}" if step else custom)) for step in STEPS
        }
        desk_custom = RedisQueues(url, effective(custom_app))
        try:
            ours = desk_custom.counts([custom])[0]
        finally:
            desk_custom.close()
        custom_options = dict(custom_app.conf.broker_transport_options)
        figures["custom_steps"] = {
            "steps": CUSTOM_STEPS,
            "priority": 5,
            "truth": sum(lists.values()),
            "truth_lists": {str(s): n for s, n in lists.items() if n},
            "desk": ours.waiting,
            "desk_steps": {str(s): n for s, n in ours.steps.items()},
            "flower": flower_counts(url, custom_options, [custom])[0]["messages"],
            "flower_default_options": flower_counts(url, {}, [custom])[0]["messages"],
            "flower_app_steps_0_9": flower_counts(url, celery_options, [custom])[0]["messages"],
        }
        custom_app.close()

        # -- delivery order against a real consumer: what kombu hands out, in that order ------
        ordered = f"bench-queues-{tag}-order"
        publish(app, [(ordered, (i * 7) % 10 if i % 3 else 9 - i % 10, i) for i in range(40)])
        shown = [w.message.id for w in warm_source.waiting(ordered, 0, 40)]
        consumed = []
        with app.connection_for_read() as consumer:
            for _ in range(40):
                message = consumer.default_channel.basic_get(ordered, no_ack=True)
                consumed.append(message.headers["id"] if message is not None else None)
        figures["order_matches_consumer"] = shown == consumed
        if shown != consumed:
            problems.append("waiting() order differs from what a consumer received")

        # -- clean up what this run created (its own server is stopped and removed next) -----
        warm_source.close()
        taker.release()  # closing the channel restores the unacked messages to their queues
        keys = [big, custom, ordered, *names]
        admin.delete(
            *[f"{q}{sep}{s}" if s else q for q in keys for s in STEPS],
            *[f"_kombu.binding.{q}" for q in keys],
        )
        admin.close()
        app.close()
    finally:
        broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    figures["problems"] = problems
    report(figures)
    if options.json:
        print(json.dumps(figures))
    return 0


def report(f: dict[str, Any]) -> None:
    def row(label: str, figure: dict[str, float], extra: str = "") -> None:
        print(f"  {label:<52} {figure['median_ms']:>8.2f} {figure['max_ms']:>8.2f}  {extra}")

    print(
        f"Redis {f['redis_server']}, {f['cpus']} CPUs, Python {f['python']}; "
        f"median / max of {f['runs']} runs, ms; cold = new client per call (as the panel)"
    )
    print(f"  {'':<52} {'median':>8} {'max':>8}")
    first, deep, counts, flower = f["first_page"], f["deep_page"], f["counts"], f["flower"]
    target = "target < 100 ms: " + ("met" if first["cold"]["median_ms"] < 100 else "NOT met")
    row(f"waiting(), first page of {PAGE}, of {f['messages']:,}, cold", first["cold"], target)
    row("  same, warm client", first["warm"], f"{first['round_trips_warm']} round trips")
    row(f"waiting(), page at offset {deep['offset']:,}, cold", deep["cold"])
    row("  same, warm client", deep["warm"], f"{deep['round_trips_warm']} round trips")
    target = "target < 200 ms: " + ("met" if counts["cold"]["median_ms"] < 200 else "NOT met")
    row(f"counts() of {f['queues']:,} queues, cold", counts["cold"], target)
    row(
        "  same, warm client",
        counts["warm"],
        f"{counts['round_trips_warm']} round trip ({counts['round_trips_cold']} cold, with "
        "the handshake)",
    )
    print(f"    Redis commands of one warm counts(): {counts['commands_warm']}")
    row(f"panel refresh: counts + page of {PANEL_PAGE} + unacked, cold", f["panel_refresh"])
    row(f"Flower Broker.queues() of {f['queues']:,} queues", flower["counts"])
    row(f"Flower Broker.queues() of the {f['messages']:,} queue", flower["big_queue_length"])
    row(f"Desk counts() of the {f['messages']:,} queue, cold", f["desk_big_queue_length"])
    ratios = f["ratios"]
    print(
        f"  Desk/Flower: {f['queues']:,} counts {ratios['counts_desk_cold_over_flower']:.2f}, "
        f"big-queue length {ratios['big_length_desk_cold_over_flower']:.2f}, "
        f"first page (contents) vs Flower's length only "
        f"{ratios['first_page_desk_cold_over_flower_length']:.2f}"
    )
    print(
        f"  Flower round trips per call: {flower['round_trips']} (new connection each call); "
        f"Flower without the app's transport options counts the {f['messages']:,} queue as "
        f"{f['flower_without_app_options_big']:,}"
    )
    c = f["custom_steps"]
    print(
        f"custom steps {c['steps']}, one message at priority {c['priority']}: lists hold "
        f"{c['truth']} {c['truth_lists']} (key step), Desk {c['desk']} {c['desk_steps']}, "
        f"Flower {c['flower']} (same options), Flower with no options {c['flower_default_options']}"
        f", Flower given steps 0..9 {c['flower_app_steps_0_9']}"
    )
    print(
        f"unacked taken: {f['unacked']}; fill {f['fill_s']} s; waiting() order equals a "
        f"consumer's basic_get order (40 messages, mixed steps): {f['order_matches_consumer']}"
    )
    print("checks: " + ("all correct" if not f["problems"] else "; ".join(f["problems"])))


if __name__ == "__main__":
    sys.exit(main())
