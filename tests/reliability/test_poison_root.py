"""One hostile runner cannot freeze the fleet's totals (issue 11).

1,200 ``claude -p`` results of 10^12 input tokens each (every line inside the parser's
per-line bound) under one root: the first 1,000 fill the root's total to its range
(10^15); the other 200 would take it past and are dead-lettered (by the ledger, since the
results of one session are one run group whose sum has the same range, or by the rollup).
Then ordinary results under another root: their totals are exact within 30 s, the worker
never restarts, and every usage line is either on ``usage`` or a dead letter with a reason.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from config.kafka import client_options
from config.settings import Settings
from schemas.deadletter import H_REASON
from schemas.raw import encode_headers
from schemas.rollup import ScopeTotals
from schemas.sources.base import MAX_COUNT, LineContext
from tests.integration.harness import read_topic
from tests.reliability.faults import (
    assert_alive,
    on_free_port,
    pid_of,
    run_rng,
    wait_for_metrics,
    worker_log_on_failure,
    worker_metrics,
    worker_process,
)
from tests.reliability.hostile import T0

pytestmark = pytest.mark.reliability

POISON_LINES, ORDINARY_LINES = 1200, 50
FILLING = 1000  # 1,000 x 10^12 = 10^15, the range of a total


def result(session: str, run: str, input_tokens: int, output_tokens: int, cost: str | None) -> bytes:
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    body: dict[str, object] = {"type": "result", "session_id": session, "uuid": run, "usage": usage}
    if cost is not None:
        body["total_cost_usd"] = float(cost)
    return orjson.dumps(body)


async def publish(settings: Settings, stream: str, lines: list[bytes]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5)
    await producer.start()
    try:
        sent = []
        for position, line in enumerate(lines, start=1):
            headers = encode_headers(LineContext("claude-json", "poison-runner", stream, position, T0))
            sent.append(
                await producer.send(settings.topic("raw"), line, key=stream.encode(), headers=headers)
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def rejected_session(value: bytes) -> str:
    """The session of a dead-lettered delta (``<origin> <event JSON>``) or observation envelope."""
    head, space, body = value.partition(b" ")
    if space and head[:1].isdigit():
        return str(orjson.loads(body)["session_id"])
    return str(orjson.loads(value)["obs"]["session_id"])


def latest(records: list[object], scope: str) -> ScopeTotals | None:
    best: ScopeTotals | None = None
    for record in records:
        if getattr(record, "key", None) != scope.encode():
            continue
        value = ScopeTotals.from_json_dict(orjson.loads(record.value))  # type: ignore[attr-defined]
        if best is None or value.version > best.version:
            best = value
    return best


async def test_a_poisoned_root_never_freezes_another_roots_totals(topics: Settings, tmp_path: Path) -> None:
    rng = run_rng()
    settings = on_free_port(topics)
    hostile, fine = f"hostile-{uuid.uuid4().hex[:8]}", f"fine-{uuid.uuid4().hex[:8]}"
    poison = [result(hostile, f"p{n}", MAX_COUNT, 0, None) for n in range(POISON_LINES)]
    sizes = [(rng.randrange(1, 5000), rng.randrange(1, 500)) for _ in range(ORDINARY_LINES)]
    ordinary = [result(fine, f"o{n}", i, o, "0.25") for n, (i, o) in enumerate(sizes)]
    with worker_process(settings, tmp_path / "worker.log") as worker, worker_log_on_failure(worker):
        await publish(settings, "poison-runner:/hostile.jsonl", poison)
        await wait_for_metrics(settings, POISON_LINES)
        child = pid_of(worker)
        await publish(settings, "poison-runner:/fine.jsonl", ordinary)

        def fine_exact(records: list[object]) -> bool:
            totals = latest(records, fine)
            return totals is not None and totals.own.events == ORDINARY_LINES

        records = await read_topic(settings, settings.topic("totals"), until=fine_exact, wait_s=30)
        totals = latest(records, fine)
        assert totals is not None
        assert totals.own.tokens.input_tokens == sum(i for i, _ in sizes)
        assert totals.own.tokens.output_tokens == sum(o for _, o in sizes)
        assert totals.own.cost_usd == Decimal("12.5")

        def all_rejected(records: list[object]) -> bool:
            return sum(b"range" in dict(r.headers).get(H_REASON, b"") for r in records) >= 200  # type: ignore[attr-defined]

        dead = await read_topic(settings, settings.topic("deadletter"), until=all_rejected, wait_s=60)
        rejected = [r for r in dead if b"range" in dict(r.headers).get(H_REASON, b"")]
        assert len(rejected) == POISON_LINES - FILLING
        # Each is the hostile run's: a delta the rollup refused, or a result the ledger refused
        # because its run group (all results of one session) would leave the range.
        assert all(rejected_session(r.value) == hostile for r in rejected)
        usage = await read_topic(
            settings, settings.topic("usage"), until=lambda rs: len(rs) >= FILLING + ORDINARY_LINES
        )
        events = {orjson.loads(r.value)["event_id"] for r in usage}
        metrics = await worker_metrics(settings)
        # Every line has one outcome, and each usage line is counted once or dead-lettered.
        assert metrics["records"] == {"usage": POISON_LINES + ORDINARY_LINES}
        assert len(events) + len(rejected) == POISON_LINES + ORDINARY_LINES
        assert sum(metrics["stage_dead_letters"].values()) == POISON_LINES - FILLING
        every_totals = await read_topic(settings, settings.topic("totals"), until=bool)
        hostile_totals = latest(records + every_totals, hostile)
        assert hostile_totals is not None and hostile_totals.own.tokens.input_tokens == FILLING * MAX_COUNT
        # The worker never restarted.
        assert_alive(worker)
        assert pid_of(worker) == child and metrics["restarts"] == {}
        assert "restarting" not in worker.log_path.read_text(errors="replace")
