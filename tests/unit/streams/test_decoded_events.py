"""The ledger hands the rollup its events, the rollup hands the lake sink the events it
decoded (schemas/decoded_events.py): every topic record, state value and lake row is
exactly what decoding the bytes gives."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

import orjson
import pytest

from schemas.decoded_events import DecodedEvents, round_trips
from schemas.usage import SchemaError, UsageEvent
from sinks.lake import USAGE, usage_dataset
from streams.stages.base import Record
from streams.stages.ledger import LedgerStage
from streams.stages.rollup import RollupStage
from tests.unit.streams.memory_pipeline import MemoryPipeline
from tests.unit.streams.test_stages import result_line


def _usage_records(pipe: MemoryPipeline) -> list[Record]:
    """The usage topic's records, values copied as a consumer would get them (equal bytes,
    other objects)."""
    return [
        replace(r, value=bytes(bytearray(r.value)), timestamp=0) if r.value is not None else r
        for r in pipe.topic("usage").records()
    ]


def _lines() -> list[bytes]:
    return [result_line(f"s{n % 3}", f"run-{n}", input_tokens=n + 1, cost=0.25 + n) for n in range(40)]


def _pipeline_with_memo(memo: DecodedEvents | None, *, ledger_too: bool = False) -> MemoryPipeline:
    pipe = MemoryPipeline()
    ledger, rollup = pipe.stages[1], pipe.stages[2]
    assert isinstance(ledger, LedgerStage) and isinstance(rollup, RollupStage)
    rollup.decoded = memo
    if ledger_too:
        ledger.decoded = memo
    pipe.publish(_lines(), lineage=("root",))
    for stage in pipe.stages:  # a crash after sending: the replay publishes nothing applied twice
        pipe.step(stage, batch_size=9, crash_after_outputs=True)
        pipe.run(batch_size=9)
    return pipe


def _everything(pipe: MemoryPipeline) -> tuple[object, ...]:
    topics = {
        name: [(r.partition, r.key, r.value, r.headers) for r in t.records()]
        for name, t in pipe.topics.items()
    }
    return topics, dict(pipe.tables), pipe.outcomes, pipe.dead_letters


def test_with_the_ledgers_events_handed_over_every_record_and_state_is_the_same() -> None:
    plain = _pipeline_with_memo(None)
    memo = DecodedEvents()
    handed = _pipeline_with_memo(memo, ledger_too=True)
    assert _everything(handed) == _everything(plain)
    # The rollup decoded nothing the ledger of this process had encoded (replays included).
    assert memo.misses == 0 and memo.hits >= 40
    assert len(handed.topic("usage").records()) == 40


def test_the_sink_gets_the_rollups_events_and_writes_the_same_rows() -> None:
    memo = DecodedEvents()
    pipe = _pipeline_with_memo(memo)
    records = _usage_records(pipe)
    assert len(records) == 40 and len(memo) == 40
    hits, misses = memo.hits, memo.misses
    mine = [(r.offset, USAGE.decode(r)) for r in records]
    handed = [(r.offset, usage_dataset(memo).decode(r)) for r in records]
    assert (memo.hits - hits, memo.misses - misses) == (40, 0) and len(memo) == 0
    assert handed == mine
    for partition in {r.partition for r in records}:
        ours = [pair for pair, r in zip(handed, records, strict=True) if r.partition == partition]
        theirs = [pair for pair, r in zip(mine, records, strict=True) if r.partition == partition]
        assert USAGE.to_table(partition, ours).equals(USAGE.to_table(partition, theirs))
    # Read again (a sink restarted from its committed offset): decoded, the same events.
    again = [(r.offset, usage_dataset(memo).decode(r)) for r in records]
    assert again == mine and memo.misses == misses + 40


def test_a_miss_decodes_and_a_bad_record_still_fails() -> None:
    pipe = _pipeline_with_memo(DecodedEvents())
    (record, *_) = _usage_records(pipe)
    empty = DecodedEvents()
    assert empty.take(record.value) == UsageEvent.from_json(record.value)  # type: ignore[arg-type]
    with pytest.raises(SchemaError):
        empty.take(b"{not json")
    changed = orjson.loads(record.value)  # type: ignore[arg-type]
    changed["output_tokens"] += 1
    assert empty.take(orjson.dumps(changed)).tokens.output_tokens == changed["output_tokens"]


def test_the_oldest_events_are_evicted_beyond_the_bound() -> None:
    pipe = _pipeline_with_memo(DecodedEvents())
    records = _usage_records(pipe)
    memo = DecodedEvents(max_events=5)
    events = [UsageEvent.from_json(r.value) for r in records[:8]]  # type: ignore[arg-type]
    for r, e in zip(records[:8], events, strict=True):
        memo.put(r.value, e)  # type: ignore[arg-type]
    assert len(memo) == 5
    assert memo.take(records[7].value) is events[7]  # type: ignore[arg-type]
    assert memo.take(records[0].value) is not events[0]  # evicted: decoded again
    assert memo.take(records[0].value) == events[0]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        DecodedEvents(max_events=0)


def _events() -> list[UsageEvent]:
    pipe = _pipeline_with_memo(None)
    return [UsageEvent.from_json(r.value) for r in pipe.topic("usage").records() if r.value]


def test_an_event_that_round_trips_is_what_decoding_its_json_builds() -> None:
    decoded = _events()
    assert decoded and all(round_trips(e) for e in decoded)
    variants = []
    for event in decoded[:5]:
        variants += [
            event,
            replace(event, labels={"team": "a"}, agent_id="agent-1", model="claude-opus-4-5"),
            replace(event, cost_split=None),
            replace(event, event_time=event.event_time.astimezone(timezone(timedelta(hours=2)))),
            replace(event, event_time=event.event_time.replace(tzinfo=ZoneInfo("UTC"))),
            replace(event, event_time=event.event_time.replace(fold=1)),
            replace(event, source_watermark=None),
            replace(event, cost_usd=Decimal(event.cost_usd).normalize() + Decimal("0.5"), cost_split=None),
            replace(event, labels=MappingProxyType({"team": "a"})),
            replace(event, lineage=("root",)),
        ]
    seen = {True: 0, False: 0}
    for event in variants:
        again = UsageEvent.from_json(event.to_json())
        exact = repr(again) == repr(event) and [type(getattr(again, f.name)) for f in fields(again)] == [
            type(getattr(event, f.name)) for f in fields(event)
        ]
        if round_trips(event):
            assert exact, event
        seen[round_trips(event)] += 1
    assert seen[True] >= 20 and seen[False] >= 20  # both kinds were tried


def test_only_an_event_that_round_trips_is_remembered_for_its_json() -> None:
    event = _events()[0]
    memo = DecodedEvents()
    memo.put_encoded(event.to_json(), event)
    shifted = replace(event, event_time=event.event_time.astimezone(timezone(timedelta(hours=2))))
    memo.put_encoded(shifted.to_json(), shifted)
    assert len(memo) == 1 and memo.take(event.to_json()) is event
