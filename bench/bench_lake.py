"""Lake benchmark: rows/s into Parquet and ``report daily`` over a million events.

Run: ``python -m bench.bench_lake [--events 1000000] [--batch 100000]``. Events are
generated in batches (generation is not timed), written with ``write_usage_batch`` exactly
as the sink writes a partition's batch, then ``report daily`` is timed cold (first query of
a fresh connection) and warm (best of three), before and after ``compact``.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from schemas.usage import TokenCounts, UsageEvent
from sinks.compact import compact
from sinks.lake import write_usage_batch
from sinks.layout import live_files
from sinks.reports import build_report

TOPIC = "bench.usage"
PARTITIONS = 4
MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5-codex", None)
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30


def events(count: int, partition: int, first_n: int, rng: random.Random) -> Iterator[UsageEvent]:
    """``count`` events of one partition, in event-time order over ``DAYS`` days."""
    step = timedelta(days=DAYS) / max(count, 1)
    for i in range(count):
        n = first_n + i
        root = f"root-{partition}-{rng.randrange(50)}"
        child = rng.random() < 0.6
        yield UsageEvent(
            event_id=f"bench-{n:010d}",
            source="claude-json",
            runner_id=f"runner-{n % 16}",
            session_id=f"{root}.c{rng.randrange(4)}" if child else root,
            lineage=(root,) if child else (),
            model=MODELS[n % len(MODELS)],
            event_time=START + i * step,
            tokens=TokenCounts(
                input_tokens=rng.randrange(5000),
                output_tokens=rng.randrange(20_000),
                cache_read_tokens=rng.randrange(900_000),
                cache_write_5m_tokens=rng.randrange(60_000),
            ),
            cost_usd=Decimal(rng.randrange(1, 30_000_000)).scaleb(-7),
            cost_source="reported",
            labels={"task": f"t-{n % 100}"},
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_daily(data_dir: Path) -> tuple[float, float, int]:
    """(cold seconds, best warm seconds, rows in the report)."""
    started = time.perf_counter()
    report = build_report(data_dir, "daily")
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        build_report(data_dir, "daily")
        warm.append(time.perf_counter() - started)
    return cold, min(warm), len(report.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="rows per sink batch (SINK_MAX_ROWS)")
    parser.add_argument("--keep", action="store_true", help="keep the generated lake")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    rng = random.Random(1)
    per_partition = args.events // PARTITIONS
    write_seconds = 0.0
    written = 0
    for partition in range(PARTITIONS):
        offset = 0
        stream = events(per_partition, partition, partition * per_partition, rng)
        while offset < per_partition:
            batch = [(offset + i, e) for i, e in zip(range(args.batch), stream, strict=False)]
            started = time.perf_counter()
            write_usage_batch(data_dir, TOPIC, partition, batch)
            write_seconds += time.perf_counter() - started
            offset += len(batch)
            written += len(batch)
    files = live_files(data_dir, "usage")
    size = sum(p.stat().st_size for p in files)
    print(f"events written        {written:,} in {len(files)} files, {size / 2**20:.1f} MiB")
    print(f"write_usage_batch     {written / write_seconds:,.0f} rows/s ({write_seconds:.2f} s)")
    cold, warm, days = time_daily(data_dir)
    print(f"report daily          cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms ({days} days)")
    started = time.perf_counter()
    summary = compact(data_dir)
    compact_seconds = time.perf_counter() - started
    merged, after = sum(m.rows for m in summary.merges), len(live_files(data_dir, "usage"))
    print(f"compact               {merged:,} rows in {compact_seconds:.2f} s -> {after} files")
    cold, warm, _ = time_daily(data_dir)
    print(f"report daily (compacted) cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms")
    rows = sum(pq.read_metadata(p).num_rows for p in live_files(data_dir, "usage"))
    assert rows == written, (rows, written)
    print(f"peak RSS              {peak_rss_mb():.0f} MiB")
    if args.keep:
        print(f"lake kept at {data_dir}")
    else:
        shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
