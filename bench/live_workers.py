"""The live path with one worker or several: lines/s and publish -> totals latency.

Run: ``python -m bench.live_workers --workers 1,2 --partitions 8 [--history 24M] [--rate 1000]``

For each worker count, on fresh topics of ``--partitions`` partitions: the workers are
started and wait, assigned (every raw partition owned once), then

1. the live mix of ``python -m bench`` (bench/mix.py: one line per record, streams
   interleaved) is published; lines/s from the first publish to the newest ``totals``
   record, read once every worker's /metrics shows every record consumed and the stages
   idle for 3 s (bench/pipeline.py's rule, with the workers' counters summed);
2. ``--rate`` lines/s are offered for ``--seconds`` (bench/pipeline.py's latency run:
   claude-json results, each its own scope) and publish -> totals p50/p99 is measured.

Workers and the broker share this machine's cores: on 2 cores, two workers compete with
each other and with the broker for the same CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench import mix
from bench.gen_history import parse_size
from bench.kafka_tools import (
    delete_prefix,
    fresh_settings,
    last_record_time,
    make_fast_producer,
    publish,
    remove_tree,
)
from bench.pipeline import run_latency
from bench.publish_lake import start_workers, summed_metrics
from config.settings import Settings
from tests.integration.producers_harness import free_port


async def _live(each: list[Settings], records: list[Any], timeout_s: float) -> tuple[float, dict[str, Any]]:
    settings = each[0]
    producer = make_fast_producer(settings)
    await producer.start()
    first = time.time()
    try:
        await publish(producer, settings.topic("raw"), records)
    finally:
        await producer.stop()
    answers: list[dict[str, Any]] = [{} for _ in each]
    last: tuple[Any, ...] = ()
    since = time.perf_counter()
    deadline = since + timeout_s
    metrics: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        metrics = await summed_metrics(each, answers)
        raw = sum(int(a.get("raw_records", 0)) for a in answers)
        progress = (raw, metrics["usage_events"], metrics["rollup_deltas"])
        if progress != last:
            last, since = progress, time.perf_counter()
        if raw >= len(records) and progress[2] == progress[1] and time.perf_counter() - since > 3.0:
            break
        await asyncio.sleep(0.25)
    else:
        raise TimeoutError(f"live run incomplete: {metrics}")
    newest = await last_record_time(settings, settings.topic("totals")) or time.time()
    return newest - first, metrics


async def run(args: argparse.Namespace) -> None:
    base, tmp = fresh_settings("lw")
    work = mix.build(tmp / "history", args.history, args.fixture_copies)
    records = mix.live_records(work)
    lines = sum(r.lines for r in records)
    print(f"live mix: {lines:,} lines, one per record; {args.partitions} partitions")
    try:
        for count in args.workers:
            settings = base.model_copy(
                update={"partitions": args.partitions, "topic_prefix": f"{base.topic_prefix}w{count}"}
            )
            each = [settings] + [
                settings.model_copy(update={"web_port": free_port(), "state_dir": tmp / f"state{count}-{n}"})
                for n in range(1, count)
            ]
            workers = await start_workers(each, tmp, ("--no-sink",) if args.no_sink else ())
            try:
                seconds, metrics = await _live(each, records, args.timeout)
                latency = await run_latency(settings, args.rate, args.seconds)
            finally:
                for worker in workers:
                    worker.terminate()
            per_worker = lines / seconds / count
            print(
                f"{count} worker(s): live {lines / seconds:,.0f} lines/s ({per_worker:,.0f} per worker; "
                f"{seconds:.1f} s), usage events {metrics['usage_events']:,}"
            )
            first, last_tenth = latency.drift()
            print(
                f"  publish -> totals at {args.rate:g} lines/s: p50 {latency.pct(50):.0f} ms, "
                f"p99 {latency.pct(99):.0f} ms, max {max(latency.millis, default=float('nan')):.0f} ms; "
                f"{len(latency.millis):,}/{latency.sent:,} seen; first/last tenth median "
                f"{first:.0f}/{last_tenth:.0f} ms"
            )
            await delete_prefix(settings)
    finally:
        await delete_prefix(base)
        remove_tree(tmp)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, in order")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--history", type=parse_size, default=parse_size("24M"))
    parser.add_argument("--fixture-copies", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-sink", action="store_true", help="workers without the lake sink")
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
