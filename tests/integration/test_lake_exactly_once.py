"""Issue 5 on the real broker: the lake stays exact through SIGKILLs, and a replay matches it.

The workload is built here: claude-json result lines for a fleet of agent trees (some with
``modelUsage`` over two models, so one line gives two events), a few truncated lines that
carry a secret (dead letters), published in waves between worker kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer

from config.kafka import client_options
from config.settings import Settings
from producers.publish import PublishRequest, publish
from sinks.catalog import audit, query
from sinks.kafka_sink import usage_sink
from sinks.layout import list_files, live_files
from spendstream.table import to_jsonable
from tests.integration.harness import WorkerProcess, running_worker, settings_env

pytestmark = pytest.mark.integration

SECRET = b"SECRET-PROMPT-TEXT-never-in-parquet"
BAD_LINE = b'{"type":"result","result":"' + SECRET + b'","usage":{"input_tok'
MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SessionExpectation:
    events: int = 0
    cost: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0


@dataclass
class Run:
    scope: str
    lineage: tuple[str, ...]
    lines: list[bytes] = field(default_factory=list)


@dataclass
class Fleet:
    runs: list[Run]
    expected: dict[str, SessionExpectation]
    bad_lines: int

    @property
    def events(self) -> int:
        return sum(e.events for e in self.expected.values())


def _tokens(rng: random.Random) -> tuple[int, int, int, int]:
    return rng.randint(0, 5000), rng.randint(1, 20_000), rng.randint(0, 900_000), rng.randint(0, 60_000)


def _cost(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(1, 30_000_000)) / Decimal(10**7)  # like the CLI: 7 places


def result_line(scope: str, run_id: str, rng: random.Random, expected: SessionExpectation) -> bytes:
    """One ``claude -p --output-format json`` result; every third one reports two models."""
    result: dict[str, Any] = {"type": "result", "subtype": "success", "session_id": scope, "uuid": run_id}
    result["result"] = "model output that must never reach the lake"
    parts = []
    for model in MODELS if int(run_id.rsplit("-", 1)[1]) % 3 == 0 else (None,):
        inp, out, read, write = _tokens(rng)
        cost = _cost(rng)
        parts.append((model, inp, out, read, write, cost))
        expected.events += 1
        expected.cost += cost
        expected.input_tokens += inp
        expected.output_tokens += out
        expected.cache_read_tokens += read
        expected.cache_write_5m_tokens += write
    if parts[0][0] is None:
        _, inp, out, read, write, cost = parts[0]
        result["usage"] = {
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }
        result["total_cost_usd"] = float(cost)
    else:
        result["usage"] = {
            "input_tokens": sum(p[1] for p in parts),
            "output_tokens": sum(p[2] for p in parts),
        }
        result["total_cost_usd"] = float(sum(p[5] for p in parts))
        result["modelUsage"] = {
            model: {
                "inputTokens": inp,
                "outputTokens": out,
                "cacheReadInputTokens": read,
                "cacheCreationInputTokens": write,
                "costUSD": float(cost),
            }
            for model, inp, out, read, write, cost in parts
        }
    return orjson.dumps(result)


def build_fleet(seed: int, roots: int, children: int, runs_per_scope: int, bad_every: int = 4) -> Fleet:
    rng = random.Random(seed)
    expected: dict[str, SessionExpectation] = {}
    runs: list[Run] = []
    bad = 0
    for r in range(roots):
        root = f"lake-{seed}-root{r}"
        scopes = [(root, ())] + [(f"{root}.c{c}", (root,)) for c in range(children)]
        for scope, lineage in scopes:
            run = Run(scope, lineage)
            exp = expected.setdefault(scope, SessionExpectation())
            for n in range(runs_per_scope):
                run.lines.append(result_line(scope, f"{scope}-run-{n}", rng, exp))
            if len(runs) % bad_every == 1:
                run.lines.insert(2, BAD_LINE)
                bad += 1
            runs.append(run)
    return Fleet(runs, expected, bad)


def write_run_file(run: Run, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.scope}.jsonl"
    path.write_bytes(b"\n".join(run.lines) + b"\n")
    return path


async def publish_runs(settings: Settings, runs: Sequence[Run], folder: Path) -> None:
    for run in runs:
        path = await asyncio.to_thread(write_run_file, run, folder)
        await publish(settings, PublishRequest(paths=(str(path),), source="claude-json", lineage=run.lineage))


def lake_rows(data_dir: Path, dataset: str = "usage") -> int:
    # Compaction may delete a listed file before it is opened: list again (it published the merge first).
    for _ in range(20):
        try:
            return sum(pq.read_metadata(p).num_rows for p in live_files(data_dir, dataset))
        except FileNotFoundError:
            continue
    return sum(pq.read_metadata(p).num_rows for p in live_files(data_dir, dataset))


async def wait_for(condition: Callable[[], bool], *, limit: float, what: str, every: float = 0.005) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await asyncio.to_thread(condition):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what}: not reached after {limit}s")
        await asyncio.sleep(every)


async def committed_records(settings: Settings, topic: str) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every committed record of one of the test's topics."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[tuple[int, int, bytes]] = []
    try:
        while batch := await consumer.getmany(timeout_ms=3000):
            for messages in batch.values():
                records.extend((m.partition, m.offset, m.value) for m in messages)
    finally:
        await consumer.stop()
    return sorted(records)


async def settled(data_dir: Path, quiet: float = 5.0) -> None:
    """Wait until the lake has not grown for ``quiet`` seconds."""
    rows = -1
    while (now := await asyncio.to_thread(lake_rows, data_dir)) != rows:
        rows = now
        await asyncio.sleep(quiet)


def reached(worker: WorkerProcess, data_dir: Path, rows: int) -> Callable[[], bool]:
    """True once the lake holds ``rows`` rows (or the worker died, which the caller reports)."""
    return lambda: not worker.alive() or lake_rows(data_dir) >= rows


def report_json(settings: Settings, data_dir: Path, kind: str = "session") -> str:
    env = settings_env(settings.model_copy(update={"data_dir": data_dir}))
    done = subprocess.run(
        [sys.executable, "-m", "spendstream.cli", "report", kind, "--json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode()


def assert_session_report_exact(report_text: str, fleet: Fleet) -> None:
    report = orjson.loads(report_text)
    got = {row["session_id"]: row for row in report["rows"]}
    assert sorted(got) == sorted(fleet.expected)
    for scope, exp in fleet.expected.items():
        row = got[scope]
        assert row["cost_usd"] == to_jsonable(exp.cost.quantize(Decimal("1e-12"))), scope
        assert (
            row["events"],
            row["input_tokens"],
            row["output_tokens"],
            row["cache_read_tokens"],
            row["cache_write_5m_tokens"],
        ) == (
            exp.events,
            exp.input_tokens,
            exp.output_tokens,
            exp.cache_read_tokens,
            exp.cache_write_5m_tokens,
        ), scope
    total = sum((e.cost for e in fleet.expected.values()), Decimal(0))
    assert Decimal(report["totals"]["cost_usd"]) == total
    assert report["totals"]["events"] == fleet.events


def assert_no_content_in_lake(data_dir: Path) -> None:
    for path in data_dir.rglob("*.parquet"):
        assert SECRET not in path.read_bytes(), path
        assert SECRET.decode() not in str(pq.read_table(path).to_pylist()), path


async def test_sigkill_while_files_are_written_keeps_the_lake_exact(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(
        update={"sink_max_rows": 7, "sink_flush_seconds": 0.05, "web_port": free_port()}
    )
    fleet = build_fleet(seed=5, roots=4, children=2, runs_per_scope=24)
    waves = [fleet.runs[0::3], fleet.runs[1::3], fleet.runs[2::3]]
    wave_events = [sum(fleet.expected[r.scope].events for r in wave) for wave in waves]
    assert fleet.events == sum(wave_events) == 384 and fleet.bad_lines == 3
    rng = random.Random(11)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    kills: list[tuple[int, int]] = []
    try:
        for index, wave in enumerate(waves):
            await publish_runs(settings, wave, tmp_path / "runs")
            if index == 1:  # a runner retrying: the first wave's lines again (transport duplicates)
                await publish_runs(settings, waves[0], tmp_path / "runs")
            before = await asyncio.to_thread(lake_rows, settings.data_dir)
            target = before + rng.randint(1, wave_events[index] - 1)
            worker.start()
            await wait_for(reached(worker, settings.data_dir, target), limit=180, what=f"{target} rows")
            assert worker.alive(), (tmp_path / "worker.log").read_text()[-3000:]
            worker.kill()
            kills.append((await asyncio.to_thread(lake_rows, settings.data_dir), before + wave_events[index]))
        worker.start()
        # A time-out here is not the verdict: the checks below say what is missing, and where.
        with contextlib.suppress(TimeoutError):
            await wait_for(
                lambda: (
                    lake_rows(settings.data_dir) >= fleet.events
                    and lake_rows(settings.data_dir, "deadletter") >= fleet.bad_lines
                ),
                limit=180,
                what="all events in the lake",
                every=0.2,
            )
        await settled(settings.data_dir)  # anything extra (a duplicate) would land now
        worker.terminate()
    finally:
        worker.kill()
    print("rows at each kill (rows, rows once the wave is in):", kills)
    assert len(kills) == 3

    # The sink's contract: every event id committed to the usage topic is in the lake exactly
    # once, as its first copy. The worker delivers at least once, so it may repeat an event
    # after a SIGKILL; the sink drops the repeats (sinks/recent.py).
    usage = [(p, o, orjson.loads(v)["event_id"]) for p, o, v in await committed_records(settings, "usage")]
    _, lake = await asyncio.to_thread(
        query, settings.data_dir, "SELECT kafka_partition, kafka_offset, event_id FROM usage ORDER BY 1, 2"
    )
    first: dict[str, tuple[int, int, str]] = {}
    for position in usage:
        first.setdefault(position[2], position)
    assert lake == sorted(first.values())
    print("usage records repeated by the worker (dropped by the sink):", len(usage) - len(lake))
    dead_letters = [
        (p, o, hashlib.sha256(v).hexdigest()) for p, o, v in await committed_records(settings, "deadletter")
    ]
    _, dead_lake = await asyncio.to_thread(
        query, settings.data_dir, "SELECT kafka_partition, kafka_offset, sha256 FROM deadletter ORDER BY 1, 2"
    )
    assert dead_lake == dead_letters
    assert_no_content_in_lake(settings.data_dir)

    # Every bad line is dead-lettered (a repeat after a kill is the same source position).
    _, sources = await asyncio.to_thread(
        query, settings.data_dir, "SELECT count(DISTINCT (source_partition, source_offset)) FROM deadletter"
    )
    assert sources == [(fleet.bad_lines,)]
    result = await asyncio.to_thread(audit, settings.data_dir)
    assert result == {"rows": fleet.events, "duplicate_positions": 0, "duplicate_event_ids": 0}, result
    assert_session_report_exact(await asyncio.to_thread(report_json, settings, settings.data_dir), fleet)


async def test_replaying_the_usage_topic_into_a_fresh_lake_gives_identical_sums(
    topics: Settings, tmp_path: Path
) -> None:
    settings = topics.model_copy(
        update={"sink_max_rows": 50, "sink_flush_seconds": 0.2, "web_port": free_port()}
    )
    fleet = build_fleet(seed=8, roots=3, children=2, runs_per_scope=10)
    async with running_worker(settings):
        await publish_runs(settings, fleet.runs, tmp_path / "runs")
        await wait_for(
            lambda: lake_rows(settings.data_dir) >= fleet.events, limit=120, what="lake", every=0.2
        )
    original = await asyncio.to_thread(report_json, settings, settings.data_dir)
    assert_session_report_exact(original, fleet)

    fresh = tmp_path / "replayed"
    replay = usage_sink(settings, group_id=f"{settings.topic_prefix}-replay", data_dir=fresh)
    task = asyncio.create_task(replay.run())
    try:
        await wait_for(lambda: lake_rows(fresh) >= fleet.events, limit=60, what="replay", every=0.1)
        await asyncio.sleep(1)
    finally:
        replay.stop()
        await asyncio.wait_for(task, 30)
    assert await asyncio.to_thread(report_json, settings, fresh) == original
    for kind in ("daily", "model", "tree"):
        assert await asyncio.to_thread(report_json, settings, fresh, kind) == await asyncio.to_thread(
            report_json, settings, settings.data_dir, kind
        )
    every_column = "SELECT * EXCLUDE (date) FROM usage ORDER BY kafka_partition, kafka_offset"
    assert (await asyncio.to_thread(query, fresh, every_column))[1] == (
        await asyncio.to_thread(query, settings.data_dir, every_column)
    )[1]
    files = sorted(p.name for p in live_files(fresh, "usage"))

    # Yet another group over the replayed lake reads the whole topic again and adds nothing:
    # every event it meets is in the lake already (a repeat, by event id).
    usage_records = len(await committed_records(settings, "usage"))
    again = usage_sink(settings, group_id=f"{settings.topic_prefix}-replay-2", data_dir=fresh)
    task = asyncio.create_task(again.run())
    try:
        await wait_for(
            lambda: again.stats.repeated_records + again.stats.rows_written >= usage_records,
            limit=60,
            what="the second replay",
            every=0.1,
        )
        await asyncio.sleep(1)
    finally:
        again.stop()
        await asyncio.wait_for(task, 30)
    assert (again.stats.rows_written, again.stats.repeated_records) == (0, usage_records)
    assert sorted(p.name for p in live_files(fresh, "usage")) == files
    assert len(list_files(fresh, "usage")) == len(files)
    assert await asyncio.to_thread(report_json, settings, fresh) == original
