"""Broker-side helpers shared by ``python -m bench`` and ``python -m bench.soak``.

Fresh topic prefixes per run, fast publishing of prepared raw records, the worker's
``/metrics``, consumer lag of a group, table sizes read back from changelog topics, and
clean-up of everything a run created (topics with the run's prefix, scratch folders).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config import broker
from config.kafka import client_options, ensure_topics
from config.settings import Settings
from config.web_access import bearer_header
from tests.integration.harness import WorkerProcess
from tests.integration.producers_harness import free_port

REPO = Path(__file__).resolve().parent.parent
TABLES = ("streams", "ledger", "totals", "windows")


@dataclass(frozen=True)
class RawRecord:
    """One record for the raw topic, prepared before the clock starts."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    lines: int


def fresh_settings(label: str) -> tuple[Settings, Path]:
    """Settings on fresh topics, lake and state folders; the broker started if needed."""
    base = Settings()
    broker.start(base)
    tmp = Path(tempfile.mkdtemp(prefix=f"spendstream-{label}-"))
    settings = base.model_copy(
        update={
            "topic_prefix": f"{label}{uuid.uuid4().hex[:6]}",
            "data_dir": tmp / "lake",
            "state_dir": tmp / "state",
            "web_port": free_port(),
        }
    )
    return settings, tmp


def make_fast_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer tuned for throughput (the bench's load generator, not the runner's)."""
    return AIOKafkaProducer(
        **client_options(settings),
        acks=1,
        linger_ms=5,
        max_batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )


async def publish(producer: AIOKafkaProducer, topic: str, records: Sequence[RawRecord]) -> float:
    """Send every record (acknowledged in chunks); returns the wall time it took."""
    started = time.perf_counter()
    pending: list[asyncio.Future[Any]] = []
    for record in records:
        pending.append(await producer.send(topic, record.value, key=record.key, headers=record.headers))
        if len(pending) >= 5000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return time.perf_counter() - started


async def worker_metrics(settings: Settings) -> dict[str, Any] | None:
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(5), headers=bearer_header(token)) as r,
        ):
            body: dict[str, Any] = orjson.loads(await r.read())
            return body
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError):
        return None


async def start_worker(settings: Settings, log_path: Path, wait_s: float = 120.0) -> WorkerProcess:
    """``spendstream worker`` as a child, returned once it holds every raw partition and serves /metrics."""
    await ensure_topics(settings)
    # --no-restart: the worker runs in the child itself, so its pid is the one to measure.
    worker = WorkerProcess(settings, log_path, "--no-restart")
    worker.start()
    deadline = time.perf_counter() + wait_s
    while time.perf_counter() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited early, see {worker.log_path}")
        if len(worker.raw_partitions()) == settings.partitions and await worker_metrics(settings):
            await asyncio.sleep(2.0)  # the lake sink's own consumer joins its group alongside
            return worker
        await asyncio.sleep(0.5)
    worker.terminate()
    raise TimeoutError(f"worker not assigned after {wait_s}s, see {worker.log_path}")


async def group_lag(settings: Settings, group: str, topics: Sequence[str]) -> int:
    """Sum over ``topics`` of end offset minus ``group``'s committed offset."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings))
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def last_record_time(settings: Settings, topic: str) -> float | None:
    """Wall-clock timestamp (s) of the newest record in ``topic`` (CreateTime from its producer)."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(partitions)
        wanted = [tp for tp, end in ends.items() if end > 0]
        if not wanted:
            return None
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, ends[tp] - 1)
        newest = 0.0
        left = set(wanted)
        deadline = time.perf_counter() + 15
        while left and time.perf_counter() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for m in messages:
                    newest = max(newest, m.timestamp / 1000)
                left.discard(tp)
        return newest
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class TableSize:
    entries: int
    value_bytes: int
    changelog_records: int


async def table_sizes(settings: Settings) -> dict[str, TableSize]:
    """Live keys and their value bytes per worker table, replayed from its changelog topic."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    sizes: dict[str, TableSize] = {}
    try:
        for table in TABLES:
            topic = f"{settings.topic_prefix}-worker-{table}-changelog"
            partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
            ends = await consumer.end_offsets(partitions)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            latest: dict[bytes, int] = {}
            records = 0
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for messages in (await consumer.getmany(timeout_ms=1000, max_records=20_000)).values():
                    for m in messages:
                        records += 1
                        if m.value is None:
                            latest.pop(m.key or b"", None)
                        else:
                            latest[m.key or b""] = len(m.value)
            sizes[table] = TableSize(len(latest), sum(latest.values()), records)
    finally:
        await consumer.stop()
    return sizes


async def delete_prefix(settings: Settings) -> int:
    """Delete every topic whose name starts with this run's prefix; returns how many."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if names:
            with contextlib.suppress(Exception):
                await admin.delete_topics(names)
        return len(names)
    finally:
        await admin.close()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def lake_files(settings: Settings) -> list[Path]:
    return sorted(settings.data_dir.rglob("*.parquet")) if settings.data_dir.exists() else []
