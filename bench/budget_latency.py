"""``python -m bench.budget_latency``: line that crosses a limit -> SIGTERM at the child.

A worker runs (a child process) while a load generator offers ``--rate`` lines/s (default
1,000) of result lines of other scopes to the raw topic. Meanwhile ``--trials`` runs of
``spendstream run --max-usd 0.05 -- python -m bench.budget_child``, ``--parallel`` at a time,
each print one $0.10 line and wait; the child notes, on its own monotonic clock, when it
wrote that line and when SIGTERM arrived. The figure is their difference: the run's
pass-through and publish, the worker's normalize -> ledger -> rollup -> totals, and the
guard's read of totals and its signal. Prints p50 / p99 / max and the load actually offered.

No broker needs to run first (bench/kafka_tools.py::fresh_settings). Everything the run
created (topics, scratch folders) is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.kafka_tools import (
    REPO,
    delete_prefix,
    fresh_settings,
    make_fast_producer,
    remove_tree,
    start_worker,
)
from bench.pipeline import result_line
from config.settings import Settings
from schemas.raw import encode_record
from schemas.sources import LineContext
from tests.integration.harness import settings_env


async def offer_load(settings: Settings, rate: float, stop: asyncio.Event) -> tuple[int, float]:
    """Send result lines of throwaway scopes at ``rate`` until ``stop``; returns (lines, seconds)."""
    producer = make_fast_producer(settings)
    await producer.start()
    run = uuid.uuid4().hex[:6]
    sent, started = 0, time.perf_counter()
    try:
        while not stop.is_set():
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scope = f"load{run}-root{sent % 20}/s{sent}"
            context = LineContext("claude-json", "bench", f"load:{scope}", 1, datetime.now(UTC))
            key, value, headers = encode_record(context, [result_line(scope, sent)])
            await producer.send(settings.topic("raw"), value, key=key, headers=headers)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent, time.perf_counter() - started


def one_trial(settings: Settings, folder: Path, number: int) -> float | None:
    """Seconds from the crossing line to SIGTERM at the child, None if it never came."""
    out = folder / f"trial-{number}.txt"
    command = [sys.executable, "-m", "spendstream.cli", "run", "--quiet", "--format", "claude-json"]
    command += [
        "--max-usd",
        "0.05",
        "--grace",
        "5",
        "--",
        sys.executable,
        "-m",
        "bench.budget_child",
        str(out),
    ]
    env = settings_env(settings) | {"SPENDSTREAM_AUTH_MODE": "api_key"}
    subprocess.run(command, env=env, cwd=REPO, capture_output=True, timeout=120, check=False)
    try:
        crossing_at, stopped_at = (float(x) for x in out.read_text().split())
    except (OSError, ValueError):
        return None
    return stopped_at - crossing_at


async def measure(settings: Settings, folder: Path, trials: int, parallel: int) -> list[float | None]:
    gate = asyncio.Semaphore(parallel)

    async def trial(number: int) -> float | None:
        async with gate:
            return await asyncio.to_thread(one_trial, settings, folder, number)

    return list(await asyncio.gather(*(trial(n) for n in range(trials))))


async def main(args: argparse.Namespace) -> int:
    settings, tmp = fresh_settings("budget")
    worker = await start_worker(settings, tmp / "worker.log")
    stop = asyncio.Event()
    load = asyncio.ensure_future(offer_load(settings, args.rate, stop))
    try:
        await asyncio.sleep(3.0)  # the load in steady state before the first trial
        samples = await measure(settings, tmp, args.trials, args.parallel)
    finally:
        stop.set()
        lines, seconds = await load
        worker.terminate()
        await delete_prefix(settings)
        remove_tree(tmp)
    got = sorted(s * 1000 for s in samples if s is not None)
    print(f"offered load: {lines / seconds:,.0f} lines/s over {seconds:.0f} s (target {args.rate:,.0f})")
    print(f"trials: {len(samples)}, stopped: {len(got)}, parallel: {args.parallel}")
    if len(got) >= 2:
        pct = statistics.quantiles(got, n=100, method="inclusive")
        print("| crossing line -> SIGTERM | p50 | p99 | max |")
        print("|---|---|---|---|")
        print(f"| ms | {pct[49]:,.0f} | {pct[98]:,.0f} | {got[-1]:,.0f} |")
    return 0 if len(got) == len(samples) else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.budget_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="background lines/s (default 1000)")
    parser.add_argument("--trials", type=int, default=100, help="budget runs measured (default 100)")
    parser.add_argument("--parallel", type=int, default=4, help="budget runs at a time (default 4)")
    return parser.parse_args()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
