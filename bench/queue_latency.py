"""The Queues screen's poll with and without the oldest-age heads, on Redis, as bench/queues.py
fills it (without Flower, so it runs where Flower is not installed).

On a private embedded Redis a Celery app (JSON, priority_steps 0..9) publishes one queue of N
messages (default 100,000) at priorities i % 10 and 1,000 queues of 1-5 messages over several
steps. Then the panel's refresh, cold (a new `RedisQueues` per call, as the screen does):
`snapshot(every queue, the big one selected, page of 200)` with the first-seen memory, i.e. the
counts with each non-empty step list's tail; and the same with `counts(with_heads=False)` (no
ages). The first refresh (every head new: all sent and decoded), then the median and max of R
refreshes (the heads still there are not sent again), the Redis commands of one refresh and
the time Redis spent on them (`INFO commandstats`), how many heads a refresh holds and how
many it decoded (sent by Redis). Asserts nothing about timings.
Usage: python bench/queue_latency.py [--messages N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CELERY_DESK_SECRETS"] = "file"

import redis  # noqa: E402
from celery import Celery  # noqa: E402

from desktop.core.app import probe as app_probe  # noqa: E402
from desktop.core.app.config import from_probe  # noqa: E402
from desktop.core.broker import queue_latency, queue_redis, queues  # noqa: E402
from desktop.core.broker.embedded import EmbeddedRedis  # noqa: E402
from desktop.core.broker.queue_redis import RedisQueues  # noqa: E402
from desktop.core.settings.profile_model import Profile  # noqa: E402
from desktop.core.settings.secret_store import FileSecretStore  # noqa: E402

PANEL_PAGE = 200  # desktop/ui/queues/reading.py PAGE
IN_SCRIPTS = {f"cmdstat_{c}" for c in ("info", "llen", "lindex", "lrange", "type")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="celery-desk-bench-latency-"))
    broker = EmbeddedRedis(scratch / "broker", FileSecretStore(scratch / "secrets.json"))
    broker.start()
    try:
        url = broker.url(0)
        app = Celery("bench-latency", broker=url, set_as_current=False)
        app.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry_on_startup=False,
            broker_transport_options={"queue_order_strategy": "priority",
                                      "priority_steps": list(range(10))},
        )  # fmt: skip
        config = from_probe(app_probe.describe(app), Profile(name="bench-latency"))
        tag = uuid.uuid4().hex[:6]
        big = f"lat-{tag}-big"
        names = [f"lat-{tag}-{j:04d}" for j in range(1000)]
        items = [(big, i % 10) for i in range(options.messages)]
        for j, name in enumerate(names):
            items += [(name, (j * 7 + k * 3) % 10) for k in range(1 + j % 5)]
        with app.producer_or_acquire() as producer, producer.batch(1000):
            for queue, priority in items:
                app.send_task("bench.noop", queue=queue, priority=priority, producer=producer)
        memory = queue_latency.FirstSeen()
        everything = [*names, big]

        def with_ages() -> Any:
            source = RedisQueues(url, config)
            try:
                return queues.snapshot(source, everything, big, PANEL_PAGE, False, None, memory)
            finally:
                source.close()

        def without_ages() -> Any:
            source = RedisQueues(url, config)
            try:
                counted = source.counts(everything, with_heads=False)
                return counted, source.waiting(big, 0, PANEL_PAGE), source.unacked(big)
            finally:
                source.close()

        decoded = [0]
        decode = queue_redis.decode_envelope_headers

        def counted_decode(raw: Any) -> Any:
            decoded[0] += 1
            return decode(raw)

        queue_redis.decode_envelope_headers = counted_decode  # type: ignore[assignment]
        admin = redis.Redis.from_url(url)
        figures: dict[str, Any] = {"messages": options.messages, "queues": len(everything)}
        for label, call in (("without_ages", without_ages), ("with_ages", with_ages)):
            started = time.perf_counter()
            call()  # with ages: every head is new to the memory, so every one is sent
            first_ms = round((time.perf_counter() - started) * 1000, 1)
            decoded[0] = 0
            before = admin.info("commandstats")
            times = []
            for _ in range(options.runs):
                started = time.perf_counter()
                taken = call()
                times.append(time.perf_counter() - started)
            after = admin.info("commandstats")
            commands = {
                name.removeprefix("cmdstat_"): (after[name]["calls"] - before.get(name, {}).get(
                    "calls", 0)) // options.runs
                for name in after if name != "cmdstat_info"
            }  # fmt: skip
            # EVAL's time includes the commands its script calls, which are counted again
            # under their own names: those are left out here.
            server_usec = sum(
                after[name]["usec"] - before.get(name, {}).get("usec", 0)
                for name in after if name not in IN_SCRIPTS
            )  # fmt: skip
            figures[label] = {
                "first_ms": first_ms,
                "heads_decoded_per_refresh": decoded[0] / options.runs,
                "median_ms": round(statistics.median(times) * 1000, 1),
                "max_ms": round(max(times) * 1000, 1),
                "redis_server_ms": round(server_usec / options.runs / 1000, 1),
                "commands": {k: v for k, v in commands.items() if v},
            }
        figures["heads_read"] = sum(len(c.heads) for c in taken.counts)
        figures["queues_dated"] = sum(1 for o in taken.oldest.values() if o.age_s is not None)
        figures["load_average"] = os.getloadavg()[0]
        print(json.dumps(figures, indent=2))
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
