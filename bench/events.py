"""Event throughput: a bare Celery receiver, the panel's pipeline and Flower, on one flood.

A publisher floods a private embedded Redis (or, with --broker amqp://..., a vhost of the run's
own on that RabbitMQ) with synthetic task lifecycles (sent, received,
started, succeeded) through Celery's event dispatcher. Each consumer runs alone in its own
process (so its memory is its own), subscribes first, then drains the same kind of flood:

(a) a bare `app.events.Receiver` with a no-op handler: the reference;
(b) the panel: `Monitor` -> `ClusterState` -> `Journal` -> a Qt queued signal -> the tasks model
    under a `QTableView` shown offscreen, timing every model update on the GUI thread;
(c) Flower's `EventsState`, fed by `flower.events.Events` exactly as Flower feeds it (capture
    thread -> `io_loop.add_callback(state.event)` on a tornado IOLoop).

Redis drops a subscriber whose output buffer passes 32 MB, so events LOST count as much as
events/s. Prints figures and ratios from this run; asserts nothing (see docs/PERFORMANCE.md).
Usage: python bench/events.py [--tasks N] [--consumers bare,pipeline,flower] [--json]
  --consumers may add `headless` (the pipeline without Qt, as `celery-desk record` runs it)
  and `pika` (on RabbitMQ: a minimal pika consumer, no ack, orjson: the floor);
  --unlimited-buffer lifts Redis's pub/sub limit (capacity, memory after every task);
  --rate N paces the publisher (a steady cluster instead of a flood);
  --drain freezes each consumer during the flood, then times its drain (its own capacity);
  --history postgresql://user@host:port/db: (b0) records into PostgreSQL (PgJournal), in a
  database the run makes on that server and drops at the end (bench/pg_scratch.py), not SQLite.

The parts are in bench/eventbench/ (publisher, consumers, the Qt pipeline, the parent runner,
the report); this script is the one command, and each child process runs it with --role.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BROKER_ENV = "CELERY_DESK_BENCH_AMQP_URL"  # --broker env: the RabbitMQ URL, password included
sys.path.insert(0, str(ROOT))

# The parts live next to this script (its folder is sys.path[0]): one module per responsibility.
from eventbench.brokers import RabbitSide, RedisSide  # noqa: E402
from eventbench.common import AMQP_CLIENT_ENV, CONSUMERS, HISTORY_ENV, URL_ENV, emit  # noqa: E402
from eventbench.consumers import (  # noqa: E402
    consume_bare,
    consume_flower,
    consume_headless,
    consume_pika,
)
from eventbench.pipeline import consume_pipeline  # noqa: E402
from eventbench.publisher import publish  # noqa: E402
from eventbench.report import report  # noqa: E402
from eventbench.runner import run_one  # noqa: E402


def _consumer_main(args: argparse.Namespace) -> int:
    url = os.environ[URL_ENV]
    expected = 4 * args.tasks
    scratch = Path(args.scratch)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval / 1000)
    if args.role == "publish":
        emit("RESULT", publish(url, args.tasks, args.pipeline, args.rate))
    elif args.role == "bare":
        emit("RESULT", consume_bare(url, expected, args.quiet))
    elif args.role == "pipeline":
        switch_set = bool(args.switch_interval)
        emit("RESULT", consume_pipeline(url, expected, args.quiet, scratch, switch_set))
    elif args.role == "pika":
        emit("RESULT", consume_pika(url, expected, args.quiet))
    elif args.role == "headless":
        emit("RESULT", consume_headless(url, expected, args.quiet, scratch))
    elif args.role == "flower":
        result = consume_flower(url, expected, args.quiet)
        emit("RESULT", result)
        os._exit(0)  # Flower's capture thread never returns; nothing else is left to flush
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="task lifecycles to flood")
    parser.add_argument("--consumers", default="bare,pipeline,flower")
    parser.add_argument("--quiet", type=float, default=5.0, help="s without progress = lost")
    parser.add_argument("--pipeline", type=int, default=500, help="PUBLISHes per round trip")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="publish at most this many events/s (0: flood)"
    )
    parser.add_argument(
        "--rates",
        default="",
        help="one run per rate, e.g. 0,2000,5000,10000,20000 (0: flat out); overrides --rate",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="experiment: sys.setswitchinterval(ms / 1000) in the consumers (Python: 5 ms)",
    )
    parser.add_argument(
        "--unlimited-buffer",
        action="store_true",
        help="lift Redis's 32 MB pub/sub output-buffer limit: nobody is dropped, so events/s "
        "is each consumer's capacity and memory is after every task (default: Redis's limit)",
    )
    parser.add_argument(
        "--keep-scratch", action="store_true", help="keep the temp dir (logs, journals)"
    )
    parser.add_argument(
        "--drain",
        action="store_true",
        help="freeze each consumer (SIGSTOP) during the flood and let it drain Redis after: "
        "capacity without sharing the CPU with the publisher (implies --unlimited-buffer)",
    )
    parser.add_argument(
        "--broker",
        default="",
        help="flood this RabbitMQ (amqp://user:pass@host:port/, or `env`: the URL in "
        f"{BROKER_ENV}, off the command line) in a vhost of the run's own; "
        "default: a private embedded Redis",
    )
    parser.add_argument(
        "--management", default="", help="RabbitMQ's management URL (default http://HOST:15672)"
    )
    parser.add_argument(
        "--amqp-client",
        choices=("pika", "kombu"),
        default="pika",
        help="the panel's RabbitMQ event reader in (b)/(b0): pika (the panel's) or Celery's "
        "kombu consumer (the comparison)",
    )
    parser.add_argument(
        "--history",
        default="",
        help="(b0) headless records into PostgreSQL: a database of the run's own on this "
        "server (postgresql://user@host:port/db; made and dropped by the run)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--role", default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.unlimited_buffer = args.unlimited_buffer or args.drain
    if args.role != "parent":
        return _consumer_main(args)

    roles = [r.strip() for r in args.consumers.split(",") if r.strip()]
    unknown = set(roles) - set(CONSUMERS)
    if unknown:
        parser.error(f"unknown consumers: {', '.join(sorted(unknown))}")
    os.environ[AMQP_CLIENT_ENV] = args.amqp_client
    if args.broker == "env":  # the URL (and its password) kept off the command line
        args.broker = os.environ.get(BROKER_ENV, "")
        if not args.broker:
            parser.error(f"--broker env: set {BROKER_ENV} to the amqp:// URL")
    elif "@" in args.broker and ":" in args.broker.split("@")[0].split("//")[-1]:
        print(f"warning: a password in --broker is visible to every user (ps); put the URL in "
              f"{BROKER_ENV} and pass --broker env", file=sys.stderr)  # fmt: skip
    amqp = args.broker.startswith(("amqp://", "pyamqp://"))
    if args.broker and not amqp:
        parser.error("--broker takes an amqp:// URL (without it, a private Redis is started)")
    if amqp and (args.drain or args.unlimited_buffer):
        parser.error("--drain and --unlimited-buffer are Redis's: RabbitMQ keeps a frozen "
                     "consumer's events only for the event queue's TTL")  # fmt: skip
    if "flower" in roles and importlib.util.find_spec("flower") is None:
        # Said before the runs, not as a crash after the others ran and their figures are lost.
        print(f"skipping {CONSUMERS['flower']}: not installed (pip install -e '.[bench]')")
        roles.remove("flower")
    if args.history and "headless" not in roles:
        parser.error("--history is the recorder's: add headless to --consumers")
    scratch = Path(tempfile.mkdtemp(prefix="cd-bench-events-"))
    rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
    runs: list[dict[str, dict[str, Any]]] = []
    side: Any = None
    history = contextlib.ExitStack()
    try:
        if args.history:
            from pg_scratch import scratch_database

            os.environ[HISTORY_ENV] = history.enter_context(scratch_database(args.history))
        side = RabbitSide(args.broker, args.management) if amqp else None
        side = side or RedisSide(scratch, args.unlimited_buffer)
        args.broker_name, args.backlog_unit = side.name, side.backlog_unit
        for rate in rates:
            args.rate = rate
            results: dict[str, dict[str, Any]] = {}
            for role in roles:
                pace = f"at {rate:,.0f} events/s" if rate else "flat out"
                print(f"running {CONSUMERS[role]} {pace} ...", flush=True)
                (scratch / f"{rate:.0f}").mkdir(exist_ok=True)
                results[role] = run_one(role, args, scratch / f"{rate:.0f}", side)
            runs.append(results)
    finally:
        if side is not None:
            side.close()
        history.close()
        if args.keep_scratch:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    every: list[dict[str, Any]] = []
    for rate, results in zip(rates, runs, strict=False):
        args.rate = rate
        print()
        every.append(report(results, args))
    if args.json:  # the last line: the last rate's figures, and every rate's under "rates"
        print(json.dumps({**every[-1], "rates": every} if len(every) > 1 else every[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
