"""Steady-state pipeline throughput and publish -> totals latency against a running worker.

Throughput: the worker is started first and waits, assigned, on fresh topics; the clock
starts at the first publish and stops at the newest ``totals`` record (its Kafka
timestamp) once ``/metrics`` shows every raw record consumed and the later stages idle;
the lake figure stops at the newest Parquet file instead (the sink writes a partition's
buffer at the latest ``sink_flush_seconds`` after its oldest row).

Latency: claude-json result lines, each its own scope under one of a few roots, sent at a
fixed offered rate; per line, the time from just before ``send`` until a consumer of
``totals`` sees that scope's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench.kafka_tools import (
    RawRecord,
    lake_files,
    last_record_time,
    make_fast_producer,
    publish,
    worker_metrics,
)
from config.kafka import client_options
from config.settings import Settings
from schemas.raw import encode_record
from schemas.sources import LineContext


@dataclass
class Throughput:
    records: int
    lines: int
    publish_s: float
    to_totals_s: float
    to_lake_s: float
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.to_totals_s

    @property
    def lake_lines_per_s(self) -> float:
        return self.lines / self.to_lake_s


def _progress(m: dict[str, Any]) -> tuple[int, ...]:
    stages = m.get("stages", {})
    return (
        int(m.get("raw_records", 0)),
        int(m.get("usage_events", 0)),
        int(m.get("rollup_deltas", 0)),
        *(int(stages.get(s, {}).get("records", 0)) for s in ("normalize", "ledger", "rollup")),
    )


async def run_throughput(settings: Settings, records: list[RawRecord], timeout_s: float) -> Throughput:
    producer = make_fast_producer(settings)
    await producer.start()
    first_publish = time.time()
    try:
        publish_s = await publish(producer, settings.topic("raw"), records)
    finally:
        await producer.stop()
    deadline = time.perf_counter() + timeout_s
    last: tuple[int, ...] = ()
    stable_since = time.perf_counter()
    metrics: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        metrics = await worker_metrics(settings) or metrics
        progress = _progress(metrics) if metrics else ()
        if progress != last:
            last, stable_since = progress, time.perf_counter()
        done = bool(progress) and progress[0] >= len(records) and progress[2] >= progress[1]
        if done and time.perf_counter() - stable_since > 3.0:
            break
        await asyncio.sleep(0.25)
    else:
        raise TimeoutError(f"pipeline incomplete after {timeout_s}s: {metrics}")
    lake_mtime = await _lake_settled(settings)
    totals_time = await last_record_time(settings, settings.topic("totals")) or time.time()
    lines = sum(r.lines for r in records)
    return Throughput(
        len(records), lines, publish_s, totals_time - first_publish, lake_mtime - first_publish, metrics
    )


async def _lake_settled(settings: Settings, quiet_s: float = 4.0) -> float:
    """Newest Parquet file's mtime once no file changed for ``quiet_s``."""
    newest, since = 0.0, time.perf_counter()
    while time.perf_counter() - since < quiet_s:
        current = max((p.stat().st_mtime for p in lake_files(settings)), default=0.0)
        if current != newest:
            newest, since = current, time.perf_counter()
        await asyncio.sleep(0.5)
    return newest


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


def latency_record(
    run: str, n: int, roots: int, published_at: datetime
) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """Scope, key, value and headers of the latency run's ``n``-th raw record: one result
    line, its own scope under root ``n % roots`` (bench/stage_cpu_latency.py builds the same)."""
    root = f"lat{run}-root{n % roots}"
    scope = f"{root}/s{n}"
    context = LineContext("claude-json", "bench", f"lat:{scope}", 1, published_at, lineage=(root,))
    key, value, headers = encode_record(context, [result_line(scope, n)])
    return scope, key, value, headers


@dataclass
class Latency:
    rate: float
    sent: int
    millis: list[float]
    in_send_order: list[float] = field(default_factory=list)

    def drift(self) -> tuple[float, float]:
        """Median latency of the first and of the last tenth of the lines sent (queueing shows as growth)."""
        tenth = max(1, len(self.in_send_order) // 10)
        first, last = self.in_send_order[:tenth], self.in_send_order[-tenth:]
        return (statistics.median(first), statistics.median(last)) if first else (float("nan"), float("nan"))

    def pct(self, q: int) -> float:
        if len(self.millis) < 2:
            return float("nan")
        return statistics.quantiles(self.millis, n=100, method="inclusive")[q - 1]


async def run_latency(settings: Settings, rate: float, seconds: float, roots: int = 20) -> Latency:
    """Offer ``rate`` lines/s for ``seconds``; per line publish -> its totals record (ms)."""
    consumer = AIOKafkaConsumer(
        settings.topic("totals"), **client_options(settings), auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.seek_to_end()
    await consumer.getmany(timeout_ms=200)  # settle the position before the first send
    producer = make_fast_producer(settings)
    await producer.start()
    run = uuid.uuid4().hex[:6]
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    stop = asyncio.Event()

    async def collect() -> None:
        while not stop.is_set() or len(got) < len(sent):
            for messages in (await consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for m in messages:
                    scope = orjson.loads(m.value)["scope"]
                    if scope in sent and scope not in got:
                        got[scope] = now

    collector = asyncio.ensure_future(collect())
    total = int(rate * seconds)
    pending = []
    try:
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scope, key, value, headers = latency_record(run, n, roots, datetime.now(UTC))
            sent[scope] = time.perf_counter()
            pending.append(await producer.send(settings.topic("raw"), value, key=key, headers=headers))
        await asyncio.gather(*pending)
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(collector), timeout=60)
    finally:
        stop.set()
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await producer.stop()
        await consumer.stop()
    in_order = [(got[s] - sent[s]) * 1000 for s in sent if s in got]  # dicts keep send order
    return Latency(rate, total, sorted(in_order), in_order)
