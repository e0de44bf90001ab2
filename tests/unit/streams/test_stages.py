"""The worker's stages with in-memory state (no broker): outcomes, replays, duplicates, poison."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson

from schemas.deadletter import H_REASON
from schemas.raw import encode_headers
from schemas.rollup import MAX_TOTAL_TOKENS
from schemas.sources.base import MAX_COUNT, LineContext
from streams.stages.base import Record
from streams.stages.normalize import NormalizeStage
from tests.unit.streams.memory_pipeline import MemoryPipeline


def result_line(
    session: str,
    run: str,
    *,
    input_tokens: int = 1000,
    output_tokens: int = 100,
    cost: float | None = 0.25,
    lineage: str | None = None,
) -> bytes:
    obj: dict[str, object] = {
        "type": "result",
        "subtype": "success",
        "session_id": session,
        "uuid": run,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "total_cost_usd": cost,
    }
    return orjson.dumps(obj)


def test_normalize_gives_each_line_one_outcome_and_writes_a_stream_once(real_fixtures: Path) -> None:
    line = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    stage = NormalizeStage(4)
    from datetime import UTC, datetime

    def raw(position: int, value: bytes) -> Record:
        context = LineContext("claude-json", "r", "r:/f", position, datetime(2026, 11, 1, tzinfo=UTC))
        return Record("p.raw", 1, position, b"r:/f", value, tuple(encode_headers(context)), 1.0)

    effects = stage.handle([raw(1, line), raw(2, b"{not json"), raw(1, line)], lambda _t, _k: None)
    assert effects.outcomes == {"usage": 1, "dead": 1, "duplicate": 1}
    assert list(effects.writes) == ["streams"] and list(effects.writes["streams"]) == [b"r:/f"]
    dead = [o for o in effects.outputs if o.topic == "deadletter"]
    assert len(dead) == 1 and dead[0].value == b"{not json" and dict(dead[0].headers)[H_REASON]
    assert [o.topic for o in effects.outputs].count("observations") == 1


def test_the_real_result_flows_to_exact_totals_and_usage(real_fixtures: Path) -> None:
    line = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    pipe = MemoryPipeline()
    pipe.publish([line, line])  # the second is another report of the same run
    pipe.run()
    (event,) = pipe.usage().values()
    assert (event["input_tokens"], event["output_tokens"]) == (4, 18)
    assert (event["cache_write_5m_tokens"], event["cache_read_tokens"]) == (3548, 11459)
    assert event["cost_usd"] == "0.085625900000"
    totals = pipe.totals()["145cc619-8afc-49bd-8c24-81ce5bebe88d"]
    assert totals["subtree"]["cost_usd"] == "0.085625900000" and totals["subtree"]["events"] == 1  # type: ignore[index]


def test_replays_after_a_crash_in_every_stage_count_once() -> None:
    lines = [result_line("s1", f"run-{n}", input_tokens=n + 1) for n in range(30)]
    pipe = MemoryPipeline()
    pipe.publish(lines)
    for stage in pipe.stages:  # each stage crashes once after sending, before writing state
        pipe.step(stage, batch_size=7, crash_after_outputs=True)
        pipe.run(batch_size=7)
    events = pipe.usage()
    assert len(events) == 30
    assert sum(int(e["input_tokens"]) for e in events.values()) == sum(range(1, 31))  # type: ignore[call-overload]
    totals = pipe.totals()["s1"]["own"]
    assert totals["input_tokens"] == sum(range(1, 31)) and totals["events"] == 30  # type: ignore[index]
    assert totals["cost_usd"] == "7.500000000000"  # type: ignore[index]


def test_a_poisoned_root_is_dead_lettered_past_the_range_and_other_roots_are_exact() -> None:
    poison = [result_line("hostile", f"p{n}", input_tokens=MAX_COUNT, cost=None) for n in range(1200)]
    ordinary = [
        result_line("fine", f"o{n}", input_tokens=100, output_tokens=10, cost=0.25) for n in range(50)
    ]
    pipe = MemoryPipeline()
    pipe.publish(poison, stream="hostile:/f")
    pipe.publish(ordinary, stream="fine:/f")
    pipe.run(batch_size=200)
    totals = pipe.totals()
    assert totals["hostile"]["own"]["input_tokens"] == MAX_TOTAL_TOKENS  # type: ignore[index]
    assert totals["hostile"]["own"]["events"] == 1000  # type: ignore[index]
    fine = totals["fine"]["own"]
    assert (fine["input_tokens"], fine["output_tokens"], fine["events"]) == (5000, 500, 50)  # type: ignore[index]
    assert fine["cost_usd"] == "12.500000000000"  # type: ignore[index]
    rejected = [r for r in pipe.dead() if b"range" in dict(r.headers)[H_REASON]]
    assert len(rejected) == 200
    # Every raw line has one outcome, and every usage line is either in usage or dead-lettered.
    assert pipe.outcomes == {"usage": 1250}
    assert len(pipe.usage()) + len(rejected) == 1250
    assert sum(int(e["cost_usd"] != "0") for e in pipe.usage().values()) >= 50  # type: ignore[arg-type]
    assert sum(
        Decimal(str(e["cost_usd"])) for e in pipe.usage().values() if e["session_id"] == "fine"
    ) == Decimal("12.5")


def test_a_rejected_delta_stays_rejected_on_replay() -> None:
    # two sessions under one root: one session's run group would refuse the sum itself
    poison = [result_line(f"s{n % 2}", f"p{n}", input_tokens=MAX_COUNT, cost=None) for n in range(1001)]
    pipe = MemoryPipeline()
    pipe.publish(poison, lineage=("hostile",))
    pipe.step(pipe.stages[0], batch_size=2000)
    pipe.step(pipe.stages[1], batch_size=2000)
    rollup = pipe.stages[2]
    pipe.step(rollup, batch_size=2000, crash_after_outputs=True)  # sent usage and the dead letter
    pipe.run()
    assert pipe.totals()["hostile"]["subtree"]["events"] == 1000  # type: ignore[index]
    assert len(pipe.usage()) == 1000
    reasons = {dict(r.headers)[H_REASON] for r in pipe.dead()}
    assert len(reasons) == 1 and len(pipe.dead()) == 2  # the same delta, dead-lettered again on replay
