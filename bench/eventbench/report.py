"""The report: the table of every consumer's figures, the ratios against the targets of
docs/PERFORMANCE.md, and the figures for `--json`."""

from __future__ import annotations

import argparse
from typing import Any

from .common import CONSUMERS, FLOWER_MAX_TASKS


def _ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom else 0.0


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Print the table and the ratios; return the JSON figures."""
    tasks = args.tasks
    any_result = next(iter(results.values()))
    wire = (
        f", ~{any_result['bytes_per_event']:.0f} bytes each on the wire (PUBLISH)"
        if args.broker_name == "redis"
        else f", on RabbitMQ (backlog: deepest event queue, {args.backlog_unit})"
    )
    pace = f"paced at {args.rate:,.0f} events/s" if args.rate else "flat out"
    print(
        f"flood: {tasks:,} tasks x 4 = {4 * tasks:,} events{wire}; one publisher process, "
        f"kombu producer.batch({args.pipeline}), {pace}"
    )
    if args.drain:
        print(
            "drain mode: each consumer was frozen during the flood and drained Redis afterwards "
            "(pub ev/s is the flood's rate, events/s the consumer's own)"
        )
    header = (
        f"{'consumer':<27}{'pub ev/s':>9}{'received':>10}{'LOST':>9}{'events/s':>10}"
        f"{'elapsed':>9}{'RSS idle':>9}{'RSS end':>9}{'RSS peak':>9}{'drops':>6}"
        f"{'backlog':>10}{'CPU/ev':>8}"
    )
    print(header)
    print("-" * len(header))
    for role, r in results.items():
        print(
            f"{CONSUMERS[role]:<27}{r['publisher_eps']:>9,.0f}{r['received']:>10,}"
            f"{r['lost']:>9,}{r['eps']:>10,.0f}{r['elapsed_s']:>8.1f}s"
            f"{r['rss_ready_mb']:>7.0f}MB{r['rss_mb']:>7.0f}MB{r['peak_rss_mb']:>7.0f}MB{r['broker_drops']:>6}"
            f"{r['broker_max_backlog']:>8.1f}{args.backlog_unit[:2]}"
            f"{r['cpu_us_per_event']:>6.0f}us"
        )
    for role, r in results.items():
        if not args.drain and not r["lost"] and r["eps"] >= 0.97 * r["publisher_eps"]:
            print(
                f"{CONSUMERS[role]} kept up with the publisher: its events/s is the flood's "
                "rate, a lower bound of its capacity"
            )
    bare = results.get("bare", {}).get("eps", 0.0)
    pipe = results.get("pipeline", {})
    flower = results.get("flower", {})
    figures: dict[str, Any] = {
        "tasks": tasks,
        "broker": args.broker_name,
        "redis_buffer_limit": "unlimited" if args.unlimited_buffer else "redis default",
        "rate": args.rate,
        "drain": args.drain,
        "bare_eps": round(bare, 1),
        "pipeline_eps": round(pipe.get("eps", 0.0), 1),
        "flower_eps": round(flower.get("eps", 0.0), 1),
        "gui_batch_ms_p99": round(pipe.get("gui_batch_ms_p99", 0.0), 2),
        "rss_mb_pipeline": round(pipe.get("rss_mb", 0.0), 1),
        "rss_mb_flower": round(flower.get("rss_mb", 0.0), 1),
    }
    figures.update(pipeline_lost=None, flower_lost=None)  # present when not run, as None
    for role, r in results.items():
        if r.get("reconnects"):
            print(f"{CONSUMERS[role]}: reconnected {r['reconnects']} times")
        figures[f"{role}_lost"] = r["lost"]
        figures[f"{role}_cpu_us_per_event"] = round(r["cpu_us_per_event"], 1)
        figures[f"{role}_peak_rss_mb"] = round(r["peak_rss_mb"], 1)
        figures[f"{role}_publisher_eps"] = round(r["publisher_eps"], 1)
    headless = results.get("headless", {})
    if headless:
        b0_a = _ratio(headless["eps"], bare)
        figures.update(
            headless_eps=round(headless["eps"], 1),
            headless_history=headless["history"],
            ratio_b0_a=round(b0_a, 3),
            headless_journal_tasks=headless["journal_tasks"],
            headless_journal_events=headless["journal_events"],
        )
        print()
        if bare:
            print(f"b0/a = {b0_a:.2f}   (the recorder into {headless['history']}; issue 20's "
                  f"target for PostgreSQL >= 0.8: {_verdict(b0_a >= 0.8)})")  # fmt: skip
        print(
            f"recorder's journal ({headless['history']}): {headless['journal_tasks']:,} tasks "
            f"({headless['journal_success']:,} SUCCESS), {headless['journal_events']:,} events "
            f"of {tasks:,} and {4 * tasks:,} flooded"
        )
        print(
            f"its batch writes ({headless['writes']:,}, on the journal's writer thread): p50 "
            f"{headless['write_ms_p50']:.0f} ms, p99 {headless['write_ms_p99']:.0f} ms, max "
            f"{headless['write_ms_max']:.0f} ms, {headless['write_s_total']:.1f} s in all"
        )
        figures.update(
            headless_write_ms_p50=round(headless["write_ms_p50"], 1),
            headless_write_ms_p99=round(headless["write_ms_p99"], 1),
            headless_write_s_total=round(headless["write_s_total"], 2),
        )
    if pipe:
        b_a, b_c = _ratio(pipe["eps"], bare), _ratio(pipe["eps"], flower.get("eps", 0.0))
        figures.update(ratio_b_a=round(b_a, 3), ratio_b_c=round(b_c, 3))
        print()
        if bare:
            print(f"b/a = {b_a:.2f}   (target >= 0.8: {_verdict(b_a >= 0.8)})")
        if flower:
            print(f"b/c = {b_c:.2f}   (target >= 3: {_verdict(b_c >= 3)})")
        p99 = pipe["gui_batch_ms_p99"]
        print(
            f"GUI thread per batch (model update slot, {pipe['diffs_applied']} batches): "
            f"p50 {pipe['gui_batch_ms_p50']:.1f} ms, p99 {p99:.1f} ms, "
            f"max {pipe['gui_batch_ms_max']:.1f} ms   (target p99 <= 16 ms: {_verdict(p99 <= 16)})"
        )
        print(
            f"  of which the GUI thread's own CPU: p50 {pipe['gui_batch_cpu_ms_p50']:.1f} ms, "
            f"p99 {pipe['gui_batch_cpu_ms_p99']:.1f} ms, max {pipe['gui_batch_cpu_ms_max']:.1f} ms"
            " (the rest is waiting for the GIL held by the event threads)"
        )
        print(
            f"GUI event loop (5 ms ticker; update + layout + paint + anything else): longest "
            f"gap {pipe['gui_stall_ms_max']:.1f} ms, p99 {pipe['gui_stall_ms_p99']:.1f} ms, "
            f"{pipe['gui_stalls_over_16ms']} gaps > 16 ms late; longest GC pause in that process "
            f"{pipe['gc_pause_ms_max']:.0f} ms ({pipe['gc_pauses']} collections)"
        )
        figures.update(
            gui_batch_ms_p50=round(pipe["gui_batch_ms_p50"], 2),
            gui_batch_ms_max=round(pipe["gui_batch_ms_max"], 2),
            gui_batch_cpu_ms_p99=round(pipe["gui_batch_cpu_ms_p99"], 2),
            gui_stall_ms_max=round(pipe["gui_stall_ms_max"], 2),
            model=pipe["model"],
        )
        print(f"tasks model: {pipe['model']}; rows in model at the end: {pipe['model_rows']:,}")
        print(
            f"journal: {pipe['journal_tasks']:,} tasks ({pipe['journal_success']:,} SUCCESS), "
            f"{pipe['journal_events']:,} events; deepest in-process backlog "
            f"{pipe['max_backlog_events']:,} events; reconnects {pipe['reconnects']}"
        )
        if pipe["gui_errors"] or pipe["gui_off_thread"]:
            print(
                f"!! model errors: {pipe['gui_errors']} ({pipe['gui_first_error']}); "
                f"slots off the GUI thread: {pipe['gui_off_thread']}"
            )
    if flower:
        print(
            f"Flower: max_tasks_in_memory={FLOWER_MAX_TASKS:,} (its default); taken from Redis "
            f"{flower['taken']:,} events; tasks in memory "
            f"{flower['tasks_in_memory']:,}, of them SUCCESS {flower['tasks_success_in_memory']:,}"
        )
    if pipe and flower:
        ok = pipe["rss_mb"] <= flower["rss_mb"] / 2
        seen = f"tasks seen: pipeline {pipe['journal_tasks']:,}, "
        seen += f"Flower {flower['tasks_in_memory']:,}"
        print(
            f"RSS at the end of {tasks:,} tasks ({seen}): pipeline {pipe['rss_mb']:.0f} MB, "
            f"Flower {flower['rss_mb']:.0f} MB   (target pipeline <= Flower/2: {_verdict(ok)})"
        )
        figures.update(
            pipeline_tasks_seen=pipe["journal_tasks"], flower_tasks_seen=flower["tasks_in_memory"]
        )
    return figures
