"""Pipeline benchmark on the real local broker: throughput, publish->totals latency, memory.

Run: ``python -m bench.bench_pipeline [--lines 20000] [--latency-lines 200] [--rate 20]``.
Starts (or reuses) the local broker, runs ``spendstream worker`` as a child process on
fresh topics, and measures:

1. throughput: ``--lines`` distinct claude-json result lines (3-level trees) are published
   first, then the worker is started; time from worker start until the last root's
   ``totals`` record shows the full subtree count (normalize + ledger + rollup + Parquet);
2. latency: ``--latency-lines`` lines published one at a time at ``--rate`` lines/s while
   the worker runs; per line, publish time -> its ``totals`` record, p50/p95/p99;
3. the worker's RSS and the ledger state size (entries, bytes) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psutil
from aiokafka import AIOKafkaConsumer

from producers.publish import make_producer
from schemas.raw import RawLineMeta
from spendstream import broker
from spendstream.kafka import client_options, ensure_topics
from spendstream.settings import Settings
from tests.integration.harness import WorkerProcess


def result_line(scope: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "type": "result",
            "session_id": scope,
            "uuid": f"{scope}-{n}",
            "total_cost_usd": 0.0123456,
            "usage": {"input_tokens": 100 + n, "output_tokens": 20, "cache_read_input_tokens": 5000},
        }
    )


async def publish_lines(settings: Settings, lines: list[tuple[str, tuple[str, ...], bytes]]) -> float:
    producer = make_producer(settings)
    await producer.start()
    started = time.perf_counter()
    try:
        from datetime import UTC, datetime

        for n, (scope, lineage, line) in enumerate(lines):
            stream = f"bench:{scope}"
            meta = RawLineMeta("claude-json", "bench", stream, n + 1, datetime.now(UTC), lineage=lineage)
            await producer.send(settings.topic("raw"), line, key=stream.encode(), headers=meta.headers())
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def workload(lines: int) -> list[tuple[str, tuple[str, ...], bytes]]:
    out = []
    roots = max(1, lines // 70)
    for n in range(lines):
        root = f"root-{n % roots}"
        depth = n % 3
        scope = root if depth == 0 else f"{root}/c{n % 2}" if depth == 1 else f"{root}/c{n % 2}/g{n % 5}"
        lineage = () if depth == 0 else (root,) if depth == 1 else (root, f"{root}/c{n % 2}")
        out.append((scope, lineage, result_line(scope, n)))
    return out


async def wait_totals(settings: Settings, expected_events: dict[str, int], wait_s: float) -> float:
    consumer = AIOKafkaConsumer(
        settings.topic("totals"), **client_options(settings), auto_offset_reset="earliest",
        isolation_level="read_committed",
    )  # fmt: skip
    await consumer.start()
    seen: dict[str, int] = {}
    deadline = time.perf_counter() + wait_s
    try:
        while time.perf_counter() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                for m in messages:
                    record = orjson.loads(m.value)
                    seen[record["scope"]] = max(seen.get(record["scope"], 0), record["subtree"]["events"])
            if all(seen.get(s, 0) >= n for s, n in expected_events.items()):
                return time.perf_counter()
    finally:
        await consumer.stop()
    raise TimeoutError(f"totals incomplete after {wait_s}s")


async def latency(settings: Settings, count: int, rate: float) -> list[float]:
    consumer = AIOKafkaConsumer(
        settings.topic("totals"), **client_options(settings), auto_offset_reset="latest",
        isolation_level="read_committed",
    )  # fmt: skip
    await consumer.start()
    await consumer.seek_to_end()
    producer = make_producer(settings)
    await producer.start()
    sent: dict[str, float] = {}
    got: dict[str, float] = {}

    async def collect() -> None:
        while len(got) < count:
            for messages in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for m in messages:
                    scope = orjson.loads(m.value)["scope"]
                    if scope in sent and scope not in got:
                        got[scope] = now

    collector = asyncio.ensure_future(collect())
    try:
        from datetime import UTC, datetime

        for n in range(count):
            scope = f"lat-{uuid.uuid4().hex[:8]}"
            meta = RawLineMeta("claude-json", "bench", f"lat:{scope}", 1, datetime.now(UTC))
            sent[scope] = time.perf_counter()
            await producer.send_and_wait(
                settings.topic("raw"),
                result_line(scope, n),
                key=f"lat:{scope}".encode(),
                headers=meta.headers(),
            )
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(collector, timeout=120)
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await producer.stop()
        await consumer.stop()
    return sorted((got[s] - sent[s]) * 1000 for s in got)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main(args: argparse.Namespace) -> None:
    base = Settings()
    broker.start(base)
    tmp = Path(tempfile.mkdtemp(prefix="spendstream-bench-"))
    settings = base.model_copy(
        update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}", "data_dir": tmp / "lake", "web_port": 6199}
    )
    await ensure_topics(settings)
    lines = workload(args.lines)
    publish_s = await publish_lines(settings, lines)
    expected: dict[str, int] = {}
    for scope, lineage, _ in lines:
        for s in (*lineage, scope):
            expected[s] = expected.get(s, 0) + 1
    worker = WorkerProcess(settings, tmp / "worker.log")
    started = time.perf_counter()
    worker.start()
    try:
        done = await wait_totals(settings, expected, wait_s=args.timeout)
        elapsed = done - started
        lat = await latency(settings, args.latency_lines, args.rate)
        assert worker.proc is not None
        rss = psutil.Process(worker.proc.pid).memory_info().rss
    finally:
        worker.terminate()
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    print(f"publish (producer only): {args.lines} lines, {args.lines / publish_s:,.0f} lines/s")
    print(f"pipeline (worker start -> all totals): {args.lines / elapsed:,.0f} lines/s ({elapsed:.1f}s)")
    print(
        f"publish -> totals latency at {args.rate:g} lines/s, n={len(lat)}: "
        f"p50 {percentile(lat, 50):.0f} ms, p95 {percentile(lat, 95):.0f} ms, "
        f"p99 {percentile(lat, 99):.0f} ms"
    )
    print(f"worker RSS at the end: {rss / 2**20:.0f} MiB ({len(expected)} scopes, {args.lines} ids)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--latency-lines", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    asyncio.run(main(parser.parse_args()))
